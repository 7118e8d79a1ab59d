"""Drawing primitives shared by the panels: text, numbers, dots, polylines, plot areas and ticks.

Module-level caches (a unit dot, a glyph set per number style) live here and only here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from manim import (
    DOWN,
    LEFT,
    ORIGIN,
    Axes,
    Dot,
    Mobject,
    RoundedRectangle,
    Text,
    VGroup,
    VMobject,
)
from numpy.typing import ArrayLike

from descent.trainer import nice_step

from ..glyphs import GlyphSet
from ..helpers import (
    fmt_num,
)
from ..theme import Theme

__all__ = [
    "MINUS",
    "label",
    "AffineMap",
    "dots_points",
    "dots_mobject",
    "polyline_points",
    "plot_axes",
    "tick_labels",
    "number_label",
    "plot_frame",
    "ticks_between",
    "boxed",
    "NUMBER_ALPHABET",
]


MINUS = "\u2212"


def label(text: str, theme: Theme, size: float = 22, color: str | None = None, weight: str = "NORMAL") -> Text:
    """Text in the theme's font (no LaTeX anywhere in descent)."""
    return Text(text, font=theme.font, font_size=size, color=color or theme.text, weight=weight)


class AffineMap:
    """Vectorised ``axes.c2p`` for linear axes (one matrix product per frame, not a Python loop)."""

    def __init__(self, axes: Axes) -> None:
        o = np.array(axes.c2p(0, 0))
        self.origin = o
        self.ex = np.array(axes.c2p(1, 0)) - o
        self.ey = np.array(axes.c2p(0, 1)) - o

    def __call__(self, xs, ys) -> np.ndarray:
        xs = np.atleast_1d(np.asarray(xs, dtype=float))
        ys = np.atleast_1d(np.asarray(ys, dtype=float))
        return self.origin + xs[:, None] * self.ex + ys[:, None] * self.ey

    def point(self, x: float, y: float) -> np.ndarray:
        return self.origin + x * self.ex + y * self.ey


_UNIT_DOT = None


def dots_points(centres: ArrayLike, radius: float) -> np.ndarray:
    """Bezier points of many circles, one subpath each."""
    global _UNIT_DOT
    if _UNIT_DOT is None:
        _UNIT_DOT = Dot(ORIGIN, radius=1.0).points.copy()
    centres = np.asarray(centres, dtype=float).reshape(-1, 3)
    if not len(centres):
        return np.zeros((0, 3))
    return (_UNIT_DOT[None, :, :] * radius + centres[:, None, :]).reshape(-1, 3)


def dots_mobject(
    centres: ArrayLike, radius: float, color: str, outline: str | None = None, outline_width: float = 0.0
) -> VMobject:
    """Many dots as one VMobject (one circular subpath each): one draw call instead of many."""
    mob = VMobject(
        fill_color=color, fill_opacity=1.0, stroke_color=outline or color, stroke_width=outline_width if outline else 0
    )
    mob.points = dots_points(centres, radius)
    return mob


def polyline_points(runs: Sequence[np.ndarray]) -> np.ndarray:
    """Bezier points of several polylines as separate subpaths of one VMobject."""
    parts = []
    for run in runs:
        run = np.asarray(run, dtype=float)
        if len(run) < 2:
            continue
        a, b = run[:-1], run[1:]
        # straight cubic pieces: anchors with handles at thirds, as set_points_as_corners makes
        quads = np.stack([a, a + (b - a) / 3, a + 2 * (b - a) / 3, b], axis=1)
        parts.append(quads.reshape(-1, 3))
    return np.concatenate(parts) if parts else np.zeros((0, 3))


def plot_axes(
    x_range: Sequence[float], y_range: Sequence[float], box_w: float, box_h: float, theme: Theme, centre: ArrayLike
) -> Axes:
    """A plot area: axes for the coordinates, placed at ``centre``, with their own lines
    hidden (each panel draws a light frame and grid instead of crossing axes)."""
    x_range, x_ticks = _hidden_ticks(x_range, box_w)
    y_range, y_ticks = _hidden_ticks(y_range, box_h)
    ax = Axes(
        x_range=x_range,
        y_range=y_range,
        x_length=box_w,
        y_length=box_h,
        tips=False,
        axis_config={"color": theme.axis, "stroke_width": 2, "include_ticks": True, "tick_size": 0.05},
        x_axis_config={"include_ticks": x_ticks},
        y_axis_config={"include_ticks": y_ticks},
    )
    ax.move_to(centre)
    ax.x_axis.set_opacity(0)
    ax.y_axis.set_opacity(0)
    return ax


