"""The lesson: the whole lab as six chapters, one scene each, timed by the narration script.

Each chapter is its own scene (:data:`CHAPTER_SCENES`), so chapters render alone
or side by side in separate processes and join without re-encoding. A chapter
plays one beat per script line (:mod:`descent.scenes.script`): the beat lasts
exactly the line's frames (:func:`~descent.scenes.script.beat_frames`), its
animations run in the first part of it, and the rest holds while the line is
read. Every number on screen comes from the runs; every label from the config.

The runs are three traces of one config, only the learning rate varying
(:class:`~descent.scenes.script.LessonRuns`); ``descent render lesson`` trains
them. A scene never trains: set ``runs`` (and ``script``) as class attributes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Animation,
    AnimationGroup,
    Create,
    DashedLine,
    Dot,
    FadeIn,
    FadeOut,
    Group,
    GrowFromEdge,
    LaggedStart,
    Line,
    Mobject,
    Rectangle,
    Succession,
    ThreeDScene,
    Transform,
    ValueTracker,
    VGroup,
    VMobject,
    Wait,
    config,
)

from descent.scenes.base import DescentScene
from descent.scenes.compare import CompareHeader, Legend, union_window
from descent.scenes.fit import fit_layout
from descent.scenes.helpers import StepClock, fmt_num, key_steps
from descent.scenes.panels import (
    Banner,
    Box,
    Context,
    ContourPanel,
    DataPanel,
    Header,
    LossPanel,
    Run,
    StepDriver,
    label,
)
from descent.scenes.panels.draw import boxed, plot_axes, plot_frame, tick_labels, ticks_between
from descent.scenes.script import (
    CHAPTERS,
    Chapter,
    LessonRuns,
    Script,
    beat_frames,
    early_step,
    lesson_script,
    steps_text,
)
from descent.scenes.script import Line as ScriptLine
from descent.scenes.surface import ShiftedThreeDCamera, SurfacePanel
from descent.scenes.theme import THEMES
from descent.trainer import Trace, nice_step

if TYPE_CHECKING:
    from descent.scenes.panels.gradient import GradientArrow

__all__ = [
    "LessonChapter",
    "DataChapter",
    "ModelChapter",
    "SurfaceChapter",
    "TrainingChapter",
    "RatesChapter",
    "SummaryChapter",
    "CHAPTER_SCENES",
    "chapter_frames",
]


def chapter_frames(script: Script, key: str, fps: float) -> list[int]:
    """Frames of each beat of chapter ``key`` at ``fps``: the one place a chapter's timing comes from."""
    return [beat_frames(line.seconds, fps) for line in script.chapter(key)]


def _vmobjects(mob: Mobject) -> list[VMobject]:
    """The outermost vectorized parts of ``mob`` (a Group's set_opacity does not reach them)."""
    if isinstance(mob, VMobject):
        return [mob]
    return [v for sub in mob.submobjects for v in _vmobjects(sub)]


def fade_to(mob: Mobject, opacity: float, run_time: float = 0.8) -> list[Animation]:
    """Animations that take every vectorized part of ``mob`` to ``opacity`` (it stays in the scene)."""
    return [v.animate(run_time=run_time).set_opacity(opacity) for v in _vmobjects(mob)]


def set_opacity(mob: Mobject, opacity: float) -> None:
    """Set every vectorized part of ``mob`` to ``opacity`` at once (a Group's own set_opacity does not)."""
    for v in _vmobjects(mob):
        v.set_opacity(opacity)


def _check_runs(v: Any) -> bool:
    return v is None or isinstance(v, LessonRuns)


def _check_script(v: Any) -> bool:
    return v is None or isinstance(v, Script)


