"""The version of descent, in one place: the installed distribution's metadata."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__", "versions"]

try:
    __version__ = version("descent")
except PackageNotFoundError:  # pragma: no cover - a bare checkout that was never installed
    __version__ = "0+unknown"


def versions() -> dict[str, str]:
    """The versions of descent and of what shapes its output (manim, torch, numpy, av)."""
    out = {"descent": __version__}
    for pkg in ("manim", "torch", "numpy", "av"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[pkg] = "unknown"
    return out