def _hidden_ticks(axis_range, length: float, most: int = 100) -> tuple[list[float], bool]:
    """An axis's ``[lo, hi, step]`` and whether Manim should make its (hidden) tick marks.

    Manim pads an axis's tick range by 1e-6 in absolute terms: over a tiny range (x
    from 0 to 1e-10) it would build millions of tick marks, far outside the range
    (where they would move the whole panel, since a panel is placed by its bounding
    box). Such an axis gets none; any other gets a step that makes at most ``most``.
    The marks are never visible, so nothing on screen changes.
    """
    lo, hi, step = (float(v) for v in axis_range)
    if 1e-6 * length / (hi - lo) > 1e-3:  # the pad would show: 1/1000 of a unit or more
        return [lo, hi, step], False
    reach = hi - lo + 2e-6
    return [lo, hi, step if reach / step <= most else reach / most], True


def tick_labels(
    axes: Axes,
    xs: Sequence[float],
    ys: Sequence[float],
    theme: Theme,
    size: float,
    fx: Callable[[float], str] = fmt_num,
    fy: Callable[[float], str] = fmt_num,
    x_at: float | None = None,
    y_at: float | None = None,
) -> VGroup:
    """Tick labels along the bottom and left edges of the axes box."""
    x0 = axes.x_range[0] if y_at is None else y_at
    y0 = axes.y_range[0] if x_at is None else x_at
    out = VGroup()
    for v in xs:
        out.add(number_label(fx(v), theme, size).next_to(axes.c2p(v, y0), DOWN, buff=theme.margins.tick))
    for v in ys:
        out.add(number_label(fy(v), theme, size).next_to(axes.c2p(x0, v), LEFT, buff=theme.margins.tick))
    return out


_NUMBER_GLYPHS: dict[tuple, GlyphSet] = {}
NUMBER_ALPHABET = "0123456789.,−-+e×⁰¹²³⁴⁵⁶⁷⁸⁹⁻ "


def number_label(text: str, theme: Theme, size: float, color: str | None = None) -> VMobject:
    """A tick label built from cached glyphs (one Pango call per style, not per label)."""
    if any(c not in NUMBER_ALPHABET for c in text):
        return label(text, theme, size, color or theme.muted)
    key = (theme.font, size, color or theme.muted)
    if key not in _NUMBER_GLYPHS:
        _NUMBER_GLYPHS[key] = GlyphSet(NUMBER_ALPHABET, font=theme.font, size=size, color=key[2])
    return _NUMBER_GLYPHS[key].text(text)


def plot_frame(axes: Axes, theme: Theme) -> VGroup:
    """A light box and faint grid behind an axes area, instead of crossing axes."""
    lo = axes.c2p(axes.x_range[0], axes.y_range[0])
    hi = axes.c2p(axes.x_range[1], axes.y_range[1])
    rect = VMobject(stroke_color=theme.axis, stroke_width=1.5)
    rect.set_points_as_corners([lo, [hi[0], lo[1], 0], hi, [lo[0], hi[1], 0], lo])
    return VGroup(rect)


#: The most ticks one axis gets, whatever step it is asked for.
MAX_TICKS = 50


def ticks_between(lo: float, hi: float, step: float) -> list[float]:
    """Multiples of ``step`` in [lo, hi], free of float noise; a step too fine for the range is coarsened."""
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    if last - first > MAX_TICKS:
        step = nice_step(hi - lo, 6)
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    # round to 10 decimals (or more, for a step finer than 1e-4), so a tick is 0.3, not 0.30000000000000004
    digits = max(10, 6 - math.floor(math.log10(step)))
    return [round(i * step, digits) for i in range(first, last + 1)]


def boxed(text: Mobject, fill: str, opacity: float, pad: tuple[float, float], radius: float) -> VGroup:
    """``text`` on a rounded box ``pad`` (x, y) larger than it: ``VGroup(box, text)``, centred on the box."""
    bg = RoundedRectangle(
        corner_radius=radius,
        width=text.width + pad[0],
        height=text.height + pad[1],
        fill_color=fill,
        fill_opacity=opacity,
        stroke_width=0,
    )
    return VGroup(bg, text.move_to(bg))