class LessonChapter(DescentScene):
    """A chapter: a heading, then one beat per script line of its chapter.

    A subclass sets :attr:`CHAPTER` and defines ``beat_<name>(line)`` for every
    line ``<chapter>.<name>`` of the script; each beat calls :meth:`beat` once.
    """

    EXTRA_PARAMS = {"runs": _check_runs, "script": _check_script}
    runs: LessonRuns | None = None
    script: Script | None = None
    CHAPTER: ClassVar[str] = ""

    # -- timing ----------------------------------------------------------------------
    @classmethod
    def chapter(cls) -> Chapter:
        """The chapter this scene draws (from :data:`~descent.scenes.script.CHAPTERS`)."""
        return next(c for c in CHAPTERS if c.key == cls.CHAPTER)

    @classmethod
    def lesson_script(cls) -> Script:
        """The script the beats follow: the one given, else the one the runs tell."""
        if cls.script is not None:
            return cls.script
        if cls.runs is None:
            raise ValueError(f"{cls.__name__} needs the lesson's runs (set `runs`)")
        return lesson_script(cls.runs)

    @classmethod
    def planned_frames(cls, traces: Any = None, fps: float | None = None) -> int:
        return sum(chapter_frames(cls.lesson_script(), cls.CHAPTER, fps or config.frame_rate))

    @classmethod
    def planned_seconds(cls, traces: Any = None) -> float:
        fps = config.frame_rate
        return cls.planned_frames(traces, fps) / fps

    _holding: int | None = None

    def update_mobjects(self, dt: float) -> None:
        """While a beat holds, nothing moves: no updater is run (their inputs are still)."""
        if self._holding is None:
            super().update_mobjects(dt)

    def get_moving_mobjects(self, *animations: Animation) -> list[Mobject]:
        """Everything from the first mobject a beat animates (at any depth) or updates, in drawing order.

        Manim looks only at each animation's own mobject; a beat's animations sit in a
        group whose own mobject is no member of the scene, so Manim would take what they
        move for static and paint it once.
        """
        animated: set[int] = set()
        stack = list(animations)
        while stack:
            anim = stack.pop()
            stack.extend(getattr(anim, "animations", ()))
            if anim.mobject is not None:
                animated.update(id(m) for m in anim.mobject.get_family())
        mobjects = self.get_mobject_family_members()
        for i, mob in enumerate(mobjects):
            if id(mob) in animated or mob.get_family_updaters() or mob in self.foreground_mobjects:
                return mobjects[i:]
        return []

    def frame_key(self) -> tuple | None:
        """While a beat holds, every frame is the same picture; while it animates, each is new."""
        return ("hold", self._holding) if self._holding is not None else None

    # -- set-up ------------------------------------------------------------------------
    def setup(self) -> None:
        if self.runs is None:
            raise ValueError(f"{type(self).__name__} needs the lesson's runs (set `runs`)")
        self.trace = self.runs.main
        super().setup()
        self.th = THEMES[self.theme]
        self.lines = self.lesson_script().chapter(self.CHAPTER)
        self.beat_log: list[tuple[str, int]] = []  # (line id, first frame)
        self.frames_written = 0
        # the chapter's heading where (and as) the header of the panel chapters writes it
        top = fit_layout()["header"]
        self.heading = label(self.heading_text(), self.th, self.th.sizes.title, self.th.text, weight="BOLD")
        self.heading.move_to([top.left, top.top, 0], aligned_edge=UP + LEFT)

    @classmethod
    def heading_text(cls, suffix: str = "") -> str:
        """``"4   Training"``: the chapter's number and title (and ``suffix``)."""
        ch = cls.chapter()
        return f"{ch.number}   {ch.title}{suffix}"

    def construct(self) -> None:
        for line in self.lines:
            name = line.id.partition(".")[2]
            method = getattr(self, f"beat_{name}", None)
            if method is None:
                raise ValueError(f"{type(self).__name__} has no beat for script line {line.id!r}")
            before = len(self.beat_log)
            method(line)
            if len(self.beat_log) != before + 1:
                raise RuntimeError(f"beat {line.id!r} must call beat() exactly once")

    def beat(
        self,
        line: ScriptLine,
        *animations: Animation,
        seconds: float | None = None,
        then: Sequence[tuple] = (),
    ) -> None:
        """Play one beat: ``animations`` (together) in its first ``seconds``, then each phase of
        ``then`` (animations, seconds[, a function called as it starts]) in turn, then hold to
        the beat's end.

        The beat lasts exactly :func:`beat_frames` frames: a play() writes one frame per
        1/fps strictly before its run time (so each run time is half a frame short of a
        whole number of frames), and the hold repeats the last picture (the renderer
        reuses it while :meth:`frame_key` says so). Phases are separate play()s so that
        what moved in one is painted once, as static, in the next.
        """
        fps = config.frame_rate
        n = beat_frames(line.seconds, fps)
        self.beat_log.append((line.id, self.frames_written))
        phases = [(animations, seconds, None)] if animations else []
        phases += [(tuple(ph[0]), ph[1], ph[2] if len(ph) > 2 else None) for ph in then]
        wanted = [
            max(1, round((secs if secs is not None else AnimationGroup(*a).run_time) * fps)) for a, secs, _ in phases
        ]
        if len(phases) > n:
            raise ValueError(f"beat {line.id!r} has {len(phases)} phases in {n} frames ({line.seconds:g} s)")
        if sum(wanted) > n:  # a short line (a brisk take): the animations quicken to fit inside it
            scale = n / sum(wanted)
            wanted = [max(1, int(w * scale)) for w in wanted]
        used = 0
        for (anims, _secs, start), frames in zip(phases, wanted, strict=True):
            if start is not None:
                start()
            # an introducer: the group itself is not added to the scene (adding it would pull its
            # members out of the groups they belong to, such as a driver's); each part adds its own
            self.play(AnimationGroup(*anims, run_time=(frames - 0.5) / fps, introducer=True))
            used += frames
        rest = n - used
        if rest > 0:
            self._holding = len(self.beat_log)
            # not Manim's frozen frame (which writes int(run_time·fps) frames): the same count as any play()
            self.play(Wait((rest - 0.5) / fps, frozen_frame=False))
            self._holding = None
        self.frames_written += n

    def settle(self, *statics: Mobject) -> None:
        """Mark ``statics`` as still from now on: the per-frame updater walk skips them."""
        roots = getattr(self, "static_roots", set())
        self.static_roots = roots | {id(m) for m in statics}

    def step_layer(self) -> tuple[int, list[Mobject], Mobject] | None:
        """The running driver's stepwise layer, for the renderer to paint once per step."""
        driver = getattr(self, "active_driver", None)
        return driver.layer() if driver is not None else None

    # -- helpers for the chapters --------------------------------------------------------
    def run_colours(self) -> list[str]:
        """The three runs' colours (main, compared, above lr_max), the same in every chapter.

        The theme's first three series colours: the first is the theme's run colour, and the
        series is measured to stay apart from the others, from the data points and from the
        heat map (``tests/test_palette.py``).
        """
        return list(self.th.series[:3])

    def run_context(self, trace: Trace) -> Context:
        return Context.for_trace(trace, self.th, self.max_keys, self.step_hold)

    def t_of(self, clock: StepClock, k: int) -> float:
        """The tracker value at which ``clock`` shows state ``k`` (its nearest key)."""
        keys = np.asarray(clock.keys)
        return float(np.argmin(np.abs(keys - k)))


