"""The optional layers a scene can be asked to show (``descent render fit --show residuals,gradient``).

Names only, no Manim: the command line reads this module to check ``--show``
before anything heavy is imported. The layers themselves are the panels
:class:`~descent.scenes.panels.residuals.Residuals` and
:class:`~descent.scenes.panels.gradient.GradientArrow`.

Examples
--------
>>> from descent.scenes.show import SHOW_OPTIONS, parse_show
>>> SHOW_OPTIONS
('residuals', 'gradient')
>>> parse_show("gradient, residuals,gradient")
('gradient', 'residuals')
>>> try:
...     parse_show("residual")
... except ValueError as e:
...     print(e)
unknown layer 'residual' (choose from residuals, gradient)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SHOW_OPTIONS", "parse_show", "valid_show"]

#: The layers ``show`` may name: the residuals in data space, the gradient arrow in parameter space.
SHOW_OPTIONS: tuple[str, ...] = ("residuals", "gradient")


def parse_show(value: str | Iterable[str]) -> tuple[str, ...]:
    """The layers named by ``"a,b"`` (or an iterable of names), in order, each once.

    Parameters
    ----------
    value
        Comma-separated names, or the names themselves.

    Returns
    -------
    tuple of str
        Names from :data:`SHOW_OPTIONS`.

    Raises
    ------
    ValueError
        For a name that is not a layer (the message names the choices), or for no name at all.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(item).strip() for item in items]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"name at least one layer ({', '.join(SHOW_OPTIONS)})")
    for n in names:
        if n not in SHOW_OPTIONS:
            raise ValueError(f"unknown layer {n!r} (choose from {', '.join(SHOW_OPTIONS)})")
    return tuple(dict.fromkeys(names))


def valid_show(value: object) -> bool:
    """Whether ``value`` is a valid ``show`` scene parameter: a tuple or list of distinct layer names."""
    return (
        isinstance(value, (tuple, list))
        and all(isinstance(v, str) and v in SHOW_OPTIONS for v in value)
        and len(set(value)) == len(value)
    )
