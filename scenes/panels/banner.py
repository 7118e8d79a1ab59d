"""The divergence banner: says that, and why, a run leaves the view."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from manim import (
    DOWN,
    VGroup,
)

from descent.trainer import DIVERGENCE_LOSS, OPTIMIZERS

from ..helpers import (
    State,
)
from .base import Context, Panel
from .draw import (
    boxed,
    label,
)

__all__ = ["Banner"]


# -- divergence banner -----------------------------------------------------------
#: Banner wording where the trainer's sentence is too long for the frame.
SHORT_REASONS = {"loss_limit": f"loss above {DIVERGENCE_LOSS:.0e}".replace("e+", "e")}


class Banner(Panel):
    """Says that (and why) a run diverges; appears when the run leaves the view."""

    def __init__(
        self,
        ctx: Context,
        anchor: Sequence[float],
        width: float,
        contains: Callable[[float, float], bool] | None = None,
    ) -> None:
        super().__init__(ctx)
        t, th = ctx.trace, ctx.theme
        c = t.config
        plain_gd = OPTIMIZERS[c.optimizer].plain_gd
        self.active = t.diverged or (plain_gd and c.lr >= t.lr_max * (1 - 1e-6))
        self.appear_at = float(t.last_k)
        self._on = False
        if not self.active:
            return
        at_edge = math.isclose(c.lr, t.lr_max, rel_tol=1e-6)
        # the true relation: a mini-batch run (or another optimizer) may diverge below the full data's lr_max
        relation = "=" if at_edge else (">" if c.lr > t.lr_max else "<")
        if t.diverged:
            msg = f"Diverged at step {t.diverged_at}: {SHORT_REASONS.get(t.diverged_reason, t.divergence_text)}"
        elif at_edge:
            msg = "On the edge: the steps neither shrink nor grow"
        else:
            msg = "Diverging: every step overshoots further"
        why = f"lr = {c.lr:g} {relation} lr_max = 2/λ_max = {t.lr_max:.3g}"
        if not plain_gd:
            why += f" (plain GD; {c.optimizer} differs)"
        elif relation == "<" and c.batch_size is not None:
            why += " of all the data; one mini-batch can be steeper"
        text = VGroup(
            label(msg, th, th.sizes.banner, th.warn_text, weight="BOLD"),
            label(why, th, th.sizes.banner_detail, th.warn_text),
        )
        text.arrange(DOWN, buff=0.08)
        if text.width > width - 0.3:
            text.scale_to_fit_width(width - 0.3)
        self.box = boxed(text, th.warn, 0.93, (0.35, 0.25), 0.1).move_to(anchor)
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