# -- 1. the data ---------------------------------------------------------------------------
class DataChapter(LessonChapter):
    """The true line, the noise, the noisy points."""

    CHAPTER = "data"

    def setup(self) -> None:
        super().setup()
        self.data = DataPanel(self.run_context(self.runs.main), Box(0.2, -0.55, 12.6, 6.3), fits_in_view=False)
        d = self.data
        c = self.runs.main.config
        # each point first sits on the true line, then moves by its noise
        self.on_line = d.dots.copy()
        xs = self.runs.main.x[d.shown]
        for dot, x in zip(self.on_line, xs, strict=True):
            dot.move_to(d.map.point(float(x), c.slope * float(x) + c.bias))

    def beat_truth(self, line: ScriptLine) -> None:
        d = self.data
        self.beat(
            line,
            FadeIn(self.heading),
            FadeIn(VGroup(d.grid, d.frame, d.ticks, d.axis_labels)),
            Succession(Wait(0.5), Create(d.true_line, run_time=1.6)),
            Succession(Wait(1.4), FadeIn(d.legend[1], run_time=0.8)),
            seconds=2.4,
        )

    def beat_noise(self, line: ScriptLine) -> None:
        d = self.data
        self.beat(
            line,
            Succession(
                LaggedStart(*[FadeIn(p, scale=0.5) for p in self.on_line], lag_ratio=0.04, run_time=2.0),
                Transform(self.on_line, d.dots, run_time=1.6),
            ),
            Succession(Wait(2.4), FadeIn(d.legend[0], run_time=0.8)),
            seconds=3.6,
        )

    def beat_task(self, line: ScriptLine) -> None:
        d = self.data
        self.beat(line, d.true_line.animate.set_stroke(opacity=0.25), d.legend[1].animate.set_opacity(0.4), seconds=1.5)


# -- 2. the model and its cost --------------------------------------------------------------
class ModelChapter(LessonChapter):
    """The first guess, its residuals, their squares, their mean."""

    CHAPTER = "model"

    def setup(self) -> None:
        super().setup()
        t, th = self.runs.main, self.th
        self.data = DataPanel(self.run_context(t), Box(-3.5, -0.55, 6.8, 6.3), fits_in_view=False)
        d = self.data
        d.true_line.set_stroke(opacity=0.25)
        self.stage = VGroup(d.grid, d.frame, d.ticks, d.axis_labels, d.true_line)  # the points go over the line
        w0, b0 = float(t.w[0]), float(t.b[0])
        ends = d.line_endpoints(w0, b0)
        self.fit = Line(*ends, color=th.run, stroke_width=4.5) if ends else VMobject()
        self.fit.set_background_stroke(color=th.run_outline, width=8)
        self.fit_label = (
            label(f"ŷ = w·x + b  with  w = {fmt_num(w0)},  b = {fmt_num(b0)}", th, th.sizes.legend + 2, th.run)
            .next_to(d.axes.c2p(d.x_range[0], d.y_range[1]), UP, buff=0.12, aligned_edge=LEFT)
            .shift(RIGHT * 0.3)
        )
        # residuals at the first guess: from each drawn point to the line, clipped to the view
        x, y = t.x[d.shown], t.y[d.shown]
        yhat = w0 * x + b0
        self.residuals = VGroup()
        colour = getattr(th, "residual", th.muted)
        lo, hi = d.y_range
        for xi, yi, hi_ in zip(x, y, yhat, strict=True):
            end = min(max(float(hi_), lo), hi)
            if abs(end - yi) > 1e-12:
                self.residuals.add(Line(d.map.point(xi, yi), d.map.point(xi, end), color=colour, stroke_width=2))
        # the squares as bars over x, and their mean (the trace's loss at the first guess)
        sq = (w0 * t.x + b0 - t.y) ** 2
        top = float(sq.max()) * 1.08 or 1.0
        box = Box(3.75, -0.55, 6.3, 6.3)
        ax = plot_axes(
            [*d.x_range, nice_step(d.x_range[1] - d.x_range[0], 6)],
            [0, top, nice_step(top, 4)],
            box.width - 0.9,
            box.height - 1.0,
            th,
            [box.x + 0.35, box.y - 0.1, 0],
        )
        self.bar_axes = VGroup(
            plot_frame(ax, th),
            tick_labels(
                ax,
                ticks_between(*d.x_range, nice_step(d.x_range[1] - d.x_range[0], 6)),
                ticks_between(0.0, top, nice_step(top, 4)),
                th,
                th.sizes.tick,
            ),
            label("squared residuals  (ŷ − y)²", th, th.sizes.panel_title, th.muted).next_to(
                ax.c2p(d.x_range[0], top), UP, buff=0.35, aligned_edge=LEFT
            ),
            label("x", th, th.sizes.axis, th.muted).next_to(ax.c2p(d.x_range[1], 0), DOWN + RIGHT, buff=0.06),
        )
        dx = float(np.median(np.diff(np.sort(t.x)))) if t.x.size > 1 else 1.0
        width = abs(ax.c2p(dx, 0)[0] - ax.c2p(0, 0)[0]) * 0.7
        self.bars = VGroup()
        for xi, s in zip(t.x[d.shown], sq[d.shown], strict=True):
            h = max(ax.c2p(0, float(s))[1] - ax.c2p(0, 0)[1], 1e-3)
            self.bars.add(
                Rectangle(width=width, height=h, fill_color=colour, fill_opacity=0.85, stroke_width=0).move_to(
                    ax.c2p(float(xi), 0), aligned_edge=DOWN
                )
            )
        mean = float(t.loss[0])
        y_mean = ax.c2p(0, mean)[1]
        self.mean_line = DashedLine(
            [ax.c2p(d.x_range[0], 0)[0], y_mean, 0],
            [ax.c2p(d.x_range[1], 0)[0], y_mean, 0],
            color=th.run,
            stroke_width=3.5,
            dash_length=0.12,
        )
        text = VGroup(
            label("their mean", th, th.sizes.legend, th.muted),
            label(f"MSE = {fmt_num(mean)}", th, th.sizes.banner, th.run, weight="BOLD"),
        ).arrange(DOWN, buff=0.08)
        self.mean_label = boxed(text, th.background, 0.85, (0.18, 0.1), 0.08)
        self.mean_label.next_to(self.mean_line, UP, buff=0.12)
        if self.mean_label.get_top()[1] > ax.c2p(0, top)[1]:
            self.mean_label.next_to(self.mean_line, DOWN, buff=0.12)
        # over the lowest bars, where the label hides the least
        low = float(t.x[int(np.argmin(sq))])
        self.mean_label.set_x(ax.c2p(low, 0)[0])
        lo_x, hi_x = ax.c2p(d.x_range[0], 0)[0], ax.c2p(d.x_range[1], 0)[0]
        self.mean_label.shift(RIGHT * max(0.0, lo_x - self.mean_label.get_left()[0]))
        self.mean_label.shift(LEFT * max(0.0, self.mean_label.get_right()[0] - hi_x))
        self.bar_ax = ax

    def beat_guess(self, line: ScriptLine) -> None:
        self.beat(
            line,
            FadeIn(self.heading),
            FadeIn(self.stage),
            Succession(Wait(0.8), Create(self.fit, run_time=1.2)),
            Succession(Wait(0.8), FadeIn(self.data.dots, run_time=0.4)),  # added after the line: drawn over it
            Succession(Wait(1.2), FadeIn(self.fit_label, run_time=0.8)),
            seconds=2.2,
        )

    def beat_residuals(self, line: ScriptLine) -> None:
        self.beat(line, LaggedStart(*[Create(r) for r in self.residuals], lag_ratio=0.05), seconds=2.2)

    def beat_squares(self, line: ScriptLine) -> None:
        self.beat(
            line,
            FadeIn(self.bar_axes),
            Succession(
                Wait(0.4), LaggedStart(*[GrowFromEdge(b, DOWN) for b in self.bars], lag_ratio=0.04, run_time=2.2)
            ),
            seconds=2.8,
        )

    def beat_mse(self, line: ScriptLine) -> None:
        self.beat(
            line,
            Create(self.mean_line, run_time=1.0),
            Succession(Wait(0.8), FadeIn(self.mean_label, run_time=0.8)),
            seconds=1.8,
        )


