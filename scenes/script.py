"""The lesson's narration script: one plain-language line per beat, built from the runs.

Every number in the script comes from a trace or its config, never typed in.
Each :class:`Line` has a stable id (``chapter.beat``), its chapter, its text and
its length in seconds; the lesson scenes time each beat by its line, so the
length of the video is decided here and nowhere else (:func:`reading_seconds`
estimates it from the text today; recorded or synthesised speech can set it
later). Nothing here imports Manim or torch.

Examples
--------
>>> from descent.scenes.script import CHAPTERS, lesson_script, reading_seconds
>>> [c.key for c in CHAPTERS]
['data', 'model', 'surface', 'training', 'rates', 'summary']
>>> reading_seconds("Five short words right here.") >= 2.0
True
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from descent.scenes.helpers import fmt_num
from descent.trainer import OPTIMIZERS, Config, Trace

__all__ = [
    "Chapter",
    "CHAPTERS",
    "Line",
    "Script",
    "ScriptError",
    "LessonRuns",
    "lesson_configs",
    "lesson_script",
    "reading_seconds",
    "select_chapters",
    "beat_frames",
    "check_lesson_config",
    "clip_script",
    "check_runs",
    "early_step",
    "steps_text",
    "WORDS_PER_SECOND",
    "GAP_SECONDS",
]

#: A calm lecture pace (150 words a minute); a number counts as two words.
WORDS_PER_SECOND = 2.5
#: The pause after each line, before the next beat.
GAP_SECONDS = 0.6
#: No beat is shorter than this (an animation needs time to be seen).
MIN_SECONDS = 2.0
#: Nor longer: a line that would take longer is a line to split.
MAX_SECONDS = 120.0
#: The longest line of text a script file may hold, and the most lines.
MAX_TEXT = 600
MAX_LINES = 200
MAX_SCRIPT_BYTES = 1 << 20


class ScriptError(ValueError):
    """A script file or a chapter selection is not usable; the message is one line."""


@dataclass(frozen=True)
class Chapter:
    """One chapter of the lesson: its number (1-based), file-name key and title."""

    number: int
    key: str
    title: str


#: The lesson's chapters, in order.
CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "data", "The data"),
    Chapter(2, "model", "The model and its cost"),
    Chapter(3, "surface", "The loss surface"),
    Chapter(4, "training", "Training"),
    Chapter(5, "rates", "Learning rates"),
    Chapter(6, "summary", "Summary"),
)
_BY_KEY = {c.key: c for c in CHAPTERS}


def reading_seconds(text: str) -> float:
    """How long ``text`` takes to say at a lecture pace, plus the pause after it.

    The one place a line's length is estimated: numbers count double (they are
    read slowly), and no beat is shorter than :data:`MIN_SECONDS`.

    >>> reading_seconds("The loss fell from 835.8 to 26.15.")  # 5 words and 2 numbers: 9 / 2.5 + 0.6
    4.2
    """
    words = text.split()
    weight = sum(2 if any(ch.isdigit() for ch in w) else 1 for w in words)
    return round(min(max(weight / WORDS_PER_SECOND + GAP_SECONDS, MIN_SECONDS), MAX_SECONDS), 2)


def beat_frames(seconds: float, fps: float) -> int:
    """Frames a beat of ``seconds`` lasts at ``fps`` (whole frames, at least one)."""
    return max(1, int(round(seconds * fps)))


@dataclass(frozen=True)
class Line:
    """One beat's narration."""

    id: str
    chapter: str
    text: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The line as it appears in the script's JSON."""
        return {"id": self.id, "chapter": self.chapter, "text": self.text, "seconds": self.seconds}


