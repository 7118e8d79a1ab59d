"""Shared fixtures: traces and one rendered lab clip reused by several tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from descent.trainer import Config, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Keep ``xdist_group`` working: pytest-xdist 3.8 marks a test's group by setting ``item._nodeid``
    to ``<id>@<group>``, which pytest 9.2 no longer reads (its ``nodeid`` comes from ``item._id``), so
    ``--dist loadgroup`` spread grouped tests over every worker and built their shared renders twice."""
    result = yield
    for item in items:
        grouped = item.__dict__.get("_nodeid")
        if grouped and grouped != item.nodeid:
            item._id = grouped
    return result


@pytest.fixture(scope="session", autouse=True)
def private_manim_media(tmp_path_factory):
    """Scenes built outside ``render`` write Text SVGs to Manim's media dir: one per test process,
    so parallel test workers never read each other's half-written files."""
    from manim import config

    old = config.media_dir
    config.media_dir = str(tmp_path_factory.mktemp("manim-media"))
    yield
    config.media_dir = old


@pytest.fixture(scope="session")
def lab_trace():
    return train(Config())


@pytest.fixture(scope="session")
def lab_clip(tmp_path_factory, lab_trace):
    """The lab-default FitScene rendered once at 480p15 (dark theme)."""
    from descent.outputs.clip import render

    out = tmp_path_factory.mktemp("lab_clip")
    return render(lab_trace, "fit", quality="l", out_dir=out, progress=False)


def update_snapshots() -> bool:
    return os.environ.get("DESCENT_UPDATE_SNAPSHOTS") == "1"


def build_scene(scene_cls, trace, **params):
    """A scene set up for ``trace`` with its tracker attached, without rendering: (scene, driver group)."""
    cls = type("Probe", (scene_cls,), {"trace": trace, **params})
    scene = cls()
    scene.setup()
    return scene, scene.driver.attach(scene.tracker)