# -- 3. the loss surface ---------------------------------------------------------------------
class CentredCamera(ShiftedThreeDCamera):
    """The 3-D camera with the surface in the middle of the frame (the chapter has no side panels)."""

    screen_shift = np.array([0.0, -0.2, 0.0])  # set per scene: see SurfaceChapter.setup


class SurfaceChapter(LessonChapter, ThreeDScene):
    """The surface rises; the first guess and the minimum on it; the camera turns down to the map."""

    CHAPTER = "surface"
    PHI_DEGREES: ClassVar[float] = 64.0  # the camera while the surface rises: from the vertical
    THETA_DEGREES: ClassVar[float] = -120.0  # and around it
    ZOOM: ClassVar[float] = 1.0  # the surface fills the frame (there are no side panels)
    SCREEN_Y: ClassVar[float] = -0.25  # where the picture's middle sits (below the heading)
    SIZE: ClassVar[float] = 6.2  # the surface's side (scene units)

    CAMERA_CLASS = CentredCamera

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("camera_class", CentredCamera)
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        super().setup()
        t, th = self.runs.main, self.th
        self.set_camera_orientation(
            phi=self.PHI_DEGREES * math.pi / 180, theta=self.THETA_DEGREES * math.pi / 180, zoom=self.ZOOM
        )
        self.ctx = self.run_context(t)

        self.surface = SurfacePanel(self.ctx, self._rotation_now, size=self.SIZE, z_length=3.6)
        self.surface.bake_shading(self.camera)
        # centre the surface's box on screen for the opening camera; the map (from above) is
        # centred on the surface's middle, and the closing move slides from one to the other
        sp = self.surface
        corners = np.array(
            [sp.point3(w, b, z) for w in sp.w_range for b in sp.b_range for z in (0.0, sp.z_max)], dtype=float
        )
        self.camera.screen_shift = np.zeros(3)
        self._rotation_now()
        seen = self.camera.project_points(corners.copy())
        middle = (seen.min(axis=0) + seen.max(axis=0)) / 2
        self.opening_shift = np.array([-middle[0], self.SCREEN_Y - middle[1], 0.0])
        # the closing view from straight above lands where chapter 4's contour map will be, at its scale
        box = fit_layout()["contour"]
        aw, ah = box.width - 0.85, box.height - 0.75  # the contour panel's plot area
        w_span, b_span = sp.w_range[1] - sp.w_range[0], sp.b_range[1] - sp.b_range[0]
        per_unit = 1 / max(w_span / aw, b_span / ah)  # the map's scale there (equal aspect)
        self.map_zoom = per_unit * max(w_span, b_span) / self.SIZE
        self.map_shift = np.array([box.x + 0.35, box.y + 0.2, 0.0])
        self.camera.screen_shift = self.opening_shift.copy()
        self.slide = ValueTracker(0.0)  # 0: the opening view's centring, 1: the map's
        self.slide.add_updater(
            lambda m: setattr(
                self.camera, "screen_shift", self.opening_shift + m.get_value() * (self.map_shift - self.opening_shift)
            )
        )
        self.tracker = ValueTracker(0.0)
        self.driver = StepDriver(self.ctx.clock, [self.surface])
        self.driver.push(0.0)
        # chapter 4's map, as it draws it: the view from above fades into it (the chapters meet on it)
        self.map_panel, _ = training_map(self.ctx, self.runs)
        proj = self.camera.project_point
        self.axis_labels = self.surface.labels_for(self.camera.project_points)  # clear of the surface's rim
        w0, b0, l0 = float(t.w[0]), float(t.b[0]), float(t.loss[0])
        w_opt, b_opt, l_opt = t.optimum
        self.start_label = self._callout(
            f"first guess  L = {fmt_num(l0)}", th.run, proj(self.surface.point3(w0, b0, l0)), UP + RIGHT
        )
        self.best = Dot(proj(self.surface.point3(w_opt, b_opt, l_opt)), radius=0.1, color=th.optimum)
        self.best.set_stroke(color=th.run_outline, width=2)
        self.best_label = self._callout(
            f"minimum  w = {fmt_num(w_opt)},  b = {fmt_num(b_opt)},  L* = {fmt_num(l_opt, 3)}",
            th.optimum,
            self.best.get_center(),
            DOWN,
        )

    def _rotation_now(self) -> np.ndarray:
        """The camera's rotation now (its cached matrix is only refreshed when it draws)."""
        self.camera.reset_rotation_matrix()
        return self.camera.get_rotation_matrix()

    def _callout(self, text: str, colour: str, at: np.ndarray, direction: np.ndarray) -> VMobject:
        th = self.th
        mob = boxed(label(text, th, th.sizes.marker + 2, colour), th.background, 0.8, (0.16, 0.1), 0.06)
        mob.next_to(at, direction, buff=0.2)
        # keep it on screen
        fw, fh = config.frame_width / 2 - 0.2, config.frame_height / 2 - 0.2
        mob.shift(RIGHT * max(0.0, -fw - mob.get_left()[0]) + LEFT * max(0.0, mob.get_right()[0] - fw))
        mob.shift(UP * max(0.0, -fh - mob.get_bottom()[1]) + DOWN * max(0.0, mob.get_top()[1] - fh))
        return mob

    def beat_every(self, line: ScriptLine) -> None:
        s = self.surface.static
        floor = self.surface.point3(0.0, 0.0, 0.0) * np.array([0.0, 0.0, 1.0])  # the plane L = 0
        s.stretch(0.02, 2, about_point=floor)
        set_opacity(self.axis_labels, 0)  # they fade in once the surface has risen
        self.add_fixed_in_frame_mobjects(self.heading, self.axis_labels)
        self.add(s)
        self.beat(
            line,
            FadeIn(self.heading),
            s.animate(run_time=2.0).stretch(50.0, 2, about_point=floor),
            Succession(Wait(1.5), AnimationGroup(*fade_to(self.axis_labels, 1, run_time=0.7))),
            seconds=2.2,
        )

    def beat_start(self, line: ScriptLine) -> None:
        self.add(self.driver.group)  # the first state (the tracker stays at 0 in this chapter)
        self.add_fixed_in_frame_mobjects(self.start_label)
        self.beat(line, FadeIn(self.driver.group), FadeIn(self.start_label), seconds=1.0)

    def beat_bottom(self, line: ScriptLine) -> None:
        self.add_fixed_in_frame_mobjects(self.best, self.best_label)
        self.beat(line, FadeIn(self.best, scale=0.5), FadeIn(self.best_label), seconds=1.0)

    def beat_map(self, line: ScriptLine) -> None:
        fading = VGroup(self.axis_labels, self.start_label, self.best, self.best_label)
        self.driver.attach(self.tracker)  # the point is redrawn facing the turning camera
        self.add(self.slide)
        # then the view from above (flat faces, its own colours, no labels) fades into chapter 4's
        # map on the same spot and scale: its heat map, labelled contours, ticks and the minimum
        faces = self.surface.surface.submobjects
        alphas = [face.fill_rgbas[:, 3].copy() for face in faces]
        lines = [m for m in self.surface.floor.get_family() if len(m.stroke_rgbas)]
        strokes = [m.stroke_rgbas[:, 3].copy() for m in lines]
        veil = ValueTracker(0.0)

        def thin(_m: Mobject) -> None:
            # the faces' own opacity (their colours were lit once: see bake_shading), and the floor's lines
            for mob, alpha in zip(faces, alphas, strict=True):
                mob.fill_rgbas[:, 3] = alpha * (1.0 - veil.get_value())
            for mob, alpha in zip(lines, strokes, strict=True):
                mob.stroke_rgbas[:, 3] = alpha * (1.0 - veil.get_value())

        def cross_fade() -> None:
            self.driver.group.clear_updaters()  # the camera has stopped
            self.surface.static.add_updater(thin)
            self.add_fixed_in_frame_mobjects(self.map_panel.static)

        self.beat(
            line,
            self.camera.phi_tracker.animate.set_value(0.0),
            self.camera.theta_tracker.animate.set_value(-90 * math.pi / 180),
            # far away and zoomed in: the perspective flattens into a map that fills the frame
            self.camera.focal_distance_tracker.animate.set_value(400.0),
            self.camera.zoom_tracker.animate.set_value(self.map_zoom),
            self.slide.animate.set_value(1.0),
            fading.animate(rate_func=lambda a: min(1.0, 4 * a)).set_opacity(0),
            seconds=2.5,
            then=[
                (
                    [
                        FadeIn(self.map_panel.static),
                        veil.animate.set_value(1.0),
                        FadeOut(self.heading),  # chapter 4 writes its own
                        FadeOut(self.driver.group),  # chapter 4's point appears with its arrow
                    ],
                    1.2,
                    cross_fade,
                )
            ],
        )