@dataclass(frozen=True)
class Script:
    """The lines of the lesson, in order."""

    lines: tuple[Line, ...]
    title: str = "Gradient descent fits a line"
    config: dict | None = None  # the config of the runs whose numbers the lines say

    @property
    def ids(self) -> list[str]:
        return [ln.id for ln in self.lines]

    def chapter(self, key: str) -> list[Line]:
        """The lines of one chapter, in order."""
        return [ln for ln in self.lines if ln.chapter == key]

    def line(self, line_id: str) -> Line:
        """The line with id ``line_id`` (KeyError when there is none)."""
        for ln in self.lines:
            if ln.id == line_id:
                return ln
        raise KeyError(line_id)

    def seconds(self, key: str) -> float:
        """A chapter's length as the script plans it."""
        return sum(ln.seconds for ln in self.chapter(key))

    def to_dict(self) -> dict[str, Any]:
        """The script as JSON data (``descent.script/1``)."""
        out: dict[str, Any] = {"schema": "descent.script/1", "title": self.title}
        if self.config is not None:
            out["config"] = dict(self.config)
        out["lines"] = [ln.to_dict() for ln in self.lines]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        """The script to read from: chapter headings, then each line with its id."""
        out = [f"# {self.title}", ""]
        groups = [(f"{ch.number}. {ch.title}", self.chapter(ch.key)) for ch in CHAPTERS]
        others = [ln for ln in self.lines if ln.chapter not in _BY_KEY]  # a clip's lines
        groups.append(("The clip", others))
        for heading, lines in groups:
            if not lines:
                continue
            out += [f"## {heading}", ""]
            for ln in lines:
                out += [f"**{ln.id}** ({ln.seconds:g} s)  ", ln.text, ""]
        return "\n".join(out)

    def reworded(self, edited: Script) -> Script:
        """This script with the texts (and longer lengths) of ``edited``.

        ``edited`` holds some or all of this script's lines, by id and in order (a
        script printed for some chapters only is fine); a line it lacks keeps its text.
        A line's length is the longer of the edited file's ``seconds`` and the reading
        estimate of its new text, so a reworded line is never cut short.
        """
        if edited.config is not None and self.config is not None and edited.config != self.config:
            key = next(k for k in self.config if edited.config.get(k) != self.config[k])
            raise ScriptError(
                f"the script was printed for {key} = {edited.config.get(key)!r} and this lesson has "
                f"{key} = {self.config[key]!r}: print it again with `descent script lesson` and these options"
            )
        mine = self.ids
        for line_id in edited.ids:
            if line_id not in mine:
                raise ScriptError(f"unknown line id {line_id!r} in the script (see `descent script lesson`)")
        if len(set(edited.ids)) != len(edited.ids):
            dup = next(i for i in edited.ids if edited.ids.count(i) > 1)
            raise ScriptError(f"line {dup!r} appears twice in the script")
        if [i for i in mine if i in set(edited.ids)] != edited.ids:
            raise ScriptError("the script's lines are out of order (keep the order of `descent script lesson`)")
        new = {ln.id: ln for ln in edited.lines}
        lines = tuple(
            Line(old.id, old.chapter, new[old.id].text, max(new[old.id].seconds, reading_seconds(new[old.id].text)))
            if old.id in new
            else old
            for old in self.lines
        )
        return Script(lines, edited.title or self.title, self.config)

    def with_audio(self, seconds: Mapping[str, float], gap: float = GAP_SECONDS) -> Script:
        """This script timed by recorded or synthesised speech: each line lasts its audio plus ``gap``
        (never less than :data:`MIN_SECONDS`, so a beat still has time to be seen); lines without
        audio keep their length. The audio is never cut or sped up: the animation stretches to it.
        """
        lines = tuple(
            Line(ln.id, ln.chapter, ln.text, round(max(float(seconds[ln.id]) + gap, MIN_SECONDS), 3))
            if ln.id in seconds
            else ln
            for ln in self.lines
        )
        return Script(lines, self.title, self.config)

    def only(self, keys: Iterable[str]) -> Script:
        """The lines of the chapters ``keys`` only (a script printed for some chapters)."""
        chosen = set(keys)
        return Script(tuple(ln for ln in self.lines if ln.chapter in chosen), self.title, self.config)

    @classmethod
    def from_dict(cls, d: Any, where: str = "script") -> Script:
        """A script from its JSON data, every field checked (:class:`ScriptError`, one line)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("lines"), list):
            raise ScriptError(f'{where}: expected an object with a list of "lines"')
        raw = d["lines"]
        if not raw or len(raw) > MAX_LINES:
            raise ScriptError(f"{where}: expected 1 to {MAX_LINES} lines (got {len(raw)})")
        lines = []
        for i, item in enumerate(raw, 1):
            if not isinstance(item, Mapping):
                raise ScriptError(f"{where}: line {i} is not an object")
            line_id, text = item.get("id"), item.get("text")
            if not isinstance(line_id, str) or not line_id:
                raise ScriptError(f'{where}: line {i} has no "id"')
            if not isinstance(text, str) or not text.strip():
                raise ScriptError(f'{where}: line {line_id!r} has no "text"')
            text = " ".join(text.split())
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ScriptError(
                    f"{where}: line {line_id!r} holds a character that is not text (a lone surrogate)"
                ) from None
            if len(text) > MAX_TEXT:
                raise ScriptError(f"{where}: line {line_id!r} is longer than {MAX_TEXT} characters")
            seconds = item.get("seconds", 0.0)
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
                raise ScriptError(f'{where}: line {line_id!r} has a bad "seconds" ({seconds!r})')
            if not 0 <= seconds <= MAX_SECONDS:
                raise ScriptError(f'{where}: line {line_id!r} "seconds" must be 0 to {MAX_SECONDS:g}')
            chapter = line_id.partition(".")[0]
            lines.append(Line(line_id, chapter, text, float(seconds)))
        title = d.get("title")
        if title is not None and (not isinstance(title, str) or len(title) > MAX_TEXT):
            raise ScriptError(f'{where}: "title" must be a short text')
        config = d.get("config")
        if config is not None and not isinstance(config, Mapping):
            raise ScriptError(f'{where}: "config" must be an object')
        return cls(tuple(lines), " ".join(title.split()) if title else "", dict(config) if config else None)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Script:
        """Read an edited script (JSON as ``descent script lesson`` prints it)."""
        from descent.trainer.inputs import InputFileError, read_limited

        where = str(path)
        try:
            data = read_limited(Path(path), MAX_SCRIPT_BYTES, what="script")
        except InputFileError as exc:
            raise ScriptError(str(exc)) from None
        try:
            d = json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise ScriptError(f"{where}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise ScriptError(f"{where}: not JSON ({exc.msg} at line {exc.lineno})") from None
        except (RecursionError, ValueError) as exc:  # nested too deep; a number too long to read
            raise ScriptError(f"{where}: not a script ({type(exc).__name__})") from None
        return cls.from_dict(d, where)


def select_chapters(spec: str | Iterable[int | str] | None) -> list[Chapter]:
    """The chapters named by ``"1,4,5"`` (numbers or keys); all when ``spec`` is None.

    >>> [c.key for c in select_chapters("1, 4,rates")]
    ['data', 'training', 'rates']
    """
    if spec is None:
        return list(CHAPTERS)
    if not isinstance(spec, (str, list, tuple)):
        raise ScriptError(f"chapters must be a text such as '1,4' or a list (got {type(spec).__name__})")
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    chosen: set[int] = set()
    for item in items:
        if not item:
            continue
        if item.isascii() and item.isdigit() and 1 <= int(item) <= len(CHAPTERS):
            chosen.add(int(item))
        elif item in _BY_KEY:
            chosen.add(_BY_KEY[item].number)
        else:
            names = ", ".join(f"{c.number} {c.key}" for c in CHAPTERS)
            raise ScriptError(f"unknown chapter {item[:40]!r} (choose from {names})")
    if not chosen:
        raise ScriptError("no chapter chosen")
    return [c for c in CHAPTERS if c.number in chosen]


# -- the runs the lesson draws ---------------------------------------------------
_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def _nice_above(v: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above v."""
    e = math.floor(math.log10(v))
    for m in _NICE:
        if m * 10.0**e >= v * (1 - 1e-12):
            return float(f"{m * 10.0**e:.6g}")
    return float(f"{10.0 ** (e + 1):.6g}")


