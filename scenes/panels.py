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
    DL,
    DR,
    UL,
    UR,
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
    contour_ellipse,
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
    "dots_mobject",
    "dots_points",
    "polyline_points",
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
    positive = [v for v in (float(np.min(loss)), l_opt) if v > 0]
    if not positive:
        return False
    return float(np.max(loss)) / min(positive) > 10**decades


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
    """A piece of the picture in three layers.

    ``static`` is drawn once per play(); ``stepwise`` changes only when the
    step changes (numbers, markers, the path so far) and is redrawn then;
    ``dynamic`` moves every frame (the line, the current point). Every method
    gets the states of all runs the panel draws, the same for every panel.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.static = Group()
        self.stepwise = VGroup()
        self.dynamic = VGroup()

    def show_step(self, states: Sequence[State]) -> None:
        """Set the stepwise layer (called when the step changes)."""

    def show(self, states: Sequence[State]) -> None:
        """Set the dynamic layer (called every frame)."""


_UNIT_DOT = None


def dots_points(centres, radius: float) -> np.ndarray:
    """Bezier points of many circles, one subpath each."""
    global _UNIT_DOT
    if _UNIT_DOT is None:
        _UNIT_DOT = Dot(ORIGIN, radius=1.0).points.copy()
    centres = np.asarray(centres, dtype=float).reshape(-1, 3)
    if not len(centres):
        return np.zeros((0, 3))
    return (_UNIT_DOT[None, :, :] * radius + centres[:, None, :]).reshape(-1, 3)


def dots_mobject(centres, radius: float, color: str, outline: str | None = None, outline_width: float = 0.0) -> VMobject:
    """Many dots as one VMobject (one circular subpath each): one draw call instead of many."""
    mob = VMobject(fill_color=color, fill_opacity=1.0, stroke_color=outline or color,
                   stroke_width=outline_width if outline else 0)
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


def _axes(x_range, y_range, box_w: float, box_h: float, theme: Theme, centre) -> Axes:
    """A plot area: axes for the coordinates, placed at ``centre``, with their own lines
    hidden (each panel draws a light frame and grid instead of crossing axes)."""
    ax = Axes(
        x_range=x_range,
        y_range=y_range,
        x_length=box_w,
        y_length=box_h,
        tips=False,
        axis_config={"color": theme.axis, "stroke_width": 2, "include_ticks": True, "tick_size": 0.05},
    )
    ax.move_to(centre)
    ax.x_axis.set_opacity(0)
    ax.y_axis.set_opacity(0)
    return ax


def _tick_labels(axes: Axes, xs: Sequence[float], ys: Sequence[float], theme: Theme, size: float,
                 fx: Callable[[float], str] = fmt_num, fy: Callable[[float], str] = fmt_num,
                 x_at: float | None = None, y_at: float | None = None) -> VGroup:
    """Tick labels along the bottom and left edges of the axes box."""
    x0 = axes.x_range[0] if y_at is None else y_at
    y0 = axes.y_range[0] if x_at is None else x_at
    out = VGroup()
    for v in xs:
        out.add(number_label(fx(v), theme, size).next_to(axes.c2p(v, y0), DOWN, buff=0.1))
    for v in ys:
        out.add(number_label(fy(v), theme, size).next_to(axes.c2p(x0, v), LEFT, buff=0.1))
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

    def __init__(self, ctx: Context, box: Box, title: str | None = None) -> None:
        super().__init__(ctx)
        th = ctx.theme
        self.box = box
        head = label(title or "Gradient descent fits ŷ = w·x + b", th, 30, th.text, weight="BOLD")
        head.move_to([box.left, box.top, 0], aligned_edge=UP + LEFT)
        sub = label(self.subtitle(), th, 19, th.muted).next_to(head, DOWN, aligned_edge=LEFT, buff=0.15)
        self.static.add(head, sub)
        self._shown: int | None = None
        self.shown_texts: list[str] = []
        self._values = VGroup()
        # fixed columns sized for the widest value of the run, so nothing jitters
        shown = ctx.clock.keys  # the only states whose numbers appear
        cols = list(zip(*[self.texts_for(k) for k in shown]))
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
        all_text = "".join("".join(self.texts_for(k)) for k in shown)
        self._bold = GlyphSet(all_text, font=th.font, size=26, weight="BOLD", color=th.text)
        self._glyphs = GlyphSet(all_text, font=th.font, size=self._size, color=th.run)
        self._values.add(self._bold.text(""), self._glyphs.text(""))
        self.stepwise.add(self._values)

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

    def show_step(self, states: Sequence[State]) -> None:
        state = states[0]
        if state.k_shown == self._shown:
            return  # numbers are rebuilt once per step, never per frame
        self._shown = state.k_shown
        step, *vals = self.shown_texts = self.texts_for(state.k_shown)
        # mobjects are changed in place, never replaced: Manim draws a play()'s
        # moving mobjects from a list it makes when the play() starts
        step_m, values = self._values.submobjects
        step_m.points = self._bold.points(step, self._step_right - self._bold.width(step), self._step_base)
        values.points = (np.concatenate([self._glyphs.points(v, x, self._row_base) for v, x in zip(vals, self._anchors)])
                         if vals else np.zeros((0, 3)))


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
        span = y_hi - y_lo or 1.0
        # grow the view (by at most 3/4 of the data's span each way) so that a fitted
        # line passing just above or below the points stays in sight
        for w, b in zip(t.w, t.b):
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
        ax = _axes([*self.x_range, sx], [*self.y_range, sy], aw, ah, th, [box.x + 0.3, box.y + 0.2, 0])
        self.axes = ax
        self.map = AffineMap(ax)
        frame = _frame(ax, th)
        grid = VGroup()
        for v in _ticks(*self.x_range, sx):
            grid.add(Line(ax.c2p(v, self.y_range[0]), ax.c2p(v, self.y_range[1]), stroke_width=1, color=th.grid))
        for v in _ticks(*self.y_range, sy):
            grid.add(Line(ax.c2p(self.x_range[0], v), ax.c2p(self.x_range[1], v), stroke_width=1, color=th.grid))
        ticks = _tick_labels(ax, _ticks(*self.x_range, sx), _ticks(*self.y_range, sy), th, 19)
        xl = label("x", th, 22, th.muted).next_to(ax.c2p(self.x_range[1], self.y_range[0]), DR, buff=0.06)
        yl = label("y", th, 22, th.muted).next_to(ax.c2p(self.x_range[0], self.y_range[1]), UL, buff=0.08)
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

    def show(self, states: Sequence[State]) -> None:
        for line, st in zip(self.lines, states):
            ends = self._clipped_line(st.w, st.b)
            if ends is None:
                line.set_stroke(opacity=0).set_background_stroke(opacity=0)
            else:
                if np.linalg.norm(ends[1] - ends[0]) > 1e-9:
                    line.put_start_and_end_on(ends[0], ends[1])
                line.set_stroke(opacity=1).set_background_stroke(opacity=1)


# -- parameter space ---------------------------------------------------------------
class ContourPanel(Panel):
    """The loss over the (w, b) window: heat map, labelled contours, optimum, path."""

    heat_resolution = 220

    def __init__(self, ctx: Context, box: Box, runs: Sequence[tuple[Trace, str, StepClock]] | None = None) -> None:
        super().__init__(ctx)
        t, th = ctx.trace, ctx.theme
        self.runs = list(runs) if runs else [(t, th.run, ctx.clock)]
        aw, ah = box.width - 0.85, box.height - 0.75
        w_range, b_range, step = equal_aspect(t.window.w, t.window.b, aw, ah)
        win = Window(w_range, b_range, step, step)
        self.window = win
        ax = _axes([*win.w, win.w_step], [*win.b, win.b_step], aw, ah, th, [box.x + 0.35, box.y + 0.2, 0])
        self.axes = ax
        self.map = AffineMap(ax)
        heat = self._heat_map()
        contours, contour_labels = self._contours()
        frame = _frame(ax, th)
        ticks = _tick_labels(ax, _ticks(*win.w, win.w_step), _ticks(*win.b, win.b_step), th, 19)
        wl = label("w  (slope)", th, 22, th.muted).next_to(ax.c2p(sum(win.w) / 2, win.b[0]), DOWN, buff=0.42)
        bl = label("b  (bias)", th, 22, th.muted).rotate(math.pi / 2)
        left_of_ticks = min(m.get_left()[0] for m in ticks) if len(ticks) else ax.get_left()[0]
        bl.move_to([left_of_ticks - 0.12 - bl.width / 2, ax.c2p(0, sum(win.b) / 2)[1], 0])
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
        opt_label = VGroup(opt_bg, opt_text.move_to(opt_bg))
        self._place_clear(opt_label, star, [m.get_center() for m in contour_labels])
        title = label("loss L(w, b) over the parameters", th, 20, th.muted)
        title.next_to(ax.c2p(win.w[0], win.b[1]), UP, buff=0.1, aligned_edge=LEFT)
        self.static.add(heat, contours, contour_labels, frame, ticks, wl, bl, title, star, opt_label)

        self.lo = np.array([win.w[0], win.b[0]])
        self.hi = np.array([win.w[1], win.b[1]])
        self.paths = VGroup()   # the path up to the last state passed (stepwise)
        self.markers = VGroup()  # a marker per state passed (stepwise)
        self.live = VGroup()    # from the last state passed to the current point (dynamic)
        self.heads = VGroup()
        self.exits = VGroup()
        self._done_exit: list[tuple | None] = [None] * len(self.runs)
        for _, col, _ in self.runs:
            self.paths.add(self._path_mobject(col))
            self.markers.add(dots_mobject([], 0.045, col, th.run_outline, 1.2))
            self.live.add(self._path_mobject(col))
            self.heads.add(Dot(radius=0.095, color=col, stroke_color=th.run_outline, stroke_width=2.5))
            self.exits.add(VMobject(fill_color=col, fill_opacity=1, stroke_color=th.run_outline, stroke_width=1.5))
        self.stepwise.add(self.paths, self.markers)
        self.dynamic.add(self.live, self.exits, self.heads)

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
        lines, labels = VGroup(), VGroup()
        for lv in levels:
            pts = contour_ellipse(m, t.optimum, lv)
            runs, _ = clip_polyline(pts, (win.w[0], win.b[0]), (win.w[1], win.b[1]))
            for run in runs:
                vm = VMobject(stroke_color=th.contour, stroke_width=1.3, stroke_opacity=0.55)
                screen = self.map(run[:, 0], run[:, 1])
                if len(run) > 3:
                    vm.set_points_smoothly(screen)
                else:
                    vm.set_points_as_corners(screen)
                lines.add(vm)
        for lv, pos in self._label_spots(levels, A):
            txt = label(fmt_num(lv, 3), th, 16, th.contour)
            bg = RoundedRectangle(corner_radius=0.05, width=txt.width + 0.12, height=txt.height + 0.08,
                                  fill_color=th.background, fill_opacity=0.6, stroke_width=0)
            labels.add(VGroup(bg, txt).move_to(pos))
        return lines, labels

    def _label_spots(self, levels: Sequence[float], A: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """Where the contour labels go: along the ray from the optimum that fits the
        most labels clear of the path and of each other (the ellipses are nested,
        so labels along a ray spread out by themselves)."""
        t = self.ctx.trace
        w_opt, b_opt, l_opt = t.optimum
        centre = self.map.point(w_opt, b_opt)
        path = self.path_points()
        best: list[tuple[float, np.ndarray]] = []
        best_score = -1.0
        away = np.array([w_opt - t.w[0], b_opt - t.b[0]])
        for angle in np.linspace(0, 2 * np.pi, 24, endpoint=False):
            ray = np.array([math.cos(angle), math.sin(angle)])
            spots: list[tuple[float, np.ndarray]] = []
            placed = [centre]
            for lv in levels:
                t_ray = math.sqrt((lv - l_opt) / float(ray @ A @ ray))
                p = (w_opt + t_ray * ray[0], b_opt + t_ray * ray[1])
                if not self._inside(p, 0.06):
                    continue
                pos = self.map.point(*p)
                if any(np.linalg.norm(pos - q) < 0.5 for q in placed):
                    continue
                if len(path) and np.min(np.linalg.norm(path[:, :2] - pos[:2], axis=1)) < 0.4:
                    continue
                placed.append(pos)
                spots.append((lv, pos))
            score = len(spots) + 0.1 * float(ray @ away) / (np.linalg.norm(away) or 1.0)
            if score > best_score:
                best, best_score = spots, score
        return best

    def _place_clear(self, mob: Mobject, anchor: Mobject, others: list[np.ndarray]) -> None:
        """Put ``mob`` beside ``anchor`` on the side farthest from the path and ``others``."""
        c = anchor.get_center()[:2]
        # the paths' ends crowd the anchor itself; only the rest of them is in the way
        path = [p[:2] for p in self.path_points() if np.linalg.norm(p[:2] - c) > 0.45]
        obstacles = np.array(path + [o[:2] for o in others])
        best, best_d = None, -1.0
        for d in (UP, UR, RIGHT, DR, DOWN, DL, LEFT, UL):
            mob.next_to(anchor, d, buff=0.1)
            self._keep_inside(mob)
            # distance from the obstacles to the label's box
            lo, hi = mob.get_corner(DL)[:2], mob.get_corner(UR)[:2]
            gap = np.maximum(np.maximum(lo - obstacles, obstacles - hi), 0.0)
            dist = float(np.min(np.linalg.norm(gap, axis=1))) if len(obstacles) else 1.0
            dist += 0.05 if d[1] > 0 else 0.0  # above reads better than below
            if dist > best_d:
                best, best_d = d, dist
        mob.next_to(anchor, best, buff=0.1)
        self._keep_inside(mob)

    def path_points(self) -> np.ndarray:
        """Screen points of every run's states (for placing labels clear of the paths)."""
        return np.concatenate([self.map(tr.w, tr.b) for tr, _, _ in self.runs])

    def clearest_corner(self, width: float, height: float, margin: float = 0.12) -> np.ndarray:
        """The top-left point for a box of this size in the window corner farthest from every path."""
        lo, hi = self.map.point(self.window.w[0], self.window.b[0]), self.map.point(self.window.w[1], self.window.b[1])
        pts = self.path_points()[:, :2]
        best, best_d = None, -1.0
        for x in (lo[0] + margin, hi[0] - margin - width):
            for y in (hi[1] - margin, lo[1] + margin + height):
                box_lo, box_hi = np.array([x, y - height]), np.array([x + width, y])
                gap = np.maximum(np.maximum(box_lo - pts, pts - box_hi), 0.0)
                d = float(np.min(np.linalg.norm(gap, axis=1)))
                if d > best_d:
                    best, best_d = np.array([x, y, 0.0]), d
        return best

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

    def _path_mobject(self, col: str) -> VMobject:
        vm = VMobject(stroke_color=col, stroke_width=3.5)
        vm.set_background_stroke(color=self.ctx.theme.run_outline, width=6)
        return vm

    def show_step(self, states: Sequence[State]) -> None:
        for i, ((trace, col, clock), st) in enumerate(zip(self.runs, states)):
            k0 = int(math.floor(st.kf))
            runs, exits = clip_polyline(np.stack([trace.w[: k0 + 1], trace.b[: k0 + 1]], axis=1), self.lo, self.hi)
            self.paths[i].points = polyline_points([self.map(r[:, 0], r[:, 1]) for r in runs])
            self._done_exit[i] = exits[-1] if exits else None
            # a marker at every recorded state passed (all of them for a short run)
            shown = [k for k in clock.keys if k <= k0] if trace.n_states > 200 else range(k0 + 1)
            centres = [self.map.point(trace.w[k], trace.b[k]) for k in shown
                       if self._inside((trace.w[k], trace.b[k]), 0.0)]
            self.markers[i].points = dots_points(centres, 0.045)

    def show(self, states: Sequence[State]) -> None:
        for i, ((trace, col, _), st) in enumerate(zip(self.runs, states)):
            k0 = int(math.floor(st.kf))
            seg = clip_segment((trace.w[k0], trace.b[k0]), (st.w, st.b), self.lo, self.hi)
            live = self.live[i]
            if seg is None or np.allclose(seg[0], seg[1]):
                live.points = np.zeros((0, 3))
            else:
                live.set_points_as_corners(self.map([seg[0][0], seg[1][0]], [seg[0][1], seg[1][1]]))
            head = self.heads[i]
            inside = self._inside((st.w, st.b), 0.0)
            if inside:
                head.move_to(self.map.point(st.w, st.b))
            head.set_opacity(1 if inside else 0)
            # where the point has left the view: an arrowhead on the edge, pointing after it
            ex = None
            if not inside:
                if seg is not None and seg[3]:
                    d = np.array([st.w, st.b]) - seg[0]
                    ex = (seg[1], d / (np.linalg.norm(d) or 1.0))
                else:
                    ex = self._done_exit[i]
            if ex is None:
                self.exits[i].points = np.zeros((0, 3))
            else:
                p, d = ex
                tip = self.map.point(*p)
                dv = self.map.ex[:2] * d[0] + self.map.ey[:2] * d[1]
                dv = np.append(dv / (np.linalg.norm(dv) or 1.0), 0.0)
                nv = np.array([-dv[1], dv[0], 0.0])
                self.exits[i].set_points_as_corners([tip, tip - 0.34 * dv + 0.16 * nv, tip - 0.34 * dv - 0.16 * nv, tip])


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
            step = nice_step(hi, 3)
            self.y_range = (0.0, math.ceil(hi / step) * step)
            y_ticks = _ticks(*self.y_range, step)
            fy = lambda v: fmt_num(v, 3)  # noqa: E731
        sx = nice_step(k_max, 5)
        sx = max(1.0, round(sx))
        self.x_range = (0.0, float(k_max))
        aw, ah = box.width - 0.95, box.height - 0.75
        ax = _axes([*self.x_range, sx], [*self.y_range, 1], aw, ah, th, [box.x + 0.4, box.y + 0.2, 0])
        self.axes = ax
        self.map = AffineMap(ax)
        frame = _frame(ax, th)
        grid = VGroup(*[Line(ax.c2p(0, v), ax.c2p(k_max, v), stroke_width=1, color=th.grid) for v in y_ticks])
        ticks = _tick_labels(ax, _ticks(0, k_max, sx), y_ticks, th, 17, fx=lambda v: f"{v:.0f}", fy=fy)
        # the x axis is the step: said in the title, so no label crowds the last tick
        title = label("loss (mean squared error) by step" + ("  ·  log scale" if self.log else ""), th, 19, th.muted)
        title.next_to(ax.c2p(0, self.y_range[1]), UP, buff=0.08, aligned_edge=LEFT)
        self.static.add(grid, frame, ticks, title)
        if len(self.runs) == 1:
            opt_y = self._y(l_opt)
            if self.y_range[0] <= opt_y <= self.y_range[1]:
                opt = DashedLine(ax.c2p(0, opt_y), ax.c2p(k_max, opt_y), dash_length=0.08, color=th.optimum, stroke_width=2)
                opt_l = label(f"L* = {fmt_num(l_opt, 3)}", th, 16, th.optimum)
                opt_l.next_to(ax.c2p(k_max, opt_y), UP + LEFT, buff=0.06)
                self.static.add(opt, opt_l)
        self.curves = VGroup()  # the curve up to the last state passed (stepwise)
        self.markers = VGroup()
        self.live = VGroup()    # its last piece, up to the current point (dynamic)
        self.heads = VGroup()
        for _, col, _ in self.runs:
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
        for i, ((trace, col, _), st) in enumerate(zip(self.runs, states)):
            k0 = int(math.floor(st.kf))
            pts = self.map(np.arange(k0 + 1, dtype=float), self._y(trace.loss[: k0 + 1]))
            if len(pts) >= 2:
                self.curves[i].set_points_as_corners(pts)
            else:
                self.curves[i].points = np.zeros((0, 3))
            self.markers[i].points = dots_points(pts if trace.n_states <= 120 else [], 0.032)

    def show(self, states: Sequence[State]) -> None:
        for i, ((trace, col, _), st) in enumerate(zip(self.runs, states)):
            k0 = int(math.floor(st.kf))
            end = self.point_of(st)
            start = self.map.point(float(k0), float(self._y(trace.loss[k0])))
            if np.allclose(start, end):
                self.live[i].points = np.zeros((0, 3))
            else:
                self.live[i].set_points_as_corners([start, end])
            self.heads[i].move_to(end)