# -- 4. training -------------------------------------------------------------------------------
def _training_layout() -> dict[str, Box]:
    lay = fit_layout()
    lay["data"] = Box(-3.55, 1.08, 6.5, 2.85)
    lay["readout"] = Box(-3.55, -0.78, 6.5, 0.72)
    return lay


def training_map(ctx: Context, runs: LessonRuns) -> tuple[ContourPanel, GradientArrow]:
    """Chapter 4's map and its gradient arrow (the minimum's label clear of the arrow's first steps).

    Chapter 3 ends on this map and chapter 4 opens on it: one picture across the seam.
    """
    from descent.scenes.panels.gradient import GradientArrow

    contour = ContourPanel(ctx, _training_layout()["contour"])
    arrow = GradientArrow(ctx, contour)
    # the arrow is drawn over the map for the first steps: the minimum's label keeps clear of it
    contour.clear_minimum_label(arrow.swept_points(early_step(runs.main)))
    return contour, arrow


class TrainingChapter(LessonChapter):
    """The fit scene's panels, with the gradient and the update rule for the first steps."""

    CHAPTER = "training"

    def setup(self) -> None:
        from descent.scenes.panels.gradient import UpdateReadout

        super().setup()
        lay = _training_layout()
        self.ctx = self.run_context(self.runs.main)
        self.header = Header(self.ctx, lay["header"], self.heading_text())
        self.data = DataPanel(self.ctx, lay["data"])
        self.contour, self.arrow = training_map(self.ctx, self.runs)  # the map chapter 3 ends on
        self.loss = LossPanel(self.ctx, lay["loss"])
        self.readout = UpdateReadout(self.ctx, lay["readout"])
        self.panels = [self.header, self.data, self.contour, self.loss, self.readout, self.arrow]
        self.tracker = ValueTracker(0.0)
        self.driver = StepDriver(self.ctx.clock, self.panels)
        self.driver.push(0.0)

    def _to(self, k: int, seconds: float) -> Animation:
        return self.tracker.animate(run_time=seconds, rate_func=lambda a: a).set_value(self.t_of(self.ctx.clock, k))

    def beat_gradient(self, line: ScriptLine) -> None:
        statics = [p.static for p in (self.header, self.data, self.contour, self.loss)]
        self.driver.attach(self.tracker)
        set_opacity(self.readout.static, 0)
        set_opacity(self.readout.stepwise, 0)
        # the map is there from the first frame: chapter 3 ends on it (see training_map)
        self.add(self.contour.static)
        # each other part joins the scene as its fade starts, in this order: the moving parts over the panels
        parts = [p.static for p in (self.header, self.data, self.loss)] + [self.readout.static, self.driver.group]
        self.beat(line, LaggedStart(*[FadeIn(s) for s in parts], lag_ratio=0.2, run_time=2.0), seconds=2.0)
        self.settle(*statics)
        self.active_driver = self.driver

    def beat_rule(self, line: ScriptLine) -> None:
        self.beat(line, *fade_to(self.readout.static, 1), *fade_to(self.readout.stepwise, 1))

    def beat_first(self, line: ScriptLine) -> None:
        self.beat(line, self._to(1, min(2.5, 0.6 * line.seconds)))

    def beat_early(self, line: ScriptLine) -> None:
        self.beat(line, self._to(early_step(self.runs.main), min(3.0, 0.6 * line.seconds)))

    def beat_end(self, line: ScriptLine) -> None:
        # the gradient and the rule have been seen: they fade, and the driver stops updating them
        self.driver.panels = [p for p in self.driver.panels if p not in (self.arrow, self.readout)]
        fade = Group(self.arrow.dynamic, self.readout.static, self.readout.stepwise)
        self.active_driver = None  # the fade is drawn frame by frame, then the descent step by step
        self.beat(
            line,
            *fade_to(fade, 0),
            seconds=0.8,
            then=[
                (
                    [self._to(self.runs.main.last_k, 0.65 * line.seconds)],
                    0.65 * line.seconds,
                    lambda: setattr(self, "active_driver", self.driver),
                )
            ],
        )