def check_lesson_config(config: Config) -> None:
    """Refuse, before anything is trained, a config the lesson cannot tell (one line)."""
    if not OPTIMIZERS[config.optimizer].plain_gd or config.batch_size is not None:
        raise ScriptError(
            "the lesson teaches plain full-batch gradient descent: use --optimizer sgd without --batch-size"
        )


def lesson_configs(config: Config, lr_max: float) -> dict[str, Config]:
    """The three runs of the lesson, from one config, only the learning rate varying.

    ``main`` is the config itself; ``faster``, the run it is compared with, doubles
    its learning rate (the lab's exercise: 0.1, then 0.2) or, when twice the rate
    would come near ``lr_max``, halves it; ``diverging`` takes the first round
    learning rate 10 % above ``lr_max``.
    Raises :class:`ScriptError` for a run the lesson cannot tell (not plain
    full-batch gradient descent, or a learning rate at or above ``lr_max``).

    >>> runs = lesson_configs(Config(), lr_max=0.333)
    >>> runs["main"].lr, runs["faster"].lr, runs["diverging"].lr
    (0.1, 0.2, 0.4)
    """
    check_lesson_config(config)
    if not (math.isfinite(lr_max) and lr_max > 0):
        raise ScriptError("the lesson needs data with a finite lr_max (the x values must vary)")
    if config.lr >= lr_max:
        raise ScriptError(
            f"the lesson's run must converge: lr {config.lr:g} is at or above lr_max = {fmt_num(lr_max, 3)}"
        )
    faster = 2 * config.lr if 2 * config.lr < 0.95 * lr_max else config.lr / 2
    return {
        "main": config,
        "faster": config.replace(lr=faster),
        "diverging": config.replace(lr=_nice_above(1.1 * lr_max)),
    }


