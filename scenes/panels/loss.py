"""The loss curve: loss against step, on a log scale when it spans decades."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from manim import (
    LEFT,
    UP,
    DashedLine,
    Dot,
    Line,
    VGroup,
    VMobject,
    config,
)

from descent.trainer import nice_step

from ..helpers import (
    State,
    fmt_num,
    fmt_pow10,
    log_ticks,
    thin_series,
    up_to,
)
from .base import Box, Context, Panel, Run, loss_spans_decades
from .draw import (
    AffineMap,
    dots_mobject,
    dots_points,
    label,
    plot_axes,
    plot_frame,
    tick_labels,
    ticks_between,
)

__all__ = ["LossPanel"]


# -- loss curve ------------------------------------------------------------------
class LossPanel(Panel):
    """Loss against step (log scale when it spans decades), with the current step marked."""

    def __init__(self, ctx: Context, box: Box, runs: Sequence[Run] | None = None) -> None:
        super().__init__(ctx)
        _t, th = ctx.trace, ctx.theme
        self.runs = list(runs) if runs else [ctx.main_run()]
        all_loss = np.concatenate([r.trace.loss for r in self.runs])
        l_opt = min(r.trace.optimum[2] for r in self.runs)
        self.log = ctx.log_loss if not runs else loss_spans_decades(all_loss, l_opt)
        k_max = max(r.trace.config.steps for r in self.runs)
        if self.log:
            hi = float(all_loss.max())
            positive = [v for v in (float(all_loss.min()), l_opt) if v > 0]
            # a perfect fit has L* = 0, which a log axis cannot show: start at the smallest loss
            lo = max(min(positive) if positive else hi * 1e-6, hi * 1e-30)
            ticks = log_ticks(lo, hi)
            self.y_range = (math.log10(ticks[0]), math.log10(max(ticks[-1], hi)))
            y_ticks = [math.log10(v) for v in ticks]
            fy = lambda v: fmt_pow10(10**v)  # noqa: E731
        else:
            hi = float(all_loss.max()) * 1.05
            if not hi > 1e-100:  # a run that starts at a perfect fit: loss 0 throughout, still an axis
                hi = 1.0 if hi <= 0 else 1e-100
            step = nice_step(hi, 3)
            self.y_range = (0.0, math.ceil(hi / step) * step)
            y_ticks = ticks_between(*self.y_range, step)
            fy = lambda v: fmt_num(v, 3)  # noqa: E731
        sx = nice_step(k_max, 5)
        sx = max(1.0, round(sx))
        self.x_range = (0.0, float(k_max))
        aw, ah = box.width - 0.95, box.height - 0.75
        ax = plot_axes([*self.x_range, sx], [*self.y_range, 1], aw, ah, th, [box.x + 0.4, box.y + 0.2, 0])
        self.axes = ax
        self.map = AffineMap(ax)
        # a long run's curve is drawn through the lowest and highest loss of each sliver of a pixel
        pixel = config.frame_width / config.pixel_width
        self._kept = [
            thin_series(*self.map(np.arange(r.trace.n_states, dtype=float), self._y(r.trace.loss))[:, :2].T, pixel / 3)
            for r in self.runs
        ]
        frame = plot_frame(ax, th)
        grid = VGroup(*[Line(ax.c2p(0, v), ax.c2p(k_max, v), stroke_width=1, color=th.grid) for v in y_ticks])
        ticks = tick_labels(
            ax, ticks_between(0, k_max, sx), y_ticks, th, th.sizes.tick_small, fx=lambda v: f"{v:.0f}", fy=fy
        )
        # the x axis is the step: said in the title, so no label crowds the last tick
        title = label(
            "loss (mean squared error) by step" + ("  ·  log scale" if self.log else ""),
            th,
            th.sizes.loss_title,
            th.muted,
        )
        title.next_to(ax.c2p(0, self.y_range[1]), UP, buff=0.08, aligned_edge=LEFT)
        self.static.add(grid, frame, ticks, title)
        if len(self.runs) == 1:
            opt_y = self._y(l_opt)
            if self.y_range[0] <= opt_y <= self.y_range[1]:
                opt = DashedLine(
                    ax.c2p(0, opt_y), ax.c2p(k_max, opt_y), dash_length=0.08, color=th.optimum, stroke_width=2
                )
                opt_l = label(f"L* = {fmt_num(l_opt, 3)}", th, th.sizes.note, th.optimum)
                opt_l.next_to(ax.c2p(k_max, opt_y), UP + LEFT, buff=0.06)
                self.static.add(opt, opt_l)
        self.curves = VGroup()  # the curve up to the last state passed (stepwise)
        self.markers = VGroup()
        self.live = VGroup()  # its last piece, up to the current point (dynamic)
        self.heads = VGroup()
        for col in (r.colour for r in self.runs):
            self.curves.add(VMobject(stroke_color=col, stroke_width=3.5))
            self.markers.add(dots_mobject([], 0.032, col))
            self.live.add(VMobject(stroke_color=col, stroke_width=3.5))
            self.heads.add(Dot(radius=0.07, color=col, stroke_color=th.run_outline, stroke_width=2))
        self.stepwise.add(self.curves, self.markers)
        self.dynamic.add(self.live, self.heads)

    def _y(self, loss):
        return np.log10(np.maximum(loss, 1e-300)) if self.log else loss

    def point_of(self, state: State) -> np.ndarray:
        return self.map.point(state.kf, float(self._y(state.loss)))

    def show_step(self, states: Sequence[State]) -> None:
        for i, (run, st) in enumerate(zip(self.runs, states, strict=False)):
            trace = run.trace
            k0 = int(math.floor(st.kf))
            ks = up_to(self._kept[i], k0)
            pts = self.map(ks.astype(float), self._y(trace.loss[ks]))
            if len(pts) >= 2:
                self.curves[i].set_points_as_corners(pts)
            else:
                self.curves[i].points = np.zeros((0, 3))
            self.markers[i].points = dots_points(pts if trace.n_states <= 120 else [], 0.032)

    def show(self, states: Sequence[State]) -> None:
        for i, (run, st) in enumerate(zip(self.runs, states, strict=False)):
            trace = run.trace
            k0 = int(math.floor(st.kf))
            end = self.point_of(st)
            start = self.map.point(float(k0), float(self._y(trace.loss[k0])))
            if np.allclose(start, end):
                self.live[i].points = np.zeros((0, 3))
            else:
                self.live[i].set_points_as_corners([start, end])
            self.heads[i].move_to(end)