# -- 5. learning rates ---------------------------------------------------------------------------
class RatesChapter(LessonChapter):
    """lr against twice lr on one map; the limit lr_max = 2/λ_max; a run above it."""

    CHAPTER = "rates"

    def setup(self) -> None:
        import dataclasses

        super().setup()
        th = self.th
        lay = fit_layout()
        main, fast, wild = self.runs.main, self.runs.faster, self.runs.diverging
        # part one: two runs on one tracker
        pair = [main, fast]
        longest = max(pair, key=lambda t: t.n_states)
        self.ctx = Context.for_trace(
            dataclasses.replace(longest, window=union_window(pair)), th, self.max_keys, self.step_hold
        )
        clocks = [
            StepClock(
                t.w, t.b, t.loss, key_steps(t.last_k, self.max_keys), log_loss=self.ctx.log_loss, hold=self.step_hold
            )
            for t in pair
        ]
        runs = [Run(t, self.run_colours()[i], clocks[i]) for i, t in enumerate(pair)]
        title = self.heading_text()
        self.a_panels = [
            CompareHeader(self.ctx, lay["header"], pair, title),
            DataPanel(self.ctx, lay["data"], runs=runs),
            ContourPanel(self.ctx, lay["contour"], runs=runs),
            LossPanel(self.ctx, lay["loss"], runs=runs),
        ]
        legend = Legend(self.ctx, runs, [0.0, 0.0, 0])
        box = legend.static[0][0]
        corner = self.a_panels[2].clearest_corner(box.width, box.height)
        legend.static.shift(corner - box.get_corner(UP + LEFT))
        self.a_panels.append(legend)
        self.a_tracker = ValueTracker(0.0)
        self.a_driver = StepDriver(self.ctx.clock, self.a_panels, run_clocks=clocks)
        self.a_driver.push(0.0)
        # the limit: the three learning rates on a line, lr_max marked
        self.limit = self._limit_picture()
        # part two: the diverging run alone
        wctx = self.run_context(wild)
        c = lay["contour"]
        wild_run = [Run(wild, self.run_colours()[2], wctx.clock)]  # its colour on the line of learning rates
        self.b_contour = ContourPanel(wctx, c, runs=wild_run)
        self.b_panels = [
            Header(wctx, lay["header"], self.heading_text(": above lr_max")),
            DataPanel(wctx, lay["data"], runs=wild_run),
            self.b_contour,
            LossPanel(wctx, lay["loss"], runs=wild_run),
            Banner(wctx, anchor=[c.x + 0.35, c.top - 0.95, 0], width=c.width - 1.2, contains=self.b_contour.contains),
        ]
        banner = self.b_panels[-1]
        if banner.active:  # no contour label half under the banner
            self.b_contour.keep_clear(*[b for b in (banner.box, banner.exit_box) if b is not None])
        self.b_tracker = ValueTracker(0.0)
        self.b_driver = StepDriver(wctx.clock, self.b_panels)
        self.b_driver.push(0.0)
        self.b_clock = wctx.clock

    def _limit_picture(self) -> VGroup:
        th = self.th
        main, fast, wild = self.runs.main, self.runs.faster, self.runs.diverging
        lr_max = main.lr_max
        lam = max(main.hessian_eigenvalues)
        top = max(wild.config.lr, lr_max) * 1.2
        x0, x1, y = -5.6, 5.6, -0.4

        def at(v: float) -> np.ndarray:
            return np.array([x0 + (x1 - x0) * v / top, y, 0.0])

        axis = Line(at(0), at(top), color=th.axis, stroke_width=3)
        zero = label("0", th, th.sizes.tick, th.muted).next_to(at(0), DOWN, buff=0.2)
        name = label("learning rate", th, th.sizes.axis, th.muted).next_to(at(top), UP, buff=0.2, aligned_edge=RIGHT)
        safe = Line(at(0), at(lr_max), color=th.optimum, stroke_width=10, stroke_opacity=0.35)
        unsafe = Line(at(lr_max), at(top), color=th.warn, stroke_width=10, stroke_opacity=0.35)
        limit = DashedLine(at(lr_max) + DOWN * 0.9, at(lr_max) + UP * 1.3, color=th.warn, stroke_width=3)
        limit_label = label(f"lr_max = {fmt_num(lr_max, 3)}", th, th.sizes.banner, th.warn_ink, weight="BOLD").next_to(
            limit, UP, buff=0.1
        )
        marks = VGroup()
        c0, c1, c2 = self.run_colours()
        for t, colour, side in ((main, c0, UP), (fast, c1, UP), (wild, c2, DOWN)):
            v = t.config.lr
            dot = Dot(at(v), radius=0.11, color=colour).set_stroke(color=th.run_outline, width=2)
            text = label(f"lr {v:g}", th, th.sizes.legend + 2, colour).next_to(dot, side, buff=0.22)
            marks.add(VGroup(dot, text))
        formula = VGroup(
            label("lr_max = 2 / λ_max", th, 40, th.text, weight="BOLD"),
            label(
                f"λ_max = {fmt_num(lam)}: the steepest curvature of L(w, b)   ·   2 / {fmt_num(lam)} = "
                f"{fmt_num(lr_max, 3)}",
                th,
                th.sizes.values,
                th.muted,
            ),
        ).arrange(DOWN, buff=0.3)
        formula.move_to([0, 2.0, 0])
        return VGroup(formula, safe, unsafe, axis, zero, name, limit, limit_label, marks)

    def beat_faster(self, line: ScriptLine) -> None:
        parts = [*[p.static for p in self.a_panels], self.a_driver.group]  # the moving parts over the panels
        self.a_driver.attach(self.a_tracker)
        self.beat(line, LaggedStart(*[FadeIn(s) for s in parts], lag_ratio=0.2, run_time=2.0), seconds=2.0)
        self.settle(*parts[:-1])
        self.active_driver = self.a_driver

    def beat_compare(self, line: ScriptLine) -> None:
        t_max = self.a_driver.clock.t_max
        self.beat(
            line,
            self.a_tracker.animate(run_time=0.8 * line.seconds, rate_func=lambda a: a).set_value(t_max),
            seconds=0.8 * line.seconds,
        )

    def beat_limit(self, line: ScriptLine) -> None:
        # one FadeOut per mobject of the scene: Scene.remove() does not look inside a new Group
        part_a = [p.static for p in self.a_panels] + [self.a_driver.group]
        self.a_driver.group.clear_updaters()
        self.active_driver = None
        self.beat(
            line,
            *[FadeOut(m) for m in part_a],
            seconds=0.8,
            then=[((FadeIn(self.heading), FadeIn(self.limit, lag_ratio=0.1)), 2.2)],
        )

    def beat_diverge(self, line: ScriptLine) -> None:
        parts = [*[p.static for p in self.b_panels], self.b_driver.group]
        self.b_driver.attach(self.b_tracker)
        self.settle(*parts[:-1])
        grow = max(0.8 * line.seconds - 1.6, 1.0)
        run = self.b_tracker.animate(run_time=grow, rate_func=lambda a: a).set_value(self.b_clock.t_max)
        self.beat(
            line,
            FadeOut(self.limit),
            FadeOut(self.heading),
            seconds=0.8,
            then=[
                ([FadeIn(s) for s in parts], 0.8),
                ([run], grow, lambda: setattr(self, "active_driver", self.b_driver)),
            ],
        )