def check_runs(main: Trace) -> None:
    """Refuse a lesson whose run has no descent to show: it starts (to rounding) at the minimum."""
    l0, l_opt = float(main.loss[0]), main.optimum[2]
    if not l0 - l_opt > 1e-9 * max(abs(l0), 1.0):
        raise ScriptError(
            f"the lesson's run starts at the minimum (loss {fmt_num(l0)}): there is no descent to show; "
            "start elsewhere (--w0, --b0)"
        )


@dataclass(frozen=True)
class LessonRuns:
    """The three traces the lesson draws: the lab's run, the run it is compared with
    (``faster``: twice the rate, or half when twice would near lr_max), one that diverges."""

    main: Trace
    faster: Trace
    diverging: Trace

    @property
    def traces(self) -> list[Trace]:
        return [self.main, self.faster, self.diverging]

    @classmethod
    def from_traces(cls, traces: Sequence[Trace]) -> LessonRuns:
        """The runs from three traces (main, compared, diverging); what the lesson says of them must hold."""
        if len(traces) != 3 or not all(isinstance(t, Trace) for t in traces):
            raise ScriptError(f"the lesson draws three traces (got {len(traces)})")
        main, faster, diverging = traces
        check_lesson_config(main.config)
        if faster.config.lr == main.config.lr:
            raise ScriptError(f"the lesson compares two learning rates (both runs have lr {main.config.lr:g})")
        for t in (faster, diverging):
            if t.config.replace(lr=main.config.lr) != main.config:
                raise ScriptError("the lesson's three runs must share one config, only lr varying")
        lr_max = main.lr_max
        if not main.config.lr < lr_max < diverging.config.lr or not faster.config.lr < lr_max:
            raise ScriptError(
                f"the lesson's runs must be two below lr_max = {fmt_num(lr_max, 3)} and one above it "
                f"(got lr {main.config.lr:g}, {faster.config.lr:g}, {diverging.config.lr:g})"
            )
        check_runs(main)
        return cls(main, faster, diverging)


