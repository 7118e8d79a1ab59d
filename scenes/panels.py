"""Reusable panels that every scene composes: header, data, contour, loss curve.

Each panel draws its static parts once (``panel.static``) and owns a few
moving mobjects (``panel.dynamic``) that :meth:`Panel.show` sets to a
:class:`~scenes.helpers.State`. A scene adds all static parts first and all
dynamic parts last, and one updater driven by the step tracker calls
``show`` on every panel with the same state, so all panels agree at every
frame (see :class:`StepDriver`).

Examples
--------
>>> from trainer import Config, train
>>> from scenes.panels import Context, DataPanel, Box
>>> ctx = Context.for_trace(train(Config()))
>>> panel = DataPanel(ctx, Box(-3.5, 0.5, 6.0, 4.0))
>>> panel.show(ctx.clock.at(0.0))
>>> len(panel.static) > 0
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from manim import (
    DOWN,
    LEFT,
    ORIGIN,
    RIGHT,
    UP,
    UR,
    Arrow,
    Circle,
    Axes,
    DashedLine,
    Dot,
    Group,
    ImageMobject,
    Line,
    Mobject,
    RoundedRectangle,
    Text,
    VGroup,
    VMobject,
)
from PIL import Image

from trainer import Trace, Window, loss_grid, nice_step

from .helpers import (
    State,
    StepClock,
    clip_polyline,
    clip_segment,
    colour_ramp,
    contour_levels,
    equal_aspect,
    fmt_num,
    fmt_pow10,
    key_steps,
    log_ticks,
)
from .glyphs import GlyphSet
from .theme import Theme, get_theme

__all__ = [
    "Box",
    "Context",
    "Panel",
    "Header",
    "DataPanel",
    "ContourPanel",
    "LossPanel",
    "Banner",
    "StepDriver",
    "label",
    "AffineMap",
]

MINUS = "\u2212"


def label(text: str, theme: Theme, size: float = 22, color: str | None = None, weight: str = "NORMAL") -> Text:
    """Text in the theme's font (no LaTeX anywhere in descent)."""
    return Text(text, font=theme.font, font_size=size, color=color or theme.text, weight=weight)


@dataclass(frozen=True)
class Box:
    """A panel's outer rectangle in scene units: centre (x, y), width, height."""

    x: float
    y: float
    width: float
    height: float

    @property
    def left(self) -> float:
        return self.x - self.width / 2

    @property
    def right(self) -> float:
        return self.x + self.width / 2

    @property
    def top(self) -> float:
        return self.y + self.height / 2

    @property
    def bottom(self) -> float:
        return self.y - self.height / 2


@dataclass
class Context:
    """What every panel of a scene shares: the trace, the theme, the clock."""

    trace: Trace
    theme: Theme
    clock: StepClock
    log_loss: bool

    @classmethod
    def for_trace(cls, trace: Trace, theme: Theme | str = "dark", max_keys: int = 45, hold: float = 0.8) -> "Context":
        theme = get_theme(theme) if isinstance(theme, str) else theme
        log_loss = loss_spans_decades(trace.loss, trace.optimum[2])
        clock = StepClock(trace.w, trace.b, trace.loss, key_steps(trace.last_k, max_keys), log_loss=log_loss, hold=hold)
        return cls(trace, theme, clock, log_loss)


def loss_spans_decades(loss: np.ndarray, l_opt: float = math.inf, decades: float = 2.0) -> bool:
    lo = max(min(float(np.min(loss)), l_opt), 1e-300)
    return float(np.max(loss)) / lo > 10**decades


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


