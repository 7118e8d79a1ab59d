"""The header: title, optimizer and lr, then the step counter and live w, b, loss."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import (
    DOWN,
    LEFT,
    UP,
    VGroup,
)

from descent.trainer import OPTIMIZERS

from ..glyphs import GlyphSet
from ..helpers import (
    State,
    fmt_num,
)
from .base import Box, Context, Panel
from .draw import (
    label,
)

__all__ = ["Header"]


# -- header -------------------------------------------------------------------
class Header(Panel):
    """Title, optimizer and lr on the left; the step counter and live w, b, loss on the right."""

    def __init__(self, ctx: Context, box: Box, title: str | None = None) -> None:
        super().__init__(ctx)
        th = ctx.theme
        self.box = box
        head = label(title or "Gradient descent fits ŷ = w·x + b", th, th.sizes.title, th.text, weight="BOLD")
        head.move_to([box.left, box.top, 0], aligned_edge=UP + LEFT)
        sub = label(self.subtitle(), th, th.sizes.subtitle, th.muted).next_to(head, DOWN, aligned_edge=LEFT, buff=0.15)
        self.static.add(head, sub)
        self._shown: int | None = None
        self.shown_texts: list[str] = []
        self._values = VGroup()
        # fixed columns sized for the widest value of the run, so nothing jitters
        shown = ctx.clock.keys  # the only states whose numbers appear
        cols = list(zip(*[self.texts_for(k) for k in shown], strict=False))
        widest = [max(col, key=len) for col in cols[1:]]
        self._size = float(th.sizes.values)
        widths = [label(w_, th, self._size).width for w_ in widest]
        room = box.right - sub.get_right()[0] - 0.4
        need = sum(widths) + 0.42 * (len(widths) - 1)
        if need > room:  # shrink rather than overlap the subtitle
            self._size *= room / need
            widths = [w_ * room / need for w_ in widths]
        self._gap = 0.42 * self._size / th.sizes.values  # between one value and the next, always the same
        self._spans: list[tuple[float, float]] = []
        self._step_right = box.right
        self._step_base = box.top - 0.36
        self._row_base = box.top - 0.74
        all_text = "".join("".join(self.texts_for(k)) for k in shown)
        self._bold = GlyphSet(all_text, font=th.font, size=th.sizes.step, weight="BOLD", color=th.text)
        self._glyphs = GlyphSet(all_text, font=th.font, size=self._size, color=th.run)
        self._values.add(self._bold.text(""), self._glyphs.text(""))
        self.stepwise.add(self._values)

    def subtitle(self) -> str:
        t, c = self.ctx.trace, self.ctx.trace.config
        batch = "full batch" if c.batch_size is None else f"mini-batches of {c.batch_size}"
        named = OPTIMIZERS[c.optimizer].describe(c)
        opt = f"{named} · " if named else ""
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
        # packed from the right edge with one gap between them: evenly spaced at every step
        # (a value moves only when its own length changes: digits are all one width)
        x, spans = self._step_right, []
        for v in reversed(vals):
            w = self._glyphs.width(v)
            spans.insert(0, (x - w, x))
            x -= w + self._gap
        self._spans = spans
        values.points = (
            np.concatenate([self._glyphs.points(v, a, self._row_base) for v, (a, _) in zip(vals, spans, strict=True)])
            if vals
            else np.zeros((0, 3))
        )

    def value_spans(self) -> list[tuple[float, float]]:
        """Where (left, right, in scene units) each live value is written now."""
        return list(self._spans)
