"""Habits of the public API: every module says what it exports, every public function is typed."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from .test_doctests import MODULES  # every installed module of descent

ROOT = Path(__file__).resolve().parents[1]


def _public_functions(tree: ast.Module):
    """Top-level public functions and public methods of public classes (not nested helpers)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node.name, node
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (not item.name.startswith("_") or item.name == "__init__"):
                    yield f"{node.name}.{item.name}", item


@pytest.mark.parametrize("name", MODULES)
def test_every_public_function_is_typed(name):
    module = importlib.import_module(name)
    source = inspect.getsource(module)
    untyped = []
    for qual, fn in _public_functions(ast.parse(source)):
        args = [a for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs if a.arg not in ("self", "cls")]
        missing = [a.arg for a in args if a.annotation is None]
        if fn.args.vararg is not None and fn.args.vararg.annotation is None:
            missing.append("*" + fn.args.vararg.arg)
        if fn.args.kwarg is not None and fn.args.kwarg.annotation is None:
            missing.append("**" + fn.args.kwarg.arg)
        if fn.returns is None and fn.name != "__init__":
            missing.append("return")
        if missing:
            untyped.append(f"{qual}: {', '.join(missing)}")
    assert not untyped, f"{name}: untyped " + "; ".join(untyped)


@pytest.mark.parametrize("name", [m for m in MODULES if not m.endswith("__main__")])
def test_every_module_says_what_it_exports(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names {item!r}, which it lacks"