class Panel:
    """A piece of the picture: static parts drawn once, dynamic parts set per frame."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.static = Group()
        self.dynamic = VGroup()

    def show(self, state: State) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def _axes(x_range, y_range, box_w: float, box_h: float, theme: Theme) -> Axes:
    return Axes(
        x_range=x_range,
        y_range=y_range,
        x_length=box_w,
        y_length=box_h,
        tips=False,
        axis_config={"color": theme.axis, "stroke_width": 2, "include_ticks": True, "tick_size": 0.05},
    )


def _tick_labels(axes: Axes, xs: Sequence[float], ys: Sequence[float], theme: Theme, size: float,
                 fx: Callable[[float], str] = fmt_num, fy: Callable[[float], str] = fmt_num,
                 x_at: float | None = None, y_at: float | None = None) -> VGroup:
    """Tick labels along the bottom and left edges of the axes box."""
    x0 = axes.x_range[0] if y_at is None else y_at
    y0 = axes.y_range[0] if x_at is None else x_at
    out = VGroup()
    for v in xs:
        out.add(label(fx(v), theme, size, theme.muted).next_to(axes.c2p(v, y0), DOWN, buff=0.1))
    for v in ys:
        out.add(label(fy(v), theme, size, theme.muted).next_to(axes.c2p(x0, v), LEFT, buff=0.1))
    return out


def _frame(axes: Axes, theme: Theme) -> VGroup:
    """A light box and faint grid behind an axes area, instead of crossing axes."""
    lo = axes.c2p(axes.x_range[0], axes.y_range[0])
    hi = axes.c2p(axes.x_range[1], axes.y_range[1])
    rect = VMobject(stroke_color=theme.axis, stroke_width=1.5)
    rect.set_points_as_corners([lo, [hi[0], lo[1], 0], hi, [lo[0], hi[1], 0], lo])
    return VGroup(rect)


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


# -- header -------------------------------------------------------------------
class Header(Panel):
    """Title, optimizer and lr on the left; the step counter and live w, b, loss on the right."""

    def __init__(self, ctx: Context, box: Box, title: str | None = None, show_values: bool = True) -> None:
        super().__init__(ctx)
        t, c, th = ctx.trace, ctx.trace.config, ctx.theme
        self.box = box
        head = label(title or "Gradient descent fits ŷ = w·x + b", th, 30, th.text, weight="BOLD")
        head.move_to([box.left, box.top, 0], aligned_edge=UP + LEFT)
        sub = label(self.subtitle(), th, 19, th.muted).next_to(head, DOWN, aligned_edge=LEFT, buff=0.15)
        self.static.add(head, sub)
        self.show_values = show_values
        self._shown: int | None = None
        self._values = VGroup()
        if show_values:
            # fixed columns sized for the widest value of the run, so nothing jitters
            cols = list(zip(*[self.texts_for(k) for k in range(t.n_states)]))
            widest = [max(col, key=len) for col in cols[1:]]
            self._size = 22.0
            widths = [label(w_, th, self._size).width for w_ in widest]
            room = box.right - sub.get_right()[0] - 0.4
            need = sum(widths) + 0.34 * (len(widths) - 1)
            if need > room:  # shrink rather than overlap the subtitle
                self._size *= room / need
                widths = [w_ * room / need for w_ in widths]
            x = box.right
            self._anchors: list[float] = []
            for wd in reversed(widths):
                x -= wd
                self._anchors.insert(0, x)
                x -= 0.34
            self._step_right = box.right
            self._step_base = box.top - 0.36
            self._row_base = box.top - 0.74
            all_text = "".join("".join(self.texts_for(k)) for k in range(t.n_states))
            self._bold = GlyphSet(all_text, font=th.font, size=26, weight="BOLD", color=th.text)
            self._glyphs = GlyphSet(all_text, font=th.font, size=self._size, color=th.run)
            self.dynamic.add(self._values)

    def subtitle(self) -> str:
        t, c = self.ctx.trace, self.ctx.trace.config
        batch = "full batch" if c.batch_size is None else f"mini-batches of {c.batch_size}"
        opt = {"sgd": "", "momentum": f"momentum β = {c.momentum:g} · ",
               "nesterov": f"Nesterov β = {c.momentum:g} · ", "adam": "Adam · "}[c.optimizer]
        return f"{opt}lr = {c.lr:g} · {batch}, {t.x.size} points · lr_max = {t.lr_max:.3g}"

    def texts_for(self, k: int) -> list[str]:
        t = self.ctx.trace
        return [
            f"step {k} of {t.config.steps}",
            f"w = {fmt_num(t.w[k])}",
            f"b = {fmt_num(t.b[k])}",
            f"loss = {fmt_num(t.loss[k])}",
        ]

    def show(self, state: State) -> None:
        if not self.show_values or state.k_shown == self._shown:
            return  # numbers are rebuilt once per step, never per frame
        self._shown = state.k_shown
        step, *vals = self.texts_for(state.k_shown)
        step_m = self._bold.text(step)
        step_m.shift([self._step_right - step_m.get_right()[0], self._step_base, 0])
        mobs = [step_m]
        for v, x in zip(vals, self._anchors):
            mobs.append(self._glyphs.text(v).shift([x, self._row_base, 0]))
        self._values.submobjects = mobs


# -- data space ------------------------------------------------------------------
class DataPanel(Panel):
    """The noisy points, the true line f (dashed) and the fitted line ŷ = w·x + b."""

    def __init__(self, ctx: Context, box: Box, runs: Sequence[tuple[Trace, str]] | None = None) -> None:
        super().__init__(ctx)
        t, th, c = ctx.trace, ctx.theme, ctx.trace.config
        x, y = t.x, t.y
        xs = float(x.min()), float(x.max())
        pad_x = 0.04 * (xs[1] - xs[0])
        f_lo, f_hi = c.slope * xs[0] + c.bias, c.slope * xs[1] + c.bias
        y_lo = min(float(y.min()), f_lo, f_hi)
        y_hi = max(float(y.max()), f_lo, f_hi)
        pad_y = 0.12 * (y_hi - y_lo or 1.0)
        sx = nice_step(xs[1] - xs[0] + 2 * pad_x, 6)
        sy = nice_step(y_hi - y_lo + 2 * pad_y, 4)
        self.x_range = (xs[0] - pad_x, xs[1] + pad_x)
        self.y_range = (y_lo - pad_y, y_hi + pad_y)
        aw, ah = box.width - 0.75, box.height - 0.55
        ax = _axes([*self.x_range, sx], [*self.y_range, sy], aw, ah, th)
        ax.move_to([box.x + 0.3, box.y + 0.2, 0])
        ax.x_axis.set_opacity(0)
        ax.y_axis.set_opacity(0)
        self.axes = ax
        self.map = AffineMap(ax)
        frame = _frame(ax, th)
        grid = VGroup()
        for v in _ticks(*self.x_range, sx):
            grid.add(Line(ax.c2p(v, self.y_range[0]), ax.c2p(v, self.y_range[1]), stroke_width=1, color=th.grid))
        for v in _ticks(*self.y_range, sy):
            grid.add(Line(ax.c2p(self.x_range[0], v), ax.c2p(self.x_range[1], v), stroke_width=1, color=th.grid))
        ticks = _tick_labels(ax, _ticks(*self.x_range, sx), _ticks(*self.y_range, sy), th, 19)
        xl = label("x", th, 22, th.muted).next_to(ax.c2p(self.x_range[1], self.y_range[0]), DOWN, buff=0.1).shift(LEFT * 0.0 + RIGHT * 0.05)
        yl = label("y", th, 22, th.muted).next_to(ax.c2p(self.x_range[0], self.y_range[1]), LEFT, buff=0.12)
        pts = self.map(x, y)
        dots = VGroup(*[Dot(p, radius=0.042, color=th.points, fill_opacity=0.9) for p in pts])
        truth = self._clipped_line(c.slope, c.bias)
        true_line = DashedLine(truth[0], truth[1], dash_length=0.12, color=th.truth, stroke_width=2.5)
        legend = self._legend(runs)
        self.static.add(grid, frame, ticks, xl, yl, true_line, dots, legend)
        self.runs = list(runs) if runs else [(t, th.run)]
        self.lines = VGroup(*[
            Line(ORIGIN, RIGHT, color=col, stroke_width=4.5).set_background_stroke(color=th.run_outline, width=8)
            for _, col in self.runs
        ])
        self.dynamic.add(self.lines)

    def _legend(self, runs) -> VGroup:
        th, c = self.ctx.theme, self.ctx.trace.config
        ax = self.axes
        items = VGroup()
        dot = Dot(radius=0.05, color=th.points)
        items.add(VGroup(dot, label("data", th, 18, th.muted).next_to(dot, RIGHT, buff=0.1)))
        dash = DashedLine(ORIGIN, RIGHT * 0.4, dash_length=0.08, color=th.truth, stroke_width=2.5)
        items.add(VGroup(dash, label(f"true f(x) = {fmt_num(c.slope)}x {'+' if c.bias >= 0 else MINUS} {fmt_num(abs(c.bias))}",
                                     th, 18, th.muted).next_to(dash, RIGHT, buff=0.1)))
        if not runs:
            fit = Line(ORIGIN, RIGHT * 0.4, color=th.run, stroke_width=4)
            items.add(VGroup(fit, label("fit ŷ = w·x + b", th, 18, th.muted).next_to(fit, RIGHT, buff=0.1)))
        items.arrange(RIGHT, buff=0.3)
        items.next_to(ax.c2p(self.x_range[0], self.y_range[1]), UP, buff=0.1, aligned_edge=LEFT)
        return items

    def _clipped_line(self, w: float, b: float) -> tuple[np.ndarray, np.ndarray] | None:
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        seg = clip_segment((x0, w * x0 + b), (x1, w * x1 + b), (x0, y0), (x1, y1))
        if seg is None:
            return None
        a, z, _, _ = seg
        return self.map.point(*a), self.map.point(*z)

    def line_endpoints(self, w: float, b: float):
        """Screen endpoints of ŷ = w·x + b clipped to the panel (None when it misses)."""
        return self._clipped_line(w, b)

    def show(self, state: State, states: Sequence[State] | None = None) -> None:
        states = states or [state]
        for line, st in zip(self.lines, states):
            ends = self._clipped_line(st.w, st.b)
            if ends is None:
                line.set_stroke(opacity=0).set_background_stroke(opacity=0)
            else:
                line.put_start_and_end_on(ends[0], ends[1]) if np.linalg.norm(ends[1] - ends[0]) > 1e-9 else None
                line.set_stroke(opacity=1).set_background_stroke(opacity=1)


# -- parameter space ---------------------------------------------------------------
class ContourPanel(Panel):
    """The loss over the (w, b) window: heat map, labelled contours, optimum, path."""

    heat_resolution = 220

    def __init__(self, ctx: Context, box: Box, runs: Sequence[tuple[Trace, str, StepClock]] | None = None) -> None:
        super().__init__(ctx)
        t, th = ctx.trace, ctx.theme
        aw, ah = box.width - 0.85, box.height - 0.75
        w_range, b_range, step = equal_aspect(t.window.w, t.window.b, aw, ah)
        win = Window(w_range, b_range, step, step)
        self.window = win
        ax = _axes([*win.w, win.w_step], [*win.b, win.b_step], aw, ah, th)
        ax.move_to([box.x + 0.35, box.y + 0.2, 0])
        ax.x_axis.set_opacity(0)
        ax.y_axis.set_opacity(0)
        self.axes = ax
        self.map = AffineMap(ax)
        heat = self._heat_map()
        contours, contour_labels = self._contours()
        frame = _frame(ax, th)
        ticks = _tick_labels(ax, _ticks(*win.w, win.w_step), _ticks(*win.b, win.b_step), th, 19)
        wl = label("w  (slope)", th, 22, th.muted).next_to(ax.c2p(sum(win.w) / 2, win.b[0]), DOWN, buff=0.42)
        bl = label("b  (bias)", th, 22, th.muted).rotate(math.pi / 2)
        bl.next_to(ax.c2p(win.w[0], sum(win.b) / 2), LEFT, buff=0.55)
        w_opt, b_opt, l_opt = t.optimum
        centre = self.map.point(w_opt, b_opt)
        star = VGroup(
            Circle(radius=0.16, color=th.optimum, stroke_width=3.5).set_background_stroke(color=th.run_outline, width=6),
            Line(centre + LEFT * 0.26, centre + LEFT * 0.16, color=th.optimum, stroke_width=3),
            Line(centre + RIGHT * 0.16, centre + RIGHT * 0.26, color=th.optimum, stroke_width=3),
            Line(centre + UP * 0.16, centre + UP * 0.26, color=th.optimum, stroke_width=3),
            Line(centre + DOWN * 0.16, centre + DOWN * 0.26, color=th.optimum, stroke_width=3),
        )
        star[0].move_to(centre)
        opt_text = label(f"minimum  L* = {fmt_num(l_opt, 3)}", th, 18, th.optimum)
        opt_bg = RoundedRectangle(corner_radius=0.06, width=opt_text.width + 0.18, height=opt_text.height + 0.14,
                                  fill_color=th.background, fill_opacity=0.75, stroke_width=0)
        opt_label = VGroup(opt_bg, opt_text.move_to(opt_bg)).next_to(star, UR, buff=0.05)
        self._keep_inside(opt_label)
        title = label("loss L(w, b) over the parameters", th, 20, th.muted)
        title.next_to(ax.c2p(win.w[0], win.b[1]), UP, buff=0.1, aligned_edge=LEFT)
        self.static.add(heat, contours, contour_labels, frame, ticks, wl, bl, title, star, opt_label)

        self.runs = list(runs) if runs else [(t, th.run, ctx.clock)]
        self.lo = np.array([win.w[0], win.b[0]])
        self.hi = np.array([win.w[1], win.b[1]])
        self.paths = VGroup()
        self.markers = VGroup()
        self.heads = VGroup()
        self.exits = VGroup()
        self._marker_k: list[int | None] = [None] * len(self.runs)
        for _, col, _ in self.runs:
            self.paths.add(VGroup())
            self.markers.add(VGroup())
            self.heads.add(Dot(radius=0.095, color=col, stroke_color=th.run_outline, stroke_width=2.5))
            self.exits.add(VGroup())
        self.dynamic.add(self.paths, self.markers, self.exits, self.heads)

    # static pieces
    def _heat_map(self) -> ImageMobject:
        t, th, win = self.ctx.trace, self.ctx.theme, self.window
        n = self.heat_resolution
        ws = np.linspace(win.w[0], win.w[1], n)
        bs = np.linspace(win.b[1], win.b[0], n)  # image rows run top to bottom
        grid = loss_grid(t.moments, ws, bs)
        l_opt = t.optimum[2]
        v = np.log10(grid - l_opt + 1e-3 * (grid.max() - l_opt) / 1e3 + 1e-12)
        v = (v - v.min()) / (v.max() - v.min() or 1.0)
        rgb = colour_ramp(v, th.heat_stops)
        img = ImageMobject(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
        img.set_resampling_algorithm(Image.Resampling.BILINEAR)
        lo = self.map.point(win.w[0], win.b[0])
        hi = self.map.point(win.w[1], win.b[1])
        img.stretch_to_fit_width(hi[0] - lo[0])
        img.stretch_to_fit_height(hi[1] - lo[1])
        img.move_to((lo + hi) / 2)
        return img

    def _contours(self) -> tuple[VGroup, VGroup]:
        """Exact contour ellipses of the quadratic loss, clipped to the window, with labels."""
        t, th, win = self.ctx.trace, self.ctx.theme, self.window
        m = t.moments
        w_opt, b_opt, l_opt = t.optimum
        corners = loss_grid(m, list(win.w), list(win.b))
        l_max = float(corners.max())
        levels = [lv for lv in contour_levels(l_opt + (l_max - l_opt) * 2e-4, l_max, 7) if lv > l_opt]
        A = np.array([[m.xx, m.x], [m.x, 1.0]])
        evals, evecs = np.linalg.eigh(A)
        theta = np.linspace(0, 2 * np.pi, 241)
        unit = np.stack([np.cos(theta), np.sin(theta)])
        lines, labels = VGroup(), VGroup()
        placed: list[np.ndarray] = []
        for lv in levels:
            r = math.sqrt(lv - l_opt)
            d = evecs @ (unit * (r / np.sqrt(evals))[:, None])
            pts = np.stack([w_opt + d[0], b_opt + d[1]], axis=1)
            runs, _ = clip_polyline(pts, (win.w[0], win.b[0]), (win.w[1], win.b[1]))
            for run in runs:
                vm = VMobject(stroke_color=th.contour, stroke_width=1.3, stroke_opacity=0.55)
                vm.set_points_smoothly(self.map(run[:, 0], run[:, 1])) if len(run) > 3 else vm.set_points_as_corners(self.map(run[:, 0], run[:, 1]))
                lines.add(vm)
            # label where the ellipse is inside the window, preferring the lower right
            inside = [p for p in pts if self._inside(p, 0.08)]
            if not inside:
                continue
            cand = max(inside, key=lambda p: (p[0] - w_opt) / (win.w[1] - win.w[0]) - (p[1] - b_opt) / (win.b[1] - win.b[0]))
            pos = self.map.point(*cand)
            if any(np.linalg.norm(pos - q) < 0.55 for q in placed):
                continue
            placed.append(pos)
            txt = label(fmt_num(lv, 3), th, 16, th.contour)
            bg = RoundedRectangle(corner_radius=0.05, width=txt.width + 0.12, height=txt.height + 0.08,
                                  fill_color=th.background, fill_opacity=0.6, stroke_width=0)
            labels.add(VGroup(bg, txt).move_to(pos))
        return lines, labels

    def contains(self, w: float, b: float) -> bool:
        """Whether (w, b) lies in the visible window."""
        return self._inside((w, b), 0.0)

    def _inside(self, p, margin: float) -> bool:
        win = self.window
        mw = margin * (win.w[1] - win.w[0])
        mb = margin * (win.b[1] - win.b[0])
        return win.w[0] + mw <= p[0] <= win.w[1] - mw and win.b[0] + mb <= p[1] <= win.b[1] - mb

    def _keep_inside(self, mob: Mobject) -> None:
        ax = self.axes
        lo = ax.c2p(self.window.w[0], self.window.b[0])
        hi = ax.c2p(self.window.w[1], self.window.b[1])
        if mob.get_bottom()[1] < lo[1] + 0.05:
            mob.shift(UP * (lo[1] + 0.05 - mob.get_bottom()[1]))
        if mob.get_right()[0] > hi[0] - 0.05:
            mob.shift(LEFT * (mob.get_right()[0] - hi[0] + 0.05))
        if mob.get_left()[0] < lo[0] + 0.05:
            mob.shift(RIGHT * (lo[0] + 0.05 - mob.get_left()[0]))

    # dynamic pieces
    def point_of(self, state: State) -> np.ndarray:
        return self.map.point(state.w, state.b)

    def show(self, state: State, states: Sequence[State] | None = None) -> None:
        states = states or [state]
        th = self.ctx.theme
        for i, ((trace, col, clock), st) in enumerate(zip(self.runs, states)):
            k0 = int(math.floor(st.kf))
            ws = np.append(trace.w[: k0 + 1], st.w)
            bs = np.append(trace.b[: k0 + 1], st.b)
            runs, exits = clip_polyline(np.stack([ws, bs], axis=1), self.lo, self.hi)
            path = VGroup()
            for run in runs:
                vm = VMobject(stroke_color=col, stroke_width=3.5)
                vm.set_points_as_corners(self.map(run[:, 0], run[:, 1]))
                vm.set_background_stroke(color=th.run_outline, width=6)
                path.add(vm)
            self.paths[i].submobjects = list(path)
            # a marker at every recorded state reached so far (rebuilt once per step)
            if self._marker_k[i] != k0:
                self._marker_k[i] = k0
                shown = [k for k in clock.keys if k <= k0] if trace.n_states > 200 else range(k0 + 1)
                dots = VGroup(*[
                    Dot(self.map.point(trace.w[k], trace.b[k]), radius=0.045, color=col,
                        stroke_color=th.run_outline, stroke_width=1.2)
                    for k in shown if self._inside((trace.w[k], trace.b[k]), 0.0)
                ])
                self.markers[i].submobjects = list(dots)
            head = self.heads[i]
            inside = self._inside((st.w, st.b), 0.0)
            head.move_to(self.map.point(st.w, st.b) if inside else head.get_center())
            head.set_opacity(1 if inside else 0)
            arrows = VGroup()
            if exits and not inside:
                p, d = exits[-1]
                start = self.map.point(*p)
                dv = self.map.ex[:2] * d[0] + self.map.ey[:2] * d[1]
                dv = np.append(dv / (np.linalg.norm(dv) or 1.0), 0.0)
                arrows.add(Arrow(start - 0.55 * dv, start + 0.05 * dv, buff=0, color=col, stroke_width=5,
                                 max_tip_length_to_length_ratio=0.45))
            self.exits[i].submobjects = list(arrows)


# -- loss curve ------------------------------------------------------------------
class LossPanel(Panel):
    """Loss against step (log scale when it spans decades), with the current step marked."""

    def __init__(self, ctx: Context, box: Box, runs: Sequence[tuple[Trace, str, StepClock]] | None = None) -> None:
        super().__init__(ctx)
        t, th = ctx.trace, ctx.theme
        self.runs = list(runs) if runs else [(t, th.run, ctx.clock)]
        all_loss = np.concatenate([r[0].loss for r in self.runs])
        l_opt = min(r[0].optimum[2] for r in self.runs)
        self.log = ctx.log_loss if not runs else loss_spans_decades(all_loss, l_opt)
        k_max = max(r[0].config.steps for r in self.runs)
        if self.log:
            lo = min(float(all_loss.min()), l_opt)
            hi = float(all_loss.max())
            ticks = log_ticks(lo, hi)
            self.y_range = (math.log10(ticks[0]), math.log10(max(ticks[-1], hi)))
            y_ticks = [math.log10(v) for v in ticks]
            fy = lambda v: fmt_pow10(10**v)  # noqa: E731
        else:
            hi = float(all_loss.max()) * 1.05
            step = nice_step(hi, 3)
            self.y_range = (0.0, math.ceil(hi / step) * step)
            y_ticks = _ticks(*self.y_range, step)
            fy = lambda v: fmt_num(v, 3)  # noqa: E731
        sx = nice_step(k_max, 5)
        sx = max(1.0, round(sx))
        self.x_range = (0.0, float(k_max))
        aw, ah = box.width - 0.95, box.height - 0.75
        ax = _axes([*self.x_range, sx], [*self.y_range, 1], aw, ah, th)
        ax.move_to([box.x + 0.4, box.y + 0.2, 0])
        ax.x_axis.set_opacity(0)
        ax.y_axis.set_opacity(0)
        self.axes = ax
        self.map = AffineMap(ax)
        frame = _frame(ax, th)
        grid = VGroup(*[Line(ax.c2p(0, v), ax.c2p(k_max, v), stroke_width=1, color=th.grid) for v in y_ticks])
        ticks = _tick_labels(ax, _ticks(0, k_max, sx), y_ticks, th, 17, fx=lambda v: f"{v:.0f}", fy=fy)
        xl = label("step", th, 19, th.muted).next_to(ax.c2p(k_max, self.y_range[0]), RIGHT, buff=0.25)
        xl.shift(DOWN * 0.22)
        title = label("loss (mean squared error)" + ("  ·  log scale" if self.log else ""), th, 19, th.muted)
        title.next_to(ax.c2p(0, self.y_range[1]), UP, buff=0.08, aligned_edge=LEFT)
        self.static.add(grid, frame, ticks, xl, title)
        if len(self.runs) == 1:
            opt_y = self._y(l_opt)
            if self.y_range[0] <= opt_y <= self.y_range[1]:
                opt = DashedLine(ax.c2p(0, opt_y), ax.c2p(k_max, opt_y), dash_length=0.08, color=th.optimum, stroke_width=2)
                opt_l = label(f"L* = {fmt_num(l_opt, 3)}", th, 16, th.optimum)
                opt_l.next_to(ax.c2p(k_max, opt_y), UP + LEFT, buff=0.06)
                self.static.add(opt, opt_l)
        self.curves = VGroup()
        self.markers = VGroup()
        self.heads = VGroup()
        self._marker_k: list[int | None] = [None] * len(self.runs)
        for _, col, _ in self.runs:
            self.curves.add(VMobject(stroke_color=col, stroke_width=3.5))
            self.markers.add(VGroup())
            self.heads.add(Dot(radius=0.07, color=col, stroke_color=th.run_outline, stroke_width=2))
        self.dynamic.add(self.curves, self.markers, self.heads)

    def _y(self, loss):
        return np.log10(np.maximum(loss, 1e-300)) if self.log else loss

    def point_of(self, state: State) -> np.ndarray:
        return self.map.point(state.kf, float(self._y(state.loss)))

    def show(self, state: State, states: Sequence[State] | None = None) -> None:
        states = states or [state]
        for i, ((trace, col, _), st) in enumerate(zip(self.runs, states)):
            k0 = int(math.floor(st.kf))
            ks = np.append(np.arange(k0 + 1, dtype=float), st.kf)
            ys = np.append(self._y(trace.loss[: k0 + 1]), self._y(st.loss))
            pts = self.map(ks, ys)
            if len(pts) >= 2:
                self.curves[i].set_points_as_corners(pts)
            else:
                self.curves[i].set_points_as_corners([pts[0], pts[0]])
            if self._marker_k[i] != k0 and trace.n_states <= 120:
                self._marker_k[i] = k0
                pts_k = self.map(np.arange(k0 + 1, dtype=float), self._y(trace.loss[: k0 + 1]))
                self.markers[i].submobjects = [Dot(p, radius=0.032, color=col) for p in pts_k]
            self.heads[i].move_to(self.point_of(st))


# -- divergence banner -----------------------------------------------------------
class Banner(Panel):
    """Says that (and why) a run diverges; appears when the run leaves the view."""

    def __init__(self, ctx: Context, anchor, width: float, contains: Callable[[float, float], bool] | None = None) -> None:
        super().__init__(ctx)
        t, th = ctx.trace, ctx.theme
        c = t.config
        self.active = t.diverged or (c.optimizer == "sgd" and c.lr >= t.lr_max)
        self.appear_at = float(t.last_k)
        self._on = False
        if not self.active:
            return
        relation = ">" if c.lr > t.lr_max else "≥"
        if t.diverged:
            msg = f"Diverged at step {t.diverged_at}: {t.diverged_reason}"
            msg = msg.replace("the loss exceeded", "loss above")
        else:
            msg = "Diverging: every step overshoots further"
        why = f"lr = {c.lr:g} {relation} lr_max = 2/λ_max = {t.lr_max:.3g}"
        if c.optimizer != "sgd":
            why += f" (plain GD; {c.optimizer} differs)"
        text = VGroup(label(msg, th, 22, th.warn_text, weight="BOLD"), label(why, th, 20, th.warn_text))
        text.arrange(DOWN, buff=0.08)
        if text.width > width - 0.3:
            text.scale_to_fit_width(width - 0.3)
        bg = RoundedRectangle(corner_radius=0.1, width=text.width + 0.35, height=text.height + 0.25,
                              fill_color=th.warn, fill_opacity=0.93, stroke_width=0)
        self.box = VGroup(bg, text.move_to(bg)).move_to(anchor)
        contains = contains or t.window.contains
        for k in range(t.n_states):
            if not contains(t.w[k], t.b[k]):
                self.appear_at = max(k - 0.5, 0.0)
                break
        self.box.set_opacity(0)
        self.dynamic.add(self.box)

    def show(self, state: State) -> None:
        if not self.active:
            return
        on = state.kf >= self.appear_at
        if on != self._on:
            self._on = on
            self.box[0].set_fill(opacity=0.93 if on else 0)
            self.box[1].set_opacity(1 if on else 0)


# -- the driver ------------------------------------------------------------------
class StepDriver:
    """One step tracker drives every panel: one updater computes the state once per
    frame and hands the same state to each panel."""

    def __init__(self, clock: StepClock, panels: Sequence[Panel]) -> None:
        self.clock = clock
        self.panels = list(panels)
        self.group = VGroup(*[p.dynamic for p in self.panels])

    def attach(self, tracker) -> VGroup:
        def update(_m):
            st = self.clock.at(tracker.get_value())
            for p in self.panels:
                p.show(st)

        update(None)
        self.group.add_updater(update)
        return self.group
