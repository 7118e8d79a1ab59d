"""CompareScene: several learning rates on one step tracker (the lab's LOSS vs LOSS2).

Every run's path is overlaid on one contour map in its own colour, every
fitted line shares the data panel, and every loss curve shares one axis (log
scale when they span decades). A legend gives each run's lr and its live loss.

Render with ``descent render compare --lr 0.1 --lr 0.2`` (the default pair),
or as part of ``descent batch``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Line, Mobject, RoundedRectangle, ValueTracker, VGroup

from descent.scenes.base import DescentScene
from descent.scenes.fit import fit_layout
from descent.scenes.glyphs import GlyphSet
from descent.scenes.helpers import State, StepClock, fmt_num, key_steps
from descent.scenes.panels import (
    Box,
    Context,
    ContourPanel,
    DataPanel,
    Header,
    LossPanel,
    Panel,
    Run,
    StepDriver,
    label,
)
from descent.scenes.panels.base import drawable_window
from descent.scenes.theme import get_theme
from descent.trainer import OPTIMIZERS, Config, Trace, Window

__all__ = ["CompareScene", "check_comparable", "union_window", "run_label", "COMPARE_TITLES"]

#: The comparison's title by the key it compares along.
COMPARE_TITLES = {
    "lr": "Learning rates compared",
    "optimizer": "Optimizers compared",
    "momentum": "Momentum values compared",
    "batch_size": "Batch sizes compared",
    "w0": "Starting points compared",
    "b0": "Starting points compared",
    "steps": "Run lengths compared",
}


def run_label(config: Config, by: str = "lr") -> str:
    """A run's name in a comparison along ``by``: ``lr 0.1``, ``sgd``, ``momentum 0.9``, ``adam``, ``batch 8``.

    >>> from descent.trainer import Config
    >>> run_label(Config(optimizer="momentum", momentum=0.9), "optimizer")
    'momentum 0.9'
    >>> run_label(Config(batch_size=8), "batch_size")
    'batch 8'
    """
    if by == "optimizer":
        uses_beta = config.optimizer in ("momentum", "nesterov")
        return f"{config.optimizer} {config.momentum:.4g}" if uses_beta else config.optimizer
    if by == "batch_size":
        return "full batch" if config.batch_size is None else f"batch {config.batch_size}"
    if by == "momentum":
        return f"momentum {config.momentum:.4g}"
    if by == "steps":
        return f"{config.steps} steps"
    value = getattr(config, by)
    return f"{by} {value:.4g}" if isinstance(value, float) else f"{by} {value}"


def check_comparable(traces: Sequence[Trace]) -> None:
    """Runs compared in one clip must share their data (same points, same loss surface)."""
    if len(traces) < 1:
        raise ValueError("a comparison needs at least one run")
    x0, y0 = traces[0].x, traces[0].y
    for t in traces[1:]:
        if t.x.shape != x0.shape or not (np.array_equal(t.x, x0) and np.array_equal(t.y, y0)):
            raise ValueError("runs compared in one clip must use the same data (slope, bias, noise, x grid, seed)")


def union_window(traces: Sequence[Trace]) -> Window:
    ws = [drawable_window(t) for t in traces]
    return Window(
        (min(w.w[0] for w in ws), max(w.w[1] for w in ws)),
        (min(w.b[0] for w in ws), max(w.b[1] for w in ws)),
        max(w.w_step for w in ws),
        max(w.b_step for w in ws),
    )


#: The keys a comparison may be made along (those that leave the data as it is).
COMPARE_KEYS = ("lr", "optimizer", "momentum", "batch_size", "w0", "b0", "steps")


class CompareHeader(Header):
    """Title, the shared settings, and the step counter (the numbers live in the legend)."""

    def __init__(
        self, ctx: Context, box: Box, traces: Sequence[Trace], title: str | None = None, by: str = "lr"
    ) -> None:
        self.traces = list(traces)
        self.by = by
        super().__init__(ctx, box, title or COMPARE_TITLES.get(by, f"{by} compared"))

    def subtitle(self) -> str:
        t, c = self.ctx.trace, self.ctx.trace.config
        if self.by != "lr":  # what the runs share; the legend says how they differ
            lr = f"lr = {c.lr:g}" if len({tr.config.lr for tr in self.traces}) == 1 else "lr as listed"
            return f"{lr} · {t.x.size} points · lr_max = {t.lr_max:.3g}"
        lrs = ", ".join(f"{tr.config.lr:g}" for tr in self.traces)
        batch = "full batch" if c.batch_size is None else f"mini-batches of {c.batch_size}"
        return f"{c.optimizer} · lr = {lrs} · {batch}, {t.x.size} points · lr_max = {t.lr_max:.3g}"

    def texts_for(self, k: int) -> list[str]:
        return [f"step {k} of {self.ctx.trace.config.steps}"]


class Legend(Panel):
    """One row per run: its colour, its lr, and its loss at the current step."""

    def __init__(self, ctx: Context, runs: Sequence[Run], top_left: Sequence[float], by: str = "lr") -> None:
        super().__init__(ctx)
        th = ctx.theme
        self.runs = list(runs)
        rows = VGroup()
        n = len(self.runs)
        # many runs: a smaller legend, not a bigger one
        size = th.sizes.legend - (0 if n <= 4 else 3 if n <= 6 else 5)
        self.size = size
        for trace, col in ((r.trace, r.colour) for r in self.runs):
            c = trace.config
            name = run_label(c, by)
            # a prediction the header's lr_max already makes; that a run *did* diverge is said by its
            # numbers when it does (a name saying so from the first step gave the ending away)
            if OPTIMIZERS[c.optimizer].plain_gd and c.lr >= trace.lr_max * (1 - 1e-6):
                name += " (diverges)"
            swatch = Line(LEFT * 0.2, RIGHT * 0.2, color=col, stroke_width=6)
            rows.add(VGroup(swatch, label(name, th, size, th.text).next_to(swatch, RIGHT, buff=0.12)))
        rows.arrange(DOWN, aligned_edge=LEFT, buff=0.12 * size / 18)
        self.rows = rows
        shown = ctx.clock.keys  # the only steps whose numbers appear
        texts = "".join(self._text(tr, k) for tr in (r.trace for r in self.runs) for k in shown) + "loss = "
        # the numbers in the text colour (the swatch says whose): a run colour need not be legible as text
        self.glyphs = [GlyphSet(texts, font=th.font, size=size, color=th.text) for _ in self.runs]
        widest = max(
            g.width(self._text(tr, k))
            for g, tr in zip(self.glyphs, (r.trace for r in self.runs), strict=False)
            for k in shown
        )
        bg = RoundedRectangle(
            corner_radius=0.08,
            width=self.value_x - rows.get_left()[0] + widest + 0.3,
            height=rows.height + 0.3,
            fill_color=th.background,
            fill_opacity=0.82,
            stroke_width=0,
        )
        bg.move_to(rows.get_corner(UP + LEFT), aligned_edge=UP + LEFT).shift(LEFT * 0.15 + UP * 0.15)
        group = VGroup(bg, rows)
        group.shift(np.asarray(top_left) - bg.get_corner(UP + LEFT))
        self.static.add(group)
        self.values = VGroup(*[g.text("") for g in self.glyphs])
        self.stepwise.add(self.values)

    @property
    def value_x(self) -> float:
        return self.rows.get_right()[0] + 0.3

    @staticmethod
    def _text(trace: Trace, k: int) -> str:
        """The row's numbers at step ``k``: the loss, or, from the step the run stopped at (as the banner
        of a single run), that it diverged."""
        if trace.diverged and k >= trace.last_k:
            return f"diverged at step {trace.diverged_at}"
        return f"loss = {fmt_num(trace.loss[min(k, trace.last_k)], 3)}"

    def show_step(self, states: Sequence[State]) -> None:
        for trace, g, mob, row, st in zip(
            (r.trace for r in self.runs), self.glyphs, self.values, self.rows, states, strict=False
        ):
            base = row.get_bottom()[1] + 0.03
            mob.points = g.points(self._text(trace, st.k_shown), self.value_x, base)


class CompareScene(DescentScene):
    """Several runs, one tracker: paths, lines and loss curves side by side."""

    EXTRA_PARAMS = {
        "traces": lambda v: v is None or (isinstance(v, (list, tuple)) and all(isinstance(t, Trace) for t in v)),
        "compare_by": lambda v: v in COMPARE_KEYS,
    }
    traces: Sequence[Trace] | None = None
    compare_by: str = "lr"  # the key the runs differ in: the legend's labels and the title

    def setup(self) -> None:
        from descent.scenes.base import load_scene_trace

        super().setup()
        traces = list(self.traces) if self.traces else [load_scene_trace(self.trace_file)]
        check_comparable(traces)
        self.runs_traces = traces
        theme = get_theme(self.theme)
        colours = theme.series
        longest = max(traces, key=lambda t: t.n_states)
        main = dataclasses.replace(longest, window=union_window(traces))
        self.ctx = Context.for_trace(main, theme, self.max_keys, self.step_hold)
        clocks = [
            StepClock(
                t.w, t.b, t.loss, key_steps(t.last_k, self.max_keys), log_loss=self.ctx.log_loss, hold=self.step_hold
            )
            for t in traces
        ]
        runs = [Run(t, colours[i % len(colours)], clocks[i]) for i, t in enumerate(traces)]
        lay = fit_layout()
        self.header = CompareHeader(self.ctx, lay["header"], traces, self.title, self.compare_by)
        self.data = DataPanel(self.ctx, lay["data"], runs=runs)
        self.contour = ContourPanel(self.ctx, lay["contour"], runs=runs)
        self.loss = LossPanel(self.ctx, lay["loss"], runs=runs)
        self.legend = Legend(self.ctx, runs, [0.0, 0.0, 0], self.compare_by)
        # then move it to the corner of the map that the paths stay farthest from
        box = self.legend.static[0][0]
        corner = self.contour.clearest_corner(box.width, box.height)
        self.legend.static.shift(corner - box.get_corner(UP + LEFT))
        self.contour.keep_clear(box)  # no contour label or minimum label half under the legend
        self.panels = [self.header, self.data, self.contour, self.loss, self.legend]
        self.tracker = ValueTracker(0.0)
        self.driver = StepDriver(self.ctx.clock, self.panels, run_clocks=clocks)
        self.driver.push(0.0)

    def step_layer(self) -> tuple[int, list[Mobject], Mobject]:
        return self.driver.layer()

    def construct(self) -> None:
        # The stage, then every run descends on the one tracker, then the hold.
        self.play_lesson([p.static for p in self.panels], self.driver, self.tracker)