# -- divergence banner -----------------------------------------------------------
class Banner(Panel):
    """Says that (and why) a run diverges; appears when the run leaves the view."""

    def __init__(self, ctx: Context, anchor, width: float, contains: Callable[[float, float], bool] | None = None) -> None:
        super().__init__(ctx)
        t, th = ctx.trace, ctx.theme
        c = t.config
        self.active = t.diverged or (c.optimizer == "sgd" and c.lr >= t.lr_max * (1 - 1e-6))
        self.appear_at = float(t.last_k)
        self._on = False
        if not self.active:
            return
        at_edge = math.isclose(c.lr, t.lr_max, rel_tol=1e-6)
        relation = "=" if at_edge else (">" if c.lr > t.lr_max else "≥")
        if t.diverged:
            msg = f"Diverged at step {t.diverged_at}: {t.diverged_reason}"
            msg = msg.replace("the loss exceeded", "loss above")
        elif at_edge:
            msg = "On the edge: the steps neither shrink nor grow"
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
        self.stepwise.add(self.box)

    def show_step(self, states: Sequence[State]) -> None:
        if not self.active:
            return
        on = states[0].kf >= self.appear_at
        if on != self._on:
            self._on = on
            self.box[0].set_fill(opacity=0.93 if on else 0)
            self.box[1].set_opacity(1 if on else 0)


