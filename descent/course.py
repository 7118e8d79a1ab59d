"""Course files: every clip of a course, named, rendered into one folder with one manifest and one gallery.

A course is a TOML file::

    title = "Gradient descent, the lab"   # optional: the gallery's title

    [defaults]          # any training or render key, for every clip
    quality = "m"

    [[clip]]
    name = "lab"        # the file stem (lab.mp4, lab.png, …) when the clip has no sweep
    lr = 0.1

    [[clip]]
    name = "optimizers"
    scene = "compare"   # a comparison clip named "optimizers" (its runs are fit clips optimizers_optimizer-sgd, …)
    sweep = { optimizer = ["sgd", "momentum", "adam"] }

A clip takes every key of :class:`~descent.trainer.Config` and the render keys ``scene``, ``quality``,
``fps``, ``theme``, ``preset``, ``webm``, ``gif``, ``gif_max_mb``, ``seconds_per_step`` and
``descent_seconds``; ``sweep`` (key → list of values) makes it a set of variants named
``<name>_<key>-<value>…``, and ``compare_by`` picks the key a ``scene = "compare"`` clip compares along.
Unknown keys and bad values are a :class:`~descent.trainer.ConfigError` naming the clip and the key.

A course is planned into the same variants and comparisons as a batch (:func:`descent.batch.run_plan`):
it resumes, reports failures and publishes exactly as ``descent batch`` does.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from descent.batch import (
    BatchOptions,
    BatchPlan,
    BatchResult,
    check_compare_by,
    check_plan_names,
    check_variant_count,
    normalise_sweep,
    plan_compares,
    plan_variants,
    run_plan,
)
from descent.trainer import Config, ConfigError
from descent.trainer.inputs import InputFileError, brief, brief_path, printable, read_limited

__all__ = ["Course", "CourseClip", "load_course", "plan_course", "build_course", "RENDER_KEYS"]

#: The most a course file may hold.
MAX_COURSE_BYTES = 1 << 20
#: The most clips a course may list.
MAX_CLIPS = 256
_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def _number(lo: float, hi: float, lo_open: bool = False) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        return (
            not isinstance(v, bool)
            and isinstance(v, (int, float))
            and math.isfinite(v)
            and (v > lo if lo_open else v >= lo)
            and v <= hi
        )

    return ok


def _choices() -> dict[str, tuple[Callable[[Any], bool], str]]:
    from descent.batch import _variant_scenes
    from descent.outputs.clip import QUALITIES
    from descent.scenes.theme import THEMES

    scenes = [*_variant_scenes(), "compare"]
    return {
        "scene": (lambda v: v in scenes, f"one of {', '.join(scenes)}"),
        "quality": (lambda v: v in QUALITIES, f"one of {', '.join(QUALITIES)}"),
        "theme": (lambda v: v in THEMES, f"one of {', '.join(THEMES)}"),
        "preset": (lambda v: v in _PRESETS, "an x264 preset (ultrafast … veryslow)"),
        "fps": (_number(1, 240), "a number from 1 to 240"),
        "webm": (lambda v: isinstance(v, bool), "true or false"),
        "gif": (lambda v: isinstance(v, bool), "true or false"),
        "gif_max_mb": (_number(0.1, 500), "a number from 0.1 to 500"),
        "seconds_per_step": (_number(0, 60, lo_open=True), "a number of seconds in (0, 60]"),
        "descent_seconds": (_number(0, 3600, lo_open=True), "a number of seconds in (0, 3600]"),
    }


#: The render keys a clip (or the defaults) may set.
RENDER_KEYS = (
    "scene",
    "quality",
    "fps",
    "theme",
    "preset",
    "webm",
    "gif",
    "gif_max_mb",
    "seconds_per_step",
    "descent_seconds",
)
_CLIP_ONLY = ("name", "sweep", "compare_by")


@dataclass(frozen=True)
class CourseClip:
    """One ``[[clip]]``: its name, its options (defaults ← the clip), its sweep and comparison."""

    name: str
    options: BatchOptions
    sweep: dict
    compare: bool  # scene = "compare": a comparison clip named after the clip
    compare_by: str | None = None


@dataclass(frozen=True)
class Course:
    """A course file, read and checked."""

    path: Path
    title: str | None
    clips: list[CourseClip]


def load_course(path: str | os.PathLike) -> Course:
    """Read and check a course file; raise :class:`ConfigError` (one line naming the clip and the key)."""
    path = Path(path)
    shown = brief_path(path)
    try:
        raw = read_limited(path, MAX_COURSE_BYTES, "course file")
    except InputFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"course file {shown} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {shown}: {printable(str(exc))}") from None
    except RecursionError:
        raise ConfigError(f"malformed TOML in {shown}: nested too deeply") from None
    unknown = sorted(set(data) - {"title", "defaults", "clip"})
    if unknown:
        raise ConfigError(f"{shown}: unknown key {brief(unknown[0])} (a course has title, [defaults] and [[clip]])")
    title = data.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip() or len(title) > 200):
        raise ConfigError(f"{shown}: title must be a line of text")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{shown}: [defaults] must be a table of keys")
    _check_keys(defaults, f"{shown}: [defaults]", allowed=(*Config.keys(), *RENDER_KEYS))
    clips = data.get("clip")
    if not isinstance(clips, list) or not clips or not all(isinstance(c, dict) for c in clips):
        raise ConfigError(f"{shown}: a course lists its clips as [[clip]] tables (none found)")
    if len(clips) > MAX_CLIPS:
        raise ConfigError(f"{shown}: at most {MAX_CLIPS} clips (got {len(clips)})")
    out, names, total = [], set(), 0
    for i, clip in enumerate(clips, 1):
        name = clip.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f'{shown}: clip {i} needs a name (name = "…")')
        where = f"{shown}: clip {brief(name)}"
        if name.lower() in names:
            raise ConfigError(f"{where}: another clip has this name")
        names.add(name.lower())
        out.append(_clip(name, {**defaults, **clip}, where))
        total += math.prod(len(v) for v in normalise_sweep(out[-1].sweep).values())
        check_variant_count(total, f"{shown}: clip {brief(name)}: with the clips before it")
    return Course(path, title, out)


def _check_keys(values: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> None:
    for key in values:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {brief(key)}")
    rules = _choices()
    for key, value in values.items():
        if key in rules and not rules[key][0](value):
            raise ConfigError(f"{where}: {key} must be {rules[key][1]} (got {brief(value)})")


def _clip(name: str, values: dict, where: str) -> CourseClip:
    from descent.scenes.helpers import safe_name

    _check_keys(values, where, allowed=(*Config.keys(), *RENDER_KEYS, *_CLIP_ONLY))
    if safe_name(name) != name:
        raise ConfigError(f"{where}: name must be a plain file stem (letters, digits, ._-)")
    training = {k: v for k, v in values.items() if k in Config.keys()}
    try:
        base = Config.from_mapping(training, where=where)
    except ConfigError as exc:
        text = str(exc)
        raise ConfigError(text if text.endswith(where) or where in text else f"{where}: {text}") from None
    scene = values.get("scene", "fit")
    sweep = values.get("sweep", {})
    if not isinstance(sweep, dict):
        raise ConfigError(f'{where}: sweep must be a table, e.g. sweep = {{ optimizer = ["sgd", "adam"] }}')
    compare = scene == "compare"
    if compare and not sweep:
        raise ConfigError(f"{where}: a compare clip needs a sweep (the runs it compares)")
    scene_options = {k: values[k] for k in ("seconds_per_step", "descent_seconds") if k in values}
    options = BatchOptions(
        base=base,
        scene="fit" if compare else scene,
        quality=values.get("quality", "l"),
        fps=values.get("fps"),
        theme=values.get("theme", "dark"),
        preset=values.get("preset", "veryfast"),
        scene_options=tuple(sorted(scene_options.items())),
        webm=bool(values.get("webm", False)),
        gif=bool(values.get("gif", False)),
        gif_max_bytes=int(values.get("gif_max_mb", 8.0) * 1e6),
        prefix=name,
    )
    compare_by = values.get("compare_by")
    if compare_by is not None and not compare:
        raise ConfigError(f'{where}: compare_by goes with scene = "compare"')
    if compare_by is not None and not isinstance(compare_by, str):
        raise ConfigError(f"{where}: compare_by must be a key's name (got {brief(compare_by)})")
    try:
        plan_variants(None, options, sweep, exact_name=name, where=f"{where}: sweep")  # every value checked now
        if compare:
            check_compare_by(compare_by, list(sweep))
    except ConfigError as exc:
        text = str(exc)
        raise ConfigError(text if text.startswith(where) else f"{where}: {text}") from None
    return CourseClip(name, options, dict(sweep), compare, compare_by)


def plan_course(course: Course) -> BatchPlan:
    """The course as one batch: every clip's variants and comparisons, with names of their own."""
    variants, compares, keys = [], [], []
    for clip in course.clips:
        where = f"{brief_path(course.path)}: clip {brief(clip.name)}"
        vs = plan_variants(None, clip.options, clip.sweep, exact_name=clip.name, where=where)
        if clip.compare:
            by = check_compare_by(clip.compare_by, list(clip.sweep))
            if by is None:
                raise ConfigError(f"{where}: no swept key to compare along (a comparison needs optimizer, lr, …)")
            # the runs are the clip's fit variants (<name>_<key>-<value>…); the comparison takes the clip's name
            compares += plan_compares(vs, by, clip.options, exact_name=clip.name)
        variants += vs
        keys += [k for k in clip.sweep if k not in keys]
    check_plan_names(variants, compares, where=brief_path(course.path))
    return BatchPlan(variants, compares, keys, title=course.title or "Course clips")


def build_course(
    path: str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    progress: bool | Callable[[str, dict], None] = True,
    wait: bool = True,
    notify: Callable[[str], None] | None = None,
) -> BatchResult:
    """Render every clip of the course file ``path`` into ``out_dir`` (default ``media/<file stem>``).

    Examples
    --------
    >>> build_course("examples/lab.toml", out_dir="media/lab")  # doctest: +SKIP
    """
    from descent.scenes.helpers import safe_name

    course = load_course(path)
    plan = plan_course(course)
    out = Path(out_dir) if out_dir is not None else Path("media") / safe_name(Path(path).stem)
    return run_plan(
        plan, out_dir=out, jobs=jobs, scheduler=scheduler, force=force, progress=progress, wait=wait, notify=notify
    )
