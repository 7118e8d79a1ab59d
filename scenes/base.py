"""The base of every descent scene: parameters as validated class attributes.

A scene's parameters are class attributes (3b1b style) and a variant is a
subclass. Because a misspelt class attribute would silently do nothing,
:class:`DescentScene` checks every public attribute a subclass sets against
the parameters it knows and refuses unknown ones, suggesting the closest.

Examples
--------
>>> from descent.scenes.base import DescentScene
>>> class Slow(DescentScene):
...     seconds_per_step = 1.0
>>> try:
...     class Typo(DescentScene):
...         seconds_per_stpe = 1.0
... except TypeError as e:
...     print(e)
unknown scene parameter 'seconds_per_stpe' in Typo (did you mean 'seconds_per_step'?)
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from importlib.resources import files
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from manim import Scene

from descent.trainer import Trace

from .helpers import key_steps
from .theme import THEMES

if TYPE_CHECKING:
    from manim import Mobject, ValueTracker

    from .panels import StepDriver

__all__ = ["DescentScene", "DEFAULT_TRACE", "load_scene_trace", "plan_seconds", "play_frames"]

#: The lab-default trace shipped with the scenes as package data, so a scene never trains.
DEFAULT_TRACE = files("descent.scenes") / "lab_trace.json"


def load_scene_trace(path: str | os.PathLike | None = None) -> Trace:
    """The trace a scene draws: ``path``, else $DESCENT_TRACE, else the lab default."""
    return Trace.load(path or os.environ.get("DESCENT_TRACE") or DEFAULT_TRACE)


def plan_seconds(
    n_segments: int, seconds_per_step: float, descent_seconds: float | None, max_descent_seconds: float
) -> float:
    """How long the descent runs: total if given, else per step, capped."""
    if descent_seconds is not None:
        return float(descent_seconds)
    return min(max(n_segments, 1) * seconds_per_step, max_descent_seconds)


def play_frames(run_time: float, fps: float) -> int:
    """Frames Manim writes for a play() of ``run_time`` (it steps 0, 1/fps, … < run_time)."""
    return len(np.arange(0, run_time, 1 / fps)) if run_time > 0 else 0


class DescentScene(Scene):
    """Common parameters and validation for every descent scene."""

    #: Parameters a subclass may set (name → check). Extended by subclasses via EXTRA_PARAMS.
    PARAMS: ClassVar[dict[str, Any]] = {
        "trace": lambda v: v is None or isinstance(v, Trace),
        "trace_file": lambda v: v is None or isinstance(v, (str, os.PathLike)),
        "theme": lambda v: v in THEMES,
        "seconds_per_step": lambda v: isinstance(v, (int, float)) and 0 < v <= 60,
        "descent_seconds": lambda v: v is None or (isinstance(v, (int, float)) and 0 < v <= 3600),
        "max_descent_seconds": lambda v: isinstance(v, (int, float)) and v > 0,
        "intro_seconds": lambda v: isinstance(v, (int, float)) and 0 <= v <= 60,
        "hold_seconds": lambda v: isinstance(v, (int, float)) and 0 <= v <= 600,
        "max_keys": lambda v: isinstance(v, int) and 2 <= v <= 1000,
        "title": lambda v: v is None or isinstance(v, str),
        "step_hold": lambda v: isinstance(v, (int, float)) and 0 <= v < 1,
    }
    EXTRA_PARAMS: ClassVar[dict[str, Any]] = {}

    trace: Trace | None = None  # a trace object (the render API sets this)
    trace_file: str | None = None  # or a trace file; else $DESCENT_TRACE, else the lab
    theme: str = os.environ.get("DESCENT_THEME", "dark")
    seconds_per_step: float = 2 / 3  # the lab's 15 steps take 10 s
    descent_seconds: float | None = None  # total descent time; overrides seconds_per_step
    max_descent_seconds: float = 24.0  # long runs are sampled to stay under this
    intro_seconds: float = 1.5
    hold_seconds: float = 2.5
    max_keys: int = 45  # most states the animation pauses at
    title: str | None = None
    step_hold: float = 0.8  # easing at each state: 0 linear, near 1 lingers

    @classmethod
    def all_params(cls) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            params.update(klass.__dict__.get("PARAMS", {}))
            params.update(klass.__dict__.get("EXTRA_PARAMS", {}))
        return params

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        known = cls.all_params()
        for name, value in cls.__dict__.items():
            if (
                name.startswith("_")
                or name.isupper()
                or callable(value)
                or isinstance(value, (classmethod, staticmethod, property))
            ):
                continue
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise TypeError(f"unknown scene parameter {name!r} in {cls.__name__}{hint}")
            if not known[name](value):
                raise TypeError(f"bad value for scene parameter {name!r} in {cls.__name__}: {value!r}")

    # -- set-up ------------------------------------------------------------------
    def setup(self) -> None:
        self.run_trace = self.trace if self.trace is not None else load_scene_trace(self.trace_file)
        self.camera.background_color = THEMES[self.theme].background

    def play_lesson(self, statics: Sequence[Mobject], driver: StepDriver, tracker: ValueTracker) -> None:
        """The whole clip as one play(): intro, descent, hold.

        Beat 1, the stage: everything is added at once and covered by
        background-coloured veils that fade away in turn (only the veils move,
        so Cairo paints the panels once instead of copying them every frame).
        Beat 2, the descent: the one tracker runs through the states.
        Beat 3, the hold on the final state: frames that repeat are not redrawn
        (see :meth:`frame_key`). One play() means one encoded segment.
        """
        from manim import FadeOut, LaggedStart, Rectangle, Succession, Wait

        self.static_roots = {id(s) for s in statics}
        bg = THEMES[self.theme].background
        self.veils = (
            [
                Rectangle(
                    width=s.width + 0.3, height=s.height + 0.3, fill_color=bg, fill_opacity=1, stroke_width=0
                ).move_to(s.get_center())
                for s in statics
                if len(s.submobjects)
            ]
            if self.intro_seconds > 0
            else []
        )
        self.add(*statics, driver.group, *self.veils)
        driver.attach(tracker)
        self.tracker = tracker
        beats = []
        if self.veils:
            beats.append(LaggedStart(*[FadeOut(v) for v in self.veils], lag_ratio=0.3, run_time=self.intro_seconds))
        descent = self.descent_length(self.ctx.trace)  # the run whose keys the clock holds
        beats.append(tracker.animate(run_time=descent, rate_func=lambda a: a).set_value(driver.clock.t_max))
        if self.hold_seconds > 0:
            beats.append(Wait(run_time=self.hold_seconds))
        self.play(Succession(*beats))
        self.remove(*self.veils)
        driver.group.clear_updaters()

    def frame_key(self) -> tuple:
        """What a frame shows; the renderer reuses the last frame when it repeats."""
        veils = tuple(round(v.get_fill_opacity(), 4) for v in getattr(self, "veils", ()))
        tracker = getattr(self, "tracker", None)
        return (tracker.get_value() if tracker is not None else None, veils)

    def update_mobjects(self, dt: float) -> None:
        """Update every mobject except the static panels.

        Manim walks the whole family of every mobject on each frame looking for
        updaters; the static panels hold hundreds of glyphs and never update.
        """
        static = getattr(self, "static_roots", ())
        for mob in self.mobjects:
            if id(mob) not in static:
                mob.update(dt)

    # -- timing: what every planned length derives from --------------------------
    @staticmethod
    def pace_trace(traces: Trace | Sequence[Trace]) -> Trace:
        """The run that sets a clip's pace: the trace itself, or the longest of several."""
        if isinstance(traces, Trace):
            return traces
        return max(traces, key=lambda t: t.n_states)

    @classmethod
    def descent_length(cls, traces: Trace | Sequence[Trace]) -> float:
        """Seconds of the descent: per step, or the total given, capped for long runs."""
        trace = cls.pace_trace(traces)
        segments = len(key_steps(trace.last_k, cls.max_keys)) - 1
        return plan_seconds(segments, cls.seconds_per_step, cls.descent_seconds, cls.max_descent_seconds)

    @classmethod
    def descent_start(cls) -> float:
        """When the descent begins (after the intro)."""
        return cls.intro_seconds

    @classmethod
    def schedule(cls, traces: Trace | Sequence[Trace]) -> tuple[float, float, float]:
        """When the descent starts, how long it runs, and the clip's length (seconds)."""
        return cls.descent_start(), cls.descent_length(traces), cls.planned_seconds(traces)

    @classmethod
    def planned_seconds(cls, traces: Trace | Sequence[Trace]) -> float:
        """Total clip length (intro + descent + hold)."""
        return cls.descent_start() + cls.descent_length(traces) + cls.hold_seconds

    @classmethod
    def planned_frames(cls, traces: Trace | Sequence[Trace], fps: float) -> int:
        """Frames the clip will have at ``fps`` (the whole clip is one play())."""
        return play_frames(cls.planned_seconds(traces), fps)