# -- the driver ------------------------------------------------------------------
class StepDriver:
    """One step tracker drives every panel.

    One updater computes the state once per frame and hands the same states
    to every panel: ``show_step`` when the step changes, ``show`` on every
    frame. ``run_clocks`` gives one clock per run for panels that draw
    several runs (the comparison); they all follow the main clock's step.
    The renderer redraws the stepwise layer only when :attr:`version` changes.
    """

    def __init__(self, clock: StepClock, panels: Sequence[Panel], run_clocks: Sequence[StepClock] | None = None) -> None:
        self.clock = clock
        self.run_clocks = list(run_clocks) if run_clocks else [clock]
        self.panels = list(panels)
        self.step_group = VGroup(*[p.stepwise for p in self.panels])
        self.frame_group = VGroup(*[p.dynamic for p in self.panels])
        self.group = VGroup(self.step_group, self.frame_group)
        self.version = 0
        self._key: tuple | None = None

    def states_at(self, t: float) -> list[State]:
        main = self.clock.at(t)
        if self.run_clocks == [self.clock]:
            return [main]
        out = []
        for c in self.run_clocks:
            last = c.w.size - 1
            out.append(c.state_at_step(min(main.kf, float(last)), k_shown=min(main.k_shown, last)))
        return out

    def push(self, t: float) -> list[State]:
        states = self.states_at(t)
        key = tuple((int(math.floor(s.kf)), s.k_shown) for s in states)
        if key != self._key:
            self._key = key
            self.version += 1
            for p in self.panels:
                p.show_step(states)
        for p in self.panels:
            p.show(states)
        return states

    def layer(self) -> tuple[int, list[Mobject], Mobject]:
        """The stepwise layer's version, its mobjects and the group holding every moving part."""
        return self.version, [self.step_group], self.group

    def attach(self, tracker) -> VGroup:
        self.group.add_updater(lambda _m: self.push(tracker.get_value()))
        self.push(tracker.get_value())
        return self.group
