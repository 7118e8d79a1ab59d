"""FitScene: the line fitting the points beside the descent on the loss surface.

Render the lab defaults from the repository root with the plain manim CLI::

    manim -qm scenes/fit.py FitScene

or any trace with ``DESCENT_TRACE=t.json`` (and ``DESCENT_THEME=light``), or
through ``descent render fit``. ``show`` adds optional layers (see :data:`SHOW_OPTIONS`):
the residuals in data space and the gradient arrow with its level curve in parameter
space (``descent render fit --show residuals,gradient``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from manim import DL, UR, Mobject, ValueTracker

from descent.scenes.base import DescentScene
from descent.scenes.helpers import State
from descent.scenes.panels import Banner, Box, Context, ContourPanel, DataPanel, Header, LossPanel, StepDriver
from descent.scenes.panels.gradient import GradientArrow
from descent.scenes.panels.residuals import Residuals
from descent.scenes.show import SHOW_OPTIONS, valid_show

__all__ = ["FitScene", "fit_layout", "SHOW_OPTIONS"]


def fit_layout() -> dict[str, Box]:
    """Where the panels sit in the 16:9 frame (14.2 × 8 units)."""
    return {
        "header": Box(0.0, 3.42, 13.7, 0.95),
        "data": Box(-3.55, 0.55, 6.5, 3.9),
        "loss": Box(-3.55, -2.65, 6.5, 2.35),
        "contour": Box(3.55, -0.55, 6.6, 6.4),
    }


class FitScene(DescentScene):
    """Data space, parameter space and loss curve, all driven by one step tracker."""

    EXTRA_PARAMS: ClassVar[dict[str, Any]] = {"show": valid_show}

    show: tuple[str, ...] = ()  # optional layers, from SHOW_OPTIONS: "residuals", "gradient"

    def setup(self) -> None:
        super().setup()
        lay = fit_layout()
        self.ctx = Context.for_trace(self.run_trace, self.theme, self.max_keys, self.step_hold)
        self.header = Header(self.ctx, lay["header"], self.title)
        self.data = DataPanel(self.ctx, lay["data"])
        self.contour = ContourPanel(self.ctx, lay["contour"])
        self.loss = LossPanel(self.ctx, lay["loss"])
        c = lay["contour"]
        self.banner = Banner(
            self.ctx, anchor=[c.x + 0.35, c.top - 0.95, 0], width=c.width - 1.2, contains=self.contour.contains
        )
        if self.banner.active:  # no label half under the banner when it shows
            self.contour.keep_clear(*[b for b in (self.banner.box, self.banner.exit_box) if b is not None])
        # the optional layers go just before the panel they draw on: its moving parts stay on top
        # (the fitted line over the residuals, the path's head over the arrow's tail)
        self.residuals = Residuals(self.ctx, self.data) if "residuals" in self.show else None
        self.gradient = (
            GradientArrow(self.ctx, self.contour, keep_clear=self._banner_box) if "gradient" in self.show else None
        )
        self.panels = [
            p
            for p in (self.header, self.residuals, self.data, self.gradient, self.contour, self.loss, self.banner)
            if p is not None
        ]
        self.tracker = ValueTracker(0.0)
        self.driver = StepDriver(self.ctx.clock, self.panels)
        self.driver.push(0.0)

    def _banner_box(self, state: State) -> list[tuple[np.ndarray, np.ndarray]]:
        """The divergence banner's rectangle while it shows (the level curve is kept off it)."""
        box = self.banner.showing(state.kf)
        if box is None:
            return []
        return [(box.get_corner(DL) - 0.05, box.get_corner(UR) + 0.05)]

    def step_layer(self) -> tuple[int, list[Mobject], Mobject]:
        """What changes once per step, for the renderer to paint once per step."""
        return self.driver.layer()

    def construct(self) -> None:
        # The stage appears, the descent runs on one tracker, the final state holds.
        self.play_lesson([p.static for p in self.panels], self.driver, self.tracker)
