"""The step driver: one tracker, one state per frame, handed to every panel."""

from __future__ import annotations

import math
from collections.abc import Sequence

from manim import (
    Mobject,
    ValueTracker,
    VGroup,
)

from ..helpers import (
    State,
    StepClock,
)
from .base import Panel

__all__ = ["StepDriver"]


# -- the driver ------------------------------------------------------------------
class StepDriver:
    """One step tracker drives every panel.

    One updater computes the state once per frame and hands the same states
    to every panel: ``show_step`` when the step changes, ``show`` on every
    frame. ``run_clocks`` gives one clock per run for panels that draw
    several runs (the comparison); they all follow the main clock's step.
    The renderer redraws the stepwise layer only when :attr:`version` changes.
    """

    def __init__(
        self, clock: StepClock, panels: Sequence[Panel], run_clocks: Sequence[StepClock] | None = None
    ) -> None:
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

    def attach(self, tracker: ValueTracker) -> VGroup:
        self.group.add_updater(lambda _m: self.push(tracker.get_value()))
        self.push(tracker.get_value())
        return self.group
