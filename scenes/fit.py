"""FitScene: the line fitting the points beside the descent on the loss surface.

Render the lab defaults from the repository root with the plain manim CLI::

    manim -qm scenes/fit.py FitScene

or any trace with ``DESCENT_TRACE=t.json`` (and ``DESCENT_THEME=light``), or
through ``descent render fit``.
"""

from __future__ import annotations

from manim import Mobject, ValueTracker

from descent.scenes.base import DescentScene
from descent.scenes.panels import Banner, Box, Context, ContourPanel, DataPanel, Header, LossPanel, StepDriver

__all__ = ["FitScene", "fit_layout"]


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
        self.panels = [self.header, self.data, self.contour, self.loss, self.banner]
        self.tracker = ValueTracker(0.0)
        self.driver = StepDriver(self.ctx.clock, self.panels)
        self.driver.push(0.0)

    def step_layer(self) -> tuple[int, list[Mobject], Mobject]:
        """What changes once per step, for the renderer to paint once per step."""
        return self.driver.layer()

    def construct(self) -> None:
        # The stage appears, the descent runs on one tracker, the final state holds.
        self.play_lesson([p.static for p in self.panels], self.driver, self.tracker)
