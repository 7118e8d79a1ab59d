"""The pieces every panel is made of: a box on the frame, the context a scene shares, the three layers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from manim import (
    Group,
    VGroup,
)

from descent.trainer import Trace, Window, view_window
from descent.trainer.trace import window_problem

from ..helpers import (
    State,
    StepClock,
    key_steps,
)
from ..theme import Theme, get_theme

__all__ = ["Box", "Context", "Panel", "drawable_window", "loss_spans_decades"]


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


@dataclass(frozen=True)
class Run:
    """One run a panel draws: its trace, its colour, and the clock that says where it is."""

    trace: Trace
    colour: str
    clock: StepClock


@dataclass
class Context:
    """What every panel of a scene shares: the trace, the theme, the clock."""

    trace: Trace
    theme: Theme
    clock: StepClock
    log_loss: bool

    @classmethod
    def for_trace(cls, trace: Trace, theme: Theme | str = "dark", max_keys: int = 45, hold: float = 0.8) -> Context:
        theme = get_theme(theme) if isinstance(theme, str) else theme
        log_loss = loss_spans_decades(trace.loss, trace.optimum[2])
        clock = StepClock(trace.w, trace.b, trace.loss, key_steps(trace.last_k, max_keys), log_loss=log_loss, hold=hold)
        return cls(trace, theme, clock, log_loss)

    def main_run(self) -> Run:
        """The scene's own run in the theme's run colour (panels that draw one run)."""
        return Run(self.trace, self.theme.run, self.clock)


def drawable_window(trace: Trace) -> Window:
    """The trace's (w, b) window, or (for a trace built by hand with one that cannot be
    drawn, e.g. of zero size) the window the trainer would give its path."""
    if window_problem(trace.window) is None:
        return trace.window
    w_opt, b_opt, _ = trace.optimum
    return view_window((trace.w[0], trace.b[0]), (w_opt, b_opt), zip(trace.w, trace.b, strict=True))


def loss_spans_decades(loss: np.ndarray, l_opt: float = math.inf, decades: float = 2.0) -> bool:
    positive = [v for v in (float(np.min(loss)), l_opt) if v > 0]
    if not positive:
        return False
    return float(np.max(loss)) / min(positive) > 10**decades


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