# -- the script ------------------------------------------------------------------
def _n(v: float, digits: int = 4) -> str:
    return fmt_num(float(v), digits)


def _line_eq(slope: float, bias: float, var: str = "x") -> str:
    sign = "+" if bias >= 0 else "−"
    return f"{_n(slope)}·{var} {sign} {_n(abs(bias))}"


def steps_text(k: int) -> str:
    """``'1 step'``, ``'3 steps'``."""
    return f"{k} step" if k == 1 else f"{k} steps"


def _within(trace: Trace, level: float) -> int | None:
    """The first step at which the run's loss is at or below ``level`` (None if never)."""
    hits = np.nonzero(np.asarray(trace.loss) <= level)[0]
    return int(hits[0]) if hits.size else None


def _compare_text(t: Trace, other: Trace) -> str:
    """How the two runs' costs compare: the steps each takes to come within 10 % of the lowest."""
    k = min(t.last_k, other.last_k)
    lr, o = f"{t.config.lr:g}", f"{other.config.lr:g}"
    l_opt = t.optimum[2]
    level = 1.1 * l_opt if l_opt > 1e-12 * float(t.loss[0]) else 1e-12 * float(t.loss[0])
    ka, kb = _within(t, level), _within(other, level)
    if ka is not None and kb is not None:
        return (
            f"Both come within 10 percent of the lowest cost: the run at {o} in {steps_text(kb)}, "
            f"the run at {lr} in {steps_text(ka)}."
        )
    if kb is not None or ka is not None:
        (near, near_t), (far, far_t) = ((o, other), (lr, t)) if kb is not None else ((lr, t), (o, other))
        return (
            f"After {steps_text(k)} the run at {near} is within 10 percent of the lowest cost, at "
            f"{_n(near_t.loss[k])}; the run at {far} is still at {_n(far_t.loss[k])}."
        )
    return (
        f"After {steps_text(k)} the run at {o} has reached a cost of {_n(other.loss[k])}, "
        f"against {_n(t.loss[k])} at {lr}."
    )


def early_step(trace: Trace) -> int:
    """The step the 'after a few steps' line speaks about (its beat is left out when that is
    the first step or the last, which other lines tell)."""
    return min(3, trace.last_k)


