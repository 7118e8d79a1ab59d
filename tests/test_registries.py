"""One table of scenes and one of optimizers drive everything that lists or uses them."""

from __future__ import annotations

import click
import pytest

import descent
from descent.cli.main import cli
from descent.scenes import SCENES, SceneSpec
from descent.trainer import OPTIMIZERS, Config, ConfigError, OptimizerSpec, train


def _choices(command: str, param: str) -> list[str]:
    cmd = cli.commands[command]
    (p,) = [p for p in cmd.params if p.name == param]
    assert isinstance(p.type, click.Choice)
    return list(p.type.choices)


def test_the_command_line_offers_what_the_tables_hold():
    assert _choices("render", "scene") == list(SCENES)
    assert _choices("batch", "scene") == [n for n, s in SCENES.items() if not s.many_runs]
    assert _choices("train", "optimizer") == list(OPTIMIZERS)
    assert descent.SCENES is SCENES and descent.OPTIMIZERS is OPTIMIZERS


def test_every_registered_scene_loads_its_class():
    from descent.scenes.base import DescentScene

    for name, spec in SCENES.items():
        cls = spec.load()
        assert issubclass(cls, DescentScene), name


def test_a_new_optimizer_is_one_entry(monkeypatch):
    import torch

    def rmsprop(config, params):
        return torch.optim.RMSprop(params, lr=config.lr)

    with pytest.raises(ConfigError, match="rmsprop"):
        Config(optimizer="rmsprop").validate()
    monkeypatch.setitem(OPTIMIZERS, "rmsprop", OptimizerSpec("rmsprop", rmsprop, lambda c: "RMSprop"))
    trace = train(Config(optimizer="rmsprop", lr=0.5, steps=5))
    # an independent RMSprop step from the same start moves w the same way
    w = torch.tensor(-15.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-10.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RMSprop([w, b], lr=0.5)
    x = torch.tensor(trace.x)
    y = torch.tensor(trace.y)
    ((w * x + b - y) ** 2).mean().backward()
    opt.step()
    assert trace.w[1] == pytest.approx(w.item(), rel=1e-12)

    from descent.scenes.panels import Box, Context, Header

    header = Header(Context.for_trace(trace), Box(0, 3.4, 13.7, 0.95))
    assert header.subtitle().startswith("RMSprop · lr = 0.5")


def test_a_new_scene_is_one_entry(monkeypatch, tmp_path):
    """A scene registered at run time renders through the same API as the built-in ones."""
    monkeypatch.setitem(SCENES, "fit2", SceneSpec("fit2", "descent.scenes.fit:FitScene", False, "the fit scene again"))
    res = descent.render(
        train(Config(steps=2)),
        "fit2",
        quality="l",
        fps=10,
        out_dir=tmp_path,
        progress=False,
        scene_options={"descent_seconds": 0.5, "intro_seconds": 0.2, "hold_seconds": 0.2},
    )
    assert res.mp4.name.startswith("fit2_") and res.frames == 9


def test_unknown_scene_names_the_choices():
    with pytest.raises(descent.RenderError, match="choose from fit, surface, compare"):
        descent.render(train(Config(steps=2)), "nope", progress=False)


def test_divergence_reason_is_a_code_and_the_sentence_is_built_from_it():
    from descent.trainer import DIVERGENCE_REASONS

    t = train(Config(lr=0.5, steps=60))
    assert t.diverged_reason in DIVERGENCE_REASONS
    assert t.divergence_text == DIVERGENCE_REASONS[t.diverged_reason]
