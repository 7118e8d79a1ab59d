"""Data space: the noisy points, the true line and the fitted line ŷ = w·x + b."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import (
    DOWN,
    LEFT,
    ORIGIN,
    RIGHT,
    UL,
    UP,
    DashedLine,
    Dot,
    Line,
    VGroup,
)

from descent.trainer import nice_step

from ..helpers import (
    MAX_DRAWN,
    State,
    clip_segment,
    fmt_num,
    sample_indices,
)
from .base import Box, Context, Panel, Run
from .draw import (
    MINUS,
    AffineMap,
    dots_mobject,
    label,
    plot_axes,
    plot_frame,
    tick_labels,
    ticks_between,
)

__all__ = ["DataPanel"]


def _count(n: int) -> str:
    """A count with thin groups of three digits: 200 000."""
    return f"{n:,}".replace(",", "\u2009")


# -- data space ------------------------------------------------------------------
class DataPanel(Panel):
    """The noisy points, the true line f (dashed) and the fitted line ŷ = w·x + b."""

    def __init__(self, ctx: Context, box: Box, runs: Sequence[Run] | None = None, *, fits_in_view: bool = True) -> None:
        super().__init__(ctx)
        t, th, c = ctx.trace, ctx.theme, ctx.trace.config
        x, y = t.x, t.y
        xs = float(x.min()), float(x.max())
        pad_x = 0.04 * (xs[1] - xs[0])
        f_lo, f_hi = c.slope * xs[0] + c.bias, c.slope * xs[1] + c.bias
        y_lo = min(float(y.min()), f_lo, f_hi)
        y_hi = max(float(y.max()), f_lo, f_hi)
        span = y_hi - y_lo or 1.0
        # grow the view (by at most 3/4 of the data's span each way) so that a fitted
        # line passing just above or below the points stays in sight (unless no fit is drawn)
        for w, b in zip(t.w, t.b, strict=False) if fits_in_view else ():
            ends = (w * xs[0] + b, w * xs[1] + b)
            if max(ends) < y_lo:
                y_lo = max(min(y_lo, max(ends) - 0.08 * span), y_lo - 0.75 * span)
            elif min(ends) > y_hi:
                y_hi = min(max(y_hi, min(ends) + 0.08 * span), y_hi + 0.75 * span)
        pad_y = 0.12 * (y_hi - y_lo or 1.0)
        sx = nice_step(xs[1] - xs[0] + 2 * pad_x, 6)
        sy = nice_step(y_hi - y_lo + 2 * pad_y, 4)
        self.x_range = (xs[0] - pad_x, xs[1] + pad_x)
        self.y_range = (y_lo - pad_y, y_hi + pad_y)
        aw, ah = box.width - 0.75, box.height - 0.55
        ax = plot_axes([*self.x_range, sx], [*self.y_range, sy], aw, ah, th, [box.x + 0.3, box.y + 0.2, 0])
        self.axes = ax
        self.map = AffineMap(ax)
        frame = plot_frame(ax, th)
        grid = VGroup()
        for v in ticks_between(*self.x_range, sx):
            grid.add(Line(ax.c2p(v, self.y_range[0]), ax.c2p(v, self.y_range[1]), stroke_width=1, color=th.grid))
        for v in ticks_between(*self.y_range, sy):
            grid.add(Line(ax.c2p(self.x_range[0], v), ax.c2p(self.x_range[1], v), stroke_width=1, color=th.grid))
        ticks = tick_labels(ax, ticks_between(*self.x_range, sx), ticks_between(*self.y_range, sy), th, th.sizes.tick)
        # the axis' name at the right end of its own tick row (not past the corner, by the next panel)
        xl = label("x", th, th.sizes.axis, th.muted)
        row = [m for m in ticks if abs(m.get_center()[1] - ticks[0].get_center()[1]) < 1e-6] if len(ticks) else []
        right = ax.c2p(self.x_range[1], self.y_range[0])[0]
        xl.move_to([right - xl.width / 2 - 0.02, row[0].get_center()[1] if row else ax.get_bottom()[1] - 0.25, 0])
        if row and xl.get_left()[0] < max(m.get_right()[0] for m in row) + 0.15:
            xl.next_to(row[-1], DOWN, buff=0.04).align_to([right - 0.02, 0, 0], RIGHT)  # no room: under the ticks
        yl = label("y", th, th.sizes.axis, th.muted).next_to(ax.c2p(self.x_range[0], self.y_range[1]), UL, buff=0.08)
        # a huge data set is drawn as a seeded sample (the legend says so): a bounded cost
        self.shown = sample_indices(x.size, MAX_DRAWN, seed=c.seed)
        pts = self.map(x[self.shown], y[self.shown])
        dots = VGroup(*[Dot(p, radius=0.042, color=th.points, fill_opacity=0.9) for p in pts])
        truth = self._clipped_line(c.slope, c.bias)
        true_line = DashedLine(truth[0], truth[1], dash_length=0.12, color=th.truth, stroke_width=2.5)
        legend = self._legend(runs)
        # the parts by name, for scenes that build the panel up beat by beat (the lesson)
        self.grid, self.frame, self.ticks, self.axis_labels = grid, frame, ticks, VGroup(xl, yl)
        self.true_line, self.dots, self.legend = true_line, dots, legend
        self.static.add(grid, frame, ticks, xl, yl, true_line, legend)
        self.runs = list(runs) if runs else [ctx.main_run()]
        self.lines = VGroup(
            *[
                Line(ORIGIN, RIGHT, color=col, stroke_width=4.5).set_background_stroke(color=th.run_outline, width=8)
                for col in (r.colour for r in self.runs)
            ]
        )
        # the points over the fitted lines (a line must never hide the data it fits), each ringed in the
        # background colour so it reads on a line of any colour; one path for all of them: one fill a frame
        self.point_layer = dots_mobject(pts, 0.042, th.points, th.run_outline, 1.2)
        self.dynamic.add(self.lines, self.point_layer)

    def _legend(self, runs) -> VGroup:
        th, c = self.ctx.theme, self.ctx.trace.config
        ax = self.axes
        items = VGroup()
        dot = Dot(radius=0.05, color=th.points)
        n = self.ctx.trace.x.size
        data = "data" if len(self.shown) == n else f"data ({_count(len(self.shown))} of {_count(n)} shown)"
        data_label = label(data, th, th.sizes.legend, th.muted)
        extra = data_label.width - label("data", th, th.sizes.legend, th.muted).width if data != "data" else 0.0
        items.add(VGroup(dot, data_label.next_to(dot, RIGHT, buff=0.1)))
        dash = DashedLine(ORIGIN, RIGHT * 0.4, dash_length=0.08, color=th.truth, stroke_width=2.5)
        items.add(
            VGroup(
                dash,
                label(
                    f"true f(x) = {fmt_num(c.slope)}x {'+' if c.bias >= 0 else MINUS} {fmt_num(abs(c.bias))}",
                    th,
                    18,
                    th.muted,
                ).next_to(dash, RIGHT, buff=0.1),
            )
        )
        if not runs:
            fit = Line(ORIGIN, RIGHT * 0.4, color=th.run, stroke_width=4)
            items.add(
                VGroup(fit, label("fit ŷ = w·x + b", th, th.sizes.legend, th.muted).next_to(fit, RIGHT, buff=0.1))
            )
        items.arrange(RIGHT, buff=0.3)
        if extra > 0:  # the longer data label: the legend keeps the width it has with "data" alone
            items.scale_to_fit_width(items.width - extra)
        items.next_to(ax.c2p(self.x_range[0], self.y_range[1]), UP, buff=0.1, aligned_edge=LEFT)
        # clear of the y axis' name (above the axis' top left), the right end where it was
        right = items.get_right()[0]
        items.scale((items.width - 0.3) / items.width, about_edge=RIGHT)
        items.shift(RIGHT * (right - items.get_right()[0]))
        return items

    def _clipped_line(self, w: float, b: float) -> tuple[np.ndarray, np.ndarray] | None:
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        seg = clip_segment((x0, w * x0 + b), (x1, w * x1 + b), (x0, y0), (x1, y1))
        if seg is None:
            return None
        a, z, _, _ = seg
        return self.map.point(*a), self.map.point(*z)

    def line_endpoints(self, w: float, b: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Screen endpoints of ŷ = w·x + b clipped to the panel (None when it misses)."""
        return self._clipped_line(w, b)

    def show(self, states: Sequence[State]) -> None:
        for line, st in zip(self.lines, states, strict=False):
            ends = self._clipped_line(st.w, st.b)
            if ends is None:
                line.set_stroke(opacity=0).set_background_stroke(opacity=0)
            else:
                if np.linalg.norm(ends[1] - ends[0]) > 1e-9:
                    line.set_points_as_corners([ends[0], ends[1]])  # exact: the same state, the same pixels
                line.set_stroke(opacity=1).set_background_stroke(opacity=1)
