"""Every example in the docstrings of the installed ``descent`` package runs and shows what it says.

One test per module, so a failure names the module. Examples that would render video are marked
``# doctest: +SKIP`` where they stand; no example may depend on global state (Manim scenes reseed numpy's RNG).
"""

from __future__ import annotations

import ast
import doctest
import importlib
import io
import pkgutil
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def not_installed() -> set[str]:
    """setup.py's ``NOT_INSTALLED``: modules of the repository the wheel leaves out (the benchmark)."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "NOT_INSTALLED" for t in node.targets):
            return {f"{package}.{module}" for package, module in ast.literal_eval(node.value)}
    raise AssertionError("setup.py no longer defines NOT_INSTALLED")


def installed_modules() -> list[str]:
    """Every module of ``descent`` as the wheel installs it, except ``__main__`` (importing it runs the CLI).

    pkgutil walks ``descent`` from its folder. An editable install maps descent.trainer, descent.scenes and
    descent.cli from other folders of the repository, which a walk of descent/ cannot see, so every package
    pyproject.toml declares is walked too (tests/test_wheel.py checks this list against the wheel's contents).
    """
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    names: set[str] = set()
    for package in ["descent", *declared]:
        names.add(package)
        path = importlib.import_module(package).__path__
        names.update(info.name for info in pkgutil.walk_packages(path, f"{package}."))
    return sorted(name for name in names - not_installed() if name.rpartition(".")[2] != "__main__")


MODULES = installed_modules()


def test_the_walk_reaches_every_layer():
    layers = {"descent.batch", "descent.trainer.train", "descent.scenes.fit", "descent.scenes.panels.data"}
    assert layers | {"descent.cli.main", "descent.outputs.clip", "descent.publish.video"} <= set(MODULES)
    assert "descent.cli.bench" not in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str):
    module = importlib.import_module(name)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.write)
    assert runner.failures == 0, f"{name}: {runner.failures} of {runner.tries} examples failed\n{report.getvalue()}"
