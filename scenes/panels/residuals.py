"""Residuals: a segment from each drawn point to the fitted line, for the current state.

The residual of point i is y_i − ŷ_i with ŷ_i = w·x_i + b: drawn as the vertical
segment from (x_i, y_i) to (x_i, ŷ_i), clipped to the data panel's view. The
segments are in the dynamic layer (they follow the line every frame); the points
are in the data panel's static layer, under them, so each segment stops a dot's
radius short of its point and the points stay readable.

Examples
--------
>>> import numpy as np
>>> from descent.scenes.panels.residuals import residual_segments
>>> seg = residual_segments(np.array([0.0, 1.0]), np.array([1.0, 0.0]), 2.0, 0.0, (-1, 2), (-1, 1.5))
>>> seg[0].tolist()  # from (0, 1) down to the line at (0, 0)
[[0.0, 1.0], [0.0, 0.0]]
>>> seg[1].tolist()  # from (1, 0) up to the line at y = 2, cut at the top of the view
[[1.0, 0.0], [1.0, 1.5]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import VMobject
from numpy.typing import ArrayLike

from ..helpers import State
from .base import Context, Panel
from .data import DataPanel

__all__ = ["Residuals", "residual_segments"]

#: The radius DataPanel draws its points with (a segment stops this far, plus a gap, from its point).
POINT_RADIUS = 0.042


def residual_segments(
    x: ArrayLike,
    y: ArrayLike,
    w: float,
    b: float,
    x_range: Sequence[float],
    y_range: Sequence[float],
) -> np.ndarray:
    """The residual segments of ŷ = w·x + b, in data coordinates, clipped to a view.

    Parameters
    ----------
    x, y
        The points (1-D, the same length N).
    w, b
        The line.
    x_range, y_range
        The view: ``(lo, hi)`` in x and in y.

    Returns
    -------
    numpy.ndarray
        Shape ``(N, 2, 2)``: segment i runs from ``[x_i, y_i]`` to ``[x_i, w·x_i + b]``,
        each end moved onto the view's edge where it lies outside; a segment with no
        part in the view (x_i outside, or both ends beyond the same edge) is all NaN.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    (x0, x1), (y0, y1) = (float(v) for v in x_range), (float(v) for v in y_range)
    with np.errstate(over="ignore", invalid="ignore"):
        fit = w * x + b
    out = np.empty((x.size, 2, 2))
    out[:, :, 0] = x[:, None]
    out[:, 0, 1] = np.clip(y, y0, y1)
    out[:, 1, 1] = np.clip(fit, y0, y1)
    hidden = (
        ~np.isfinite(x)
        | ~np.isfinite(y)
        | np.isnan(fit)
        | (x < x0)
        | (x > x1)
        | ((y < y0) & (fit < y0))
        | ((y > y1) & (fit > y1))
    )
    out[hidden] = np.nan
    return out


class Residuals(Panel):
    """The residuals of the current state as thin segments from the data panel's points to the line.

    Parameters
    ----------
    ctx
        The scene's context (its trace's points are drawn).
    data
        The data panel the segments are drawn on: its axes, its view and the points it shows.
    stroke_width
        Width of the segments (Manim stroke units; the fitted line is 4.5).
    """

    def __init__(self, ctx: Context, data: DataPanel, stroke_width: float = 2.2) -> None:
        super().__init__(ctx)
        self.data = data
        idx = data.shown  # a huge data set is drawn as a sample: the same points get segments
        self.x = np.asarray(ctx.trace.x, dtype=float)[idx]
        self.y = np.asarray(ctx.trace.y, dtype=float)[idx]
        self.cut = POINT_RADIUS + 0.025  # where a segment stops short of its point
        self.segments = VMobject(stroke_color=ctx.theme.residual, stroke_width=stroke_width, stroke_opacity=0.95)
        self.segments.set_fill(opacity=0)
        self.dynamic.add(self.segments)
        self.drawn: np.ndarray = np.zeros((0, 2, 3))  # the segments on screen now (start, end)

    def screen_segments(self, w: float, b: float) -> np.ndarray:
        """The drawn segments of ŷ = w·x + b as screen points, shape (M, 2, 3): start (by the point), end.

        A segment that starts at its point starts ``cut`` units along it, off the dot;
        one shorter than that is left out.
        """
        data = self.data
        seg = residual_segments(self.x, self.y, w, b, data.x_range, data.y_range)
        ok = ~np.isnan(seg[:, 0, 0])
        if not ok.any():
            return np.zeros((0, 2, 3))
        seg = seg[ok]
        a = data.map(seg[:, 0, 0], seg[:, 0, 1])
        z = data.map(seg[:, 1, 0], seg[:, 1, 1])
        at_point = seg[:, 0, 1] == self.y[ok]  # not cut at the view's edge: the dot is there
        d = z - a
        length = np.linalg.norm(d, axis=1)
        cut = np.where(at_point, self.cut, 0.0)
        keep = length > cut + 1e-3
        a, d, length, cut = a[keep], d[keep], length[keep], cut[keep]
        a = a + d * (cut / length)[:, None]
        return np.stack([a, a + d * (1 - cut / length)[:, None]], axis=1)

    def show(self, states: Sequence[State]) -> None:
        st = states[0]
        self.drawn = self.screen_segments(st.w, st.b)
        a, z = self.drawn[:, 0], self.drawn[:, 1]
        # straight cubic pieces, one subpath per segment (as set_points_as_corners makes them)
        self.segments.points = np.stack([a, a + (z - a) / 3, a + 2 * (z - a) / 3, z], axis=1).reshape(-1, 3)
