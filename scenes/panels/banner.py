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
    """Says that (and why) a run diverges, at that moment; a path leaving the view first gets its own line."""

    def __init__(
        self,
        ctx: Context,
        anchor: Sequence[float],
        width: float,
        contains: Callable[[float, float], bool] | None = None,
    ) -> None:
        super().__init__(ctx)
        t = ctx.trace
        c = t.config
        plain_gd = OPTIMIZERS[c.optimizer].plain_gd
        self.active = t.diverged or (plain_gd and c.lr >= t.lr_max * (1 - 1e-6))
        # the banner belongs to the moment it describes: a divergence when the run reaches its last
        # state (the next step, the one that diverged, is never drawn); leaving the view when it does
        self.appear_at = float(t.last_k)
        self.exit_box: VGroup | None = None
        self.exit_at: float | None = None
        self._on: tuple[bool, bool] = (False, False)
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
        self.box = self._make(msg, why, anchor, width)
        self.stepwise.add(self.box)
        contains = contains or t.window.contains
        leaves = next((k for k in range(t.n_states) if not contains(t.w[k], t.b[k])), None)
        if leaves is None:
            return
        if not t.diverged:
            # a run that only grows: its one sentence is true from the moment it leaves the view
            self.appear_at = float(min(leaves, t.last_k))
        elif leaves < t.last_k:
            # the step count of the divergence is for later: now only that the path leaves the map
            self.exit_at = float(leaves)
            self.exit_box = self._make("Off the map: every step overshoots", why, anchor, width)
            self.stepwise.add(self.exit_box)

    def _make(self, msg: str, why: str, anchor: Sequence[float], width: float) -> VGroup:
        th = self.ctx.theme
        text = VGroup(
            label(msg, th, th.sizes.banner, th.warn_text, weight="BOLD"),
            label(why, th, th.sizes.banner_detail, th.warn_text),
        )
        text.arrange(DOWN, buff=0.08)
        if text.width > width - 0.3:
            text.scale_to_fit_width(width - 0.3)
        box = boxed(text, th.warn, 0.93, (0.35, 0.25), 0.1).move_to(anchor)
        box.set_opacity(0)
        return box

    def showing(self, kf: float) -> VGroup | None:
        """The banner box on screen at fractional step ``kf`` (None when none is)."""
        if not self.active:
            return None
        if math.floor(kf) >= self.appear_at:
            return self.box
        if self.exit_box is not None and self.exit_at is not None and math.floor(kf) >= self.exit_at:
            return self.exit_box
        return None

    def show_step(self, states: Sequence[State]) -> None:
        if not self.active:
            return
        shown = self.showing(states[0].kf)
        on = (shown is self.box, shown is not None and shown is self.exit_box)
        if on == self._on:
            return
        self._on = on
        for box, visible in ((self.box, on[0]), (self.exit_box, on[1])):
            if box is not None:
                box[0].set_fill(opacity=0.93 if visible else 0)
                box[1].set_opacity(1 if visible else 0)