def lesson_script(runs: LessonRuns) -> Script:
    """The narration of the whole lesson, every number from the runs.

    >>> from descent.trainer import Config, train
    >>> main = train(Config())
    >>> cfg = lesson_configs(main.config, main.lr_max)
    >>> runs = LessonRuns(main, train(cfg["faster"]), train(cfg["diverging"]))
    >>> lesson_script(runs).line("training.early").text
    'After 3 steps the loss has fallen from 835.8 to 26.15.'
    """
    t, fast, wild = runs.main, runs.faster, runs.diverging
    c = t.config
    w_opt, b_opt, l_opt = t.optimum
    lam = max(t.hessian_eigenvalues)
    l0 = _n(t.loss[0])
    early = early_step(t)
    n = t.x.size
    lines: list[tuple[str, str]] = [
        # 1. the data
        (
            "data.truth",
            f"Everything starts from a straight line, f(x) = {_line_eq(c.slope, c.bias)}: "
            f"its slope is {_n(c.slope)} and its bias {_n(c.bias)}.",
        ),
        (
            "data.noise",
            f"We take {n} values of x from {_n(float(t.x.min()))} to {_n(float(t.x.max()))}, and for each one "
            f"the line's value plus random noise with a standard deviation of {_n(c.noise)}.",
        ),
        ("data.task", "The learner is shown only these points. Its task is to find the line again from them."),
        # 2. the model and its cost
        (
            "model.guess",
            f"The model is a line as well, ŷ = w·x + b. Training starts from a first guess: "
            f"w = {_n(t.w[0])} and b = {_n(t.b[0])}.",
        ),
        (
            "model.residuals",
            "For each point, the residual is how far the point lies above or below the model's line.",
        ),
        (
            "model.squares",
            "Squaring the residuals makes every error positive, and makes the large errors count the most.",
        ),
        (
            "model.mse",
            f"The mean of the squares is the mean squared error, our cost: {l0} for the first guess.",
        ),
        # 3. the loss surface
        (
            "surface.every",
            "Every pair of w and b is a line with a cost of its own. Over all the pairs, the costs form a surface.",
        ),
        ("surface.start", f"The first guess is a point on the surface, at a cost of {l0}."),
        (
            "surface.bottom",
            f"The lowest point is the best line, w = {_n(w_opt)} and b = {_n(b_opt)}, "
            f"where the cost is {_n(l_opt, 3)}: what the noise leaves.",
        ),
        (
            "surface.map",
            "Seen from straight above, the surface becomes a map whose contour lines join points of equal cost.",
        ),
        # 4. training
        (
            "training.gradient",
            "The gradient points uphill, straight across the contour lines. Gradient descent steps the other way.",
        ),
        (
            "training.rule",
            f"Each step subtracts the gradient times the learning rate, {c.lr:g}, from w and from b.",
        ),
        ("training.first", f"The first step takes the cost from {l0} to {_n(t.loss[1])}." if t.last_k >= 1 else ""),
        (
            "training.early",
            f"After {steps_text(early)} the loss has fallen from {l0} to {_n(t.loss[early])}.",
        ),
        (
            "training.end",
            f"After {steps_text(t.last_k)}, w = {_n(t.w[-1])} and b = {_n(t.b[-1])}, with a cost of {_n(t.loss[-1])}.",
        ),
        # 5. learning rates
        (
            "rates.faster",
            f"Now the same start with a learning rate of {fast.config.lr:g} instead of {c.lr:g}.",
        ),
        ("rates.compare", _compare_text(t, fast)),
        (
            "rates.limit",
            f"But the stride has a limit. The steepest curvature of the surface, λ_max = {_n(lam)}, "
            f"sets it: lr_max = 2 / λ_max = {_n(t.lr_max, 3)}.",
        ),
        ("rates.diverge", _diverge_text(wild, t.lr_max)),
        # 6. summary
        (
            "summary.fit",
            f"With a learning rate of {c.lr:g}, {steps_text(t.last_k)} took the guess to w = {_n(t.w[-1])} "
            f"and b = {_n(t.b[-1])}; the best line has w = {_n(w_opt)} and b = {_n(b_opt)}.",
        ),
        (
            "summary.learned",
            "The gradient gives the way downhill, the learning rate sets the stride, "
            "and a stride beyond lr_max = 2 / λ_max makes the descent diverge.",
        ),
    ]
    if early in (1, t.last_k):  # "after 1 step" is the first step's line; "after all the steps", the end's
        lines = [(i, text) for i, text in lines if i != "training.early"]
    out = tuple(
        Line(line_id, line_id.partition(".")[0], text, reading_seconds(text)) for line_id, text in lines if text
    )
    return Script(out, config=t.config.to_dict())


def _diverge_text(wild: Trace, lr_max: float) -> str:
    """What the run above lr_max does, told from its own numbers."""
    lr = f"{wild.config.lr:g}"
    if wild.diverged:
        return (
            f"At {lr}, above that limit, every step overshoots the valley by more than the last, "
            f"and the cost grows without bound: the run is stopped at step {wild.diverged_at}."
        )
    loss = np.asarray(wild.loss, dtype=float)
    k_low = int(np.argmin(loss))
    if k_low == 0:
        return (
            f"At {lr}, above that limit, every step overshoots the valley by more than the last: "
            f"in {steps_text(wild.last_k)} the cost grows from {_n(loss[0])} to {_n(loss[-1])}."
        )
    if k_low < wild.last_k:
        return (
            f"At {lr}, above that limit, the steps overshoot the valley by more and more: the cost falls "
            f"to {_n(loss[k_low])} at step {k_low}, then grows to {_n(loss[-1])} by step {wild.last_k}."
        )
    return (  # too few steps for the overshoot to show: say what the numbers say, and why it will grow
        f"At {lr}, above that limit, each step overshoots along the steepest direction; in "
        f"{steps_text(wild.last_k)} the cost goes from {_n(loss[0])} to {_n(loss[-1])}, and more steps would "
        "make it grow without bound."
    )