# -- 6. summary -----------------------------------------------------------------------------------
class SummaryChapter(LessonChapter):
    """The final fit beside what each learning rate reached."""

    CHAPTER = "summary"

    def setup(self) -> None:
        super().setup()
        th, t = self.th, self.runs.main
        ctx = self.run_context(t)
        self.data = DataPanel(ctx, Box(-3.5, -0.55, 6.8, 6.3), fits_in_view=False)
        d = self.data
        ends = d.line_endpoints(float(t.w[-1]), float(t.b[-1]))
        self.fit = Line(*ends, color=th.run, stroke_width=4.5) if ends else VMobject()
        self.fit.set_background_stroke(color=th.run_outline, width=8)
        self.left = Group(d.static, self.fit, d.dots)  # the points over the line, as in every data panel
        self.table = self._table()

    def _table(self) -> VGroup:
        th = self.th
        size = th.sizes.values + 4  # the chapter has room: the table reads from the back of the hall
        main, fast, wild = self.runs.main, self.runs.faster, self.runs.diverging
        w_opt, b_opt, l_opt = main.optimum
        head = ["", "w", "b", "loss"]
        rows = [(f"lr {t.config.lr:g}", t) for t in (main, fast, wild)]
        cells = [[label(h, th, size, th.muted, weight="BOLD") for h in head]]
        colours = self.run_colours()  # as in chapter 5
        for (name, t), colour in zip(rows, colours, strict=True):
            cells.append(
                [
                    label(name, th, size, colour, weight="BOLD"),
                    label(fmt_num(float(t.w[-1])), th, size, th.text),
                    label(fmt_num(float(t.b[-1])), th, size, th.text),
                    label(fmt_num(float(t.loss[-1])), th, size, th.text),
                ]
            )
        cells.append(
            [
                label("best line", th, size, th.optimum, weight="BOLD"),
                label(fmt_num(w_opt), th, size, th.optimum),
                label(fmt_num(b_opt), th, size, th.optimum),
                label(fmt_num(l_opt, 3), th, size, th.optimum),
            ]
        )
        col_x = [0.0, 2.7, 4.5, 6.4]
        rows_g = VGroup()
        for r, row in enumerate(cells):
            g = VGroup()
            for cx, cell in zip(col_x, row, strict=True):
                cell.move_to([cx, -0.72 * r, 0], aligned_edge=LEFT if cx == 0 else RIGHT)
                g.add(cell)
            rows_g.add(g)
        steps = f"after {steps_text(main.last_k)} from w = {fmt_num(float(main.w[0]))}, b = {fmt_num(float(main.b[0]))}"
        caption = label(steps, th, th.sizes.subtitle + 3, th.muted)
        table = VGroup(caption, rows_g)
        caption.next_to(rows_g, UP, buff=0.4, aligned_edge=LEFT)
        limit = label(f"lr_max = 2 / λ_max = {fmt_num(main.lr_max, 3)}", th, size, th.warn_ink)
        limit.next_to(rows_g, DOWN, buff=0.5, aligned_edge=LEFT)
        table.add(limit)
        if table.width > 6.3:  # long numbers: the table shrinks to the space beside the plot
            table.scale_to_fit_width(6.3)
        table.move_to([3.75, -0.2, 0])
        return table

    def beat_fit(self, line: ScriptLine) -> None:
        self.beat(
            line,
            FadeIn(self.heading),
            FadeIn(self.left),
            Succession(Wait(0.8), FadeIn(self.table[:2], lag_ratio=0.15, run_time=1.6)),
            seconds=2.4,
        )

    def beat_learned(self, line: ScriptLine) -> None:
        self.beat(line, FadeIn(self.table[2:]), seconds=1.0)


#: chapter key → its scene, in the lesson's order.
CHAPTER_SCENES: dict[str, type[LessonChapter]] = {
    cls.CHAPTER: cls
    for cls in (DataChapter, ModelChapter, SurfaceChapter, TrainingChapter, RatesChapter, SummaryChapter)
}