# -- a clip's short script ---------------------------------------------------------
def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def clip_script(traces: Sequence[Trace]) -> Script:
    """The narration of a clip (fit, surface, compare): a line as it starts (``clip.start``),
    one as the descent begins (``clip.descent``) and one on the final state (``clip.end``).

    >>> from descent.trainer import Config, train
    >>> clip_script([train(Config())]).line("clip.end").text
    'After 15 steps, w = 1.001 and b = −1.343, at a cost of 0.1209; the lowest possible is 0.0109.'
    """
    t = traces[0]
    c = t.config
    l_opt = t.optimum[2]
    if len(traces) == 1:
        start = (
            f"The run starts from w = {_n(t.w[0])} and b = {_n(t.b[0])}, at a cost of {_n(t.loss[0])}, "
            f"with a learning rate of {c.lr:g}."
        )
        loss = np.asarray(t.loss, dtype=float)
        if t.diverged or loss[-1] > loss[0]:
            descent = "Each step overshoots the valley by more than the last, and the cost grows."
            end = (
                f"The run diverges: {t.divergence_text}."
                if t.diverged and t.divergence_text
                else f"After {steps_text(t.last_k)} the cost has grown to {_n(loss[-1])}."
            )
        else:
            k = early_step(t)
            descent = f"Each step moves w and b downhill; after {steps_text(k)} the cost is {_n(loss[k])}."
            end = (
                f"After {steps_text(t.last_k)}, w = {_n(t.w[-1])} and b = {_n(t.b[-1])}, at a cost of "
                f"{_n(loss[-1])}; the lowest possible is {_n(l_opt, 3)}."
            )
    elif len({r.config.lr for r in traces}) == len(traces) or len({r.config for r in traces}) < len(traces):
        lrs = _and([f"{r.config.lr:g}" for r in traces])
        start = (
            f"{len(traces)} runs from the same start, w = {_n(t.w[0])} and b = {_n(t.b[0])}, with learning rates {lrs}."
        )
        descent = "They step down the same surface, each with its own stride."
        k = min(r.last_k for r in traces)
        costs = _and([f"at {r.config.lr:g} the cost is {_n(r.loss[min(k, r.last_k)])}" for r in traces])
        end = f"After {steps_text(k)}, {costs}."
    else:  # runs that share a learning rate (sgd and adam, two momentum values): named as the legend names them
        from descent.scenes.compare import run_label

        by = next(
            key
            for key in ("optimizer", "momentum", "batch_size", "steps", "w0", "b0", "lr")
            if len({getattr(r.config, key) for r in traces}) > 1
        )
        names = [run_label(r.config, by) for r in traces]
        where = "different starts" if by in ("w0", "b0") else f"w = {_n(t.w[0])} and b = {_n(t.b[0])}"
        start = f"{len(traces)} runs from {where}: {_and(names)}."
        descent = "They step down the same surface, each in its own way."
        k = min(r.last_k for r in traces)
        pairs = zip(names, traces, strict=True)
        costs = _and([f"with {name} the cost is {_n(r.loss[min(k, r.last_k)])}" for name, r in pairs])
        end = f"After {steps_text(k)}, {costs}."
    lines = [("clip.start", start), ("clip.descent", descent), ("clip.end", end)]
    title = "Gradient descent compared" if len(traces) > 1 else "Gradient descent fits a line"
    return Script(tuple(Line(i, "clip", text, reading_seconds(text)) for i, text in lines), title, config=c.to_dict())
