"""Render a scene from a trace into finished files: the Python API behind ``descent render``.

One call renders a clip with Manim's caching off and one progress bar, then
publishes the finished files as one set: ``<name>.mp4`` (H.264, yuv420p, moov
atom first so it streams), ``<name>.png`` (poster: the final state) and
``<name>.json`` (config, trace, versions). Manim works in a temporary folder of
its own (never under the output folder's path, whatever its characters, and
never reading a ``manim.cfg`` from the working directory); the finished files
are staged in a work folder inside the output folder and published under its
lock (see :mod:`descent.outputs.files`). An interrupted or failed render leaves
the previous files as they were and nothing new under a final name.

A render replaces only files descent can prove it wrote: the sidecar records the size
and SHA-256 of every other file of its set (``checks``) and its own (``self_sha256``),
and each key frame of :func:`render_frames` carries a mark with its own. A file of the
set's name that no record proves is the previous set's, exactly as written (a user's
``lab.png``, or a clip file edited since), is refused before anything is rendered
(:class:`~descent.outputs.files.NotOurs`, a RenderError).

Examples
--------
>>> from descent.trainer import Config, train
>>> from descent.outputs.clip import render
>>> result = render(train(Config(steps=3)), out_dir="/tmp/descent-doc", quality="l",
...                 progress=False)  # doctest: +SKIP
>>> result.mp4.name  # doctest: +SKIP
'fit_sgd_lr0.1_steps3.mp4'
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from descent._version import versions
from descent.outputs.files import DiskFull, FolderBusy, Interrupted, NotOurs, RenderError
from descent.scenes import SCENES, UnknownScene
from descent.scenes import scene_class as _scene_class
from descent.scenes.helpers import safe_name
from descent.trainer import OPTIMIZERS, Trace

from . import files
from .encode import Audio, count_frames, faststart_remux

__all__ = [
    "render",
    "render_frames",
    "stage_clip",
    "stage_frames",
    "FramesResult",
    "FRAME_ROLES",
    "frame_names",
    "RenderResult",
    "RenderError",
    "DiskFull",
    "FolderBusy",
    "NotOurs",
    "Interrupted",
    "QUALITIES",
    "CLIP_SUFFIXES",
    "clip_files",
    "check_outputs",
    "SCENES",
    "default_name",
    "versions",
    "scene_class",
]

#: Manim's quality presets by their CLI letter.
QUALITIES = {
    "l": "low_quality",
    "m": "medium_quality",
    "h": "high_quality",
    "p": "production_quality",
    "k": "fourk_quality",
}


@dataclass
class RenderResult:
    name: str
    mp4: Path
    poster: Path
    sidecar: Path
    frames: int
    width: int
    height: int
    fps: float
    seconds: float
    extra: list[Path] = field(default_factory=list)  # files published with the clip (its narration's captions)

    @property
    def paths(self) -> list[Path]:
        """Every file of the clip's set."""
        return [self.mp4, self.poster, self.sidecar, *self.extra]


def default_name(scene: str, traces: Sequence[Trace]) -> str:
    """A file-name-safe name from the parameters, e.g. ``fit_sgd_lr0.1_steps15``."""
    c = traces[0].config
    optimizer = OPTIMIZERS[c.optimizer].label(c)  # momentum 0.5 and 0.9 get names of their own
    if SCENES[scene].many_runs:
        lrs = "-".join(f"{t.config.lr:g}" for t in traces)
        stem = f"{scene}_{optimizer}_lr{lrs}_steps{c.steps}"
    else:
        stem = f"{scene}_{optimizer}_lr{c.lr:g}_steps{c.steps}"
        if c.batch_size is not None:
            stem += f"_bs{c.batch_size}"
    return safe_name(stem)


def scene_class(scene: str) -> type:
    """The registered scene class for ``scene`` (:data:`descent.scenes.SCENES`)."""
    try:
        return _scene_class(scene)
    except UnknownScene as exc:
        raise RenderError(str(exc)) from None


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and make sure files can be written there."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"cannot create output directory {str(out)!r}: {exc.strerror or exc}") from None
    if not out.is_dir():
        raise RenderError(f"output path {str(out)!r} is not a directory")
    if not os.access(out, os.W_OK | os.X_OK):
        raise RenderError(f"output directory {str(out)!r} is not writable")
    return out


def _prepare(traces, scene: str, quality: str, theme: str) -> list[Trace]:
    """Check what can be checked before anything is rendered; the traces as a list."""
    from descent.scenes.theme import THEMES

    traces = [traces] if isinstance(traces, Trace) else list(traces)
    if not traces:
        raise RenderError("no trace to render")
    if quality not in QUALITIES:
        raise RenderError(f"unknown quality {quality!r} (choose from {', '.join(QUALITIES)})")
    if theme not in THEMES:
        raise RenderError(f"unknown theme {theme!r} (choose from {', '.join(THEMES)})")
    scene_class(scene)
    if not SCENES[scene].many_runs and len(traces) != 1:
        raise RenderError(f"the {scene} scene draws one trace (got {len(traces)})")
    if SCENES[scene].many_runs:
        from descent.scenes.compare import check_comparable

        try:
            check_comparable(traces)
        except ValueError as exc:
            raise RenderError(str(exc)) from None
    return traces


def _plain(value: object) -> bool:
    """Whether a scene option is plain data a sidecar can hold (not a trace or a script)."""
    return value is None or isinstance(value, (str, int, float, bool, list, tuple))


_CLEAN_CONFIG = None


def _manim_defaults():
    """Manim's own defaults, from its library-wide default.cfg only: a ``manim.cfg`` in the
    working directory (or the user's) must not change what descent renders."""
    global _CLEAN_CONFIG
    if _CLEAN_CONFIG is None:
        import configparser

        from manim._config.utils import ManimConfig, config_file_paths

        parser = configparser.ConfigParser()
        with open(config_file_paths()[0]) as fh:
            parser.read_file(fh)
        _CLEAN_CONFIG = ManimConfig().digest_parser(parser)
    return _CLEAN_CONFIG


def stage_clip(
    traces: Trace | Sequence[Trace],
    scene: str = "fit",
    *,
    work: Path,
    name: str,
    quality: str = "l",
    fps: float | None = None,
    theme: str = "dark",
    preset: str = "veryfast",
    progress: bool | Callable[[int, int], None] = True,
    scene_options: dict | None = None,
    encoder_threads: int | None = None,
    scene_cls: type | None = None,
    audio: Audio | Callable[[float, int], Audio] | None = None,
) -> RenderResult:
    """Render a clip into the staging folder of the work folder ``work`` (nothing is published).

    The result's paths are ``<work>/new/<name>.{mp4,png,json}``; :func:`render` publishes
    them, ``descent batch`` adds its extras first. Manim renders in a scratch folder under
    a temporary root of its own. Raises :class:`DiskFull` when a folder runs out of space.
    ``scene_cls`` renders that scene class (a part of the registered ``scene``, such as a
    lesson's chapter), given its parameters in ``scene_options``, instead of the registered one.
    ``audio`` (or a function of the frame rate and the planned frame count giving it) is
    encoded as the clip's sound while its video is copied into place.
    """
    from descent.scenes.theme import THEMES

    traces = _prepare(traces, scene, quality, theme)
    name = safe_name(name)
    base_cls = scene_cls or scene_class(scene)
    attrs = {"theme": theme, **(scene_options or {})}
    if scene_cls is not None:
        pass  # the part is given what it draws in scene_options
    elif SCENES[scene].many_runs:
        attrs["traces"] = traces
    else:
        attrs["trace"] = traces[0]
    try:
        cls = type(base_cls.__name__, (base_cls,), attrs)
    except TypeError as exc:
        raise RenderError(str(exc)) from None

    from manim import config, tempconfig

    from .renderer import ProgressRenderer

    new = files.staging(work)
    out = work.parent
    t0 = time.perf_counter()
    with files.scratch_dir() as scratch:
        needs: dict[Path, int] = {}
        with files.disk_guard([out, scratch.parent], needs):
            settings = {
                "media_dir": str(scratch / "media"),
                "quality": QUALITIES[quality],
                "disable_caching": True,
                "progress_bar": "none",
                "verbosity": "ERROR",
                "write_to_movie": True,
                "format": "mp4",
                "output_file": name,
                "video_encoder_options": {
                    "preset": preset,
                    "crf": "23",
                    **({"threads": str(encoder_threads)} if encoder_threads else {}),
                },
                "background_color": THEMES[theme].background,
            }
            if fps is not None:
                settings["frame_rate"] = fps
            with tempconfig(_manim_defaults()), tempconfig(settings):
                rate = config.frame_rate
                planned = cls.planned_seconds(traces)
                total = cls.planned_frames(traces, rate)
                width, height = config.pixel_width, config.pixel_height
                needs[out] = files.space_needed(total, width, height, rate, extras=0)
                needs[scratch.parent] = 2 * files.space_needed(total, width, height, rate, extras=0)
                renderer = ProgressRenderer(
                    total_frames=total,
                    progress=progress,
                    label=name,
                    camera_class=getattr(cls, "CAMERA_CLASS", None),
                )
                sc = cls(renderer=renderer)
                try:
                    sc.render()
                finally:
                    renderer.close()
                frame = sc.renderer.last_frame
                movie = Path(sc.renderer.file_writer.movie_file_path)
            staged_mp4 = new / f"{name}.mp4"
            sound = audio(float(rate), total) if callable(audio) else audio
            faststart_remux(movie, staged_mp4, sound)  # straight into the staging folder: the only copy kept
            from PIL import Image

            staged_png = new / f"{name}.png"
            Image.fromarray(frame[..., :3] if frame.shape[-1] == 4 else frame).save(staged_png, compress_level=6)
            frames = count_frames(staged_mp4)
            seconds = time.perf_counter() - t0
            meta = {
                "schema": "descent.clip/1",
                "name": name,
                "scene": scene,
                "files": {"mp4": f"{name}.mp4", "poster": f"{name}.png"},
                "video": {
                    "width": width,
                    "height": height,
                    "fps": float(rate),
                    "frames": frames,
                    "duration": frames / float(rate),
                    "planned_duration": planned,
                    "codec": "h264",
                    "pix_fmt": "yuv420p",
                    "preset": preset,
                },
                "render": {
                    "quality": quality,
                    "theme": theme,
                    "seconds": round(seconds, 3),
                    "scene_options": {k: v for k, v in (scene_options or {}).items() if _plain(v)},
                },
                "versions": versions(),
                "traces": [json.loads(t.to_json()) for t in traces],
            }
            if len(traces) == 1:
                meta["config"] = traces[0].config.to_dict()
                meta["trace"] = meta.pop("traces")[0]
            else:
                meta["configs"] = [t.config.to_dict() for t in traces]
            staged_json = new / f"{name}.json"
            staged_json.write_text(json.dumps(meta, indent=1, allow_nan=False) + "\n")
    return RenderResult(name, staged_mp4, staged_png, staged_json, frames, width, height, float(rate), seconds)


#: The suffixes of the files a clip's set may have (its sidecar lists the others, with their checks).
CLIP_SUFFIXES = (".mp4", ".png", ".json", ".transcript.html", ".transcript.md", ".vtt", ".webm", ".gif")


def clip_files(name: str) -> list[str]:
    """The files every clip named ``name`` publishes: the mp4, the poster, the sidecar and the transcript."""
    return [f"{name}{ext}" for ext in (".mp4", ".png", ".json", ".transcript.html", ".transcript.md")]


@dataclass
class _Proof:
    """What proves that a file of a set's name is the previous set's: its record's ``checks``
    (name → size and SHA-256), or ``proven`` (name → bool); ``unlisted`` says why another is not."""

    checks: dict[str, dict] = field(default_factory=dict)
    proven: Callable[[str], bool] | None = None
    unlisted: str = ""

    def refuse(self, out: Path, names: Sequence[str]) -> None:
        files.refuse_unproven(out, names, self.checks, self.proven, self.unlisted)


def _clip_proof(out: Path, name: str) -> _Proof:
    """What the clip set ``name`` in ``out`` can prove is its own, from its sidecar ``NAME.json``.

    A sealed sidecar (its ``self_sha256`` holds) is the set's, and so is each file its ``checks``
    list as it is now. A clip sidecar from before those records (neither key) vouches for every
    regular file of the set's names (not a symlink, nor a FIFO). Anything else proves nothing;
    another descent set's sidecar (a lesson's, a batch manifest) is refused outright.
    """
    side = f"{name}.json"
    if not os.path.lexists(out / side):
        return _Proof(unlisted=f"there is no {side} of a clip to list it")
    data, sealed = files.read_record(out / side)
    schema = data.get("schema") if data else None
    if isinstance(schema, str) and schema.startswith("descent.") and schema != "descent.clip/1":
        raise NotOurs(
            f"{files.printable(str(out / side))!r} belongs to a {files.printable(schema, 40)} set, not a clip: "
            "choose another --name or --out-dir (nothing was written)"
        )
    if schema != "descent.clip/1" or data.get("name", name) != name:
        return _Proof(unlisted=f"{side} is not the sidecar of a clip named {name}")
    own = {f"{name}{ext}" for ext in CLIP_SUFFIXES}
    if sealed is None and "checks" not in data:  # written before the records: the set is taken as descent's
        # ... its regular files only: descent never published a symlink (to a user's photo elsewhere) or a FIFO
        return _Proof(proven=lambda n: n in own and _is_regular(out / n), unlisted=f"{side} cannot vouch for it")
    if not sealed:
        return _Proof(unlisted=f"its record {side} was changed since descent wrote it")
    listed = data.get("checks")
    checks = {
        n: dict(c)
        for n, c in (listed.items() if isinstance(listed, dict) else ())
        if n in own and n != side and files.valid_check(c)
    }
    return _Proof(checks, side.__eq__, f"{side} does not list it")


def _is_regular(path: Path) -> bool:
    """Whether ``path`` itself (not what a symlink points to) is a regular file."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _frames_proof(out: Path, name: str) -> _Proof:
    """What the key-frame set ``name`` in ``out`` can prove is its own: each PNG by its own mark."""
    roles = dict(zip(frame_names(name), FRAME_ROLES, strict=True))

    def proven(file: str) -> bool:
        mark = files.png_mark(out / file)
        return bool(mark) and mark == {"schema": "descent.frame/1", "name": name, "role": roles.get(file)}

    return _Proof(proven=proven, unlisted="it has no mark of a key frame descent wrote, or was changed since")


def check_outputs(
    out_dir: str | os.PathLike,
    name: str,
    *,
    frames: bool = False,
    wait: bool = True,
    notify: Callable[[str], None] | None = None,
) -> None:
    """Refuse now what a render of ``name`` into ``out_dir`` would refuse: a file of the set's
    names (the clip's, or with ``frames`` the key frames') that descent cannot prove it wrote.

    Takes the folder's lock for the look (an interrupted publication is finished first).

    Raises
    ------
    RenderError
        :class:`NotOurs` naming the file; a bad or busy folder.
    """
    name = safe_name(name)
    out = check_out_dir(out_dir)
    say = notify or (lambda msg: print(msg, file=sys.stderr, flush=True))
    with files.output_lock(out, wait=wait, notify=say):
        for line in files.sweep_stale(out):
            say(line)
        if frames:
            _frames_proof(out, name).refuse(out, frame_names(name))
        else:
            _clip_proof(out, name).refuse(out, clip_files(name))


def render(
    traces: Trace | Sequence[Trace],
    scene: str = "fit",
    *,
    quality: str = "l",
    fps: float | None = None,
    theme: str = "dark",
    out_dir: str | os.PathLike = "media",
    name: str | None = None,
    preset: str = "veryfast",
    progress: bool | Callable[[int, int], None] = True,
    scene_options: dict | None = None,
    encoder_threads: int | None = None,
    wait: bool = True,
    notify: Callable[[str], None] | None = None,
    extras: Callable[[RenderResult], Sequence[str]] | None = None,
    audio: Audio | Callable[[float, int], Audio] | None = None,
) -> RenderResult:
    """Render ``scene`` for ``traces`` and publish the finished files in ``out_dir``.

    Parameters
    ----------
    traces
        One trace (fit, surface) or several (compare).
    quality
        Manim's preset letter: l (480p15), m (720p30), h (1080p60), p (1440p60), k (2160p60).
    fps
        Override the preset's frame rate.
    progress
        True for one progress bar on stderr, False for none, or a callback
        ``(frames_done, frames_total)``.
    scene_options
        Scene parameters (class attributes) such as ``seconds_per_step``.
    encoder_threads
        x264 threads (default: x264 picks, about 1.5 per core); renders that
        run side by side do better with one each.
    wait
        When another run holds ``out_dir``, wait for it (True) or raise
        :class:`FolderBusy` naming it (False).
    notify
        Receives one-line messages (waiting for the folder, an earlier interrupted
        publication completed); default: stderr.
    extras
        Called with the staged clip (its files in the work folder's staging folder)
        before anything is published; it may rewrite them and stage more files beside
        them, and returns those files' names, published in the same set (the
        narration of :mod:`descent.narrate`).
    audio
        The clip's sound (:class:`~descent.outputs.encode.Audio`), or a function of the frame
        rate and the planned number of frames that gives it: encoded while the video is copied
        into place, from the first frame to the last.

    Raises
    ------
    RenderError
        Bad input or output folder; :class:`FolderBusy` and :class:`DiskFull` are RenderErrors, and so
        is :class:`NotOurs`: a file of the set's names that descent cannot prove it wrote (a user's
        ``NAME.png``, a clip file edited since), refused before anything is rendered.
    Interrupted
        Ctrl-C or SIGTERM (a KeyboardInterrupt): the clip was not published.
    """
    if scene in SCENES and SCENES[scene].lesson:  # a folder of files, not one clip
        raise RenderError(f"the {scene} is rendered by descent.render_lesson (descent render {scene})")
    traces = _prepare(traces, scene, quality, theme)
    name = safe_name(name) if name else default_name(scene, traces)
    out = check_out_dir(out_dir)
    planned = clip_files(name) + ([f"{name}.vtt"] if extras is not None else [])  # the extras' usual one
    for n in planned:  # the whole set lands, or none of it: refuse before rendering
        if (out / n).is_dir():
            raise RenderError(f"cannot write {str(out / n)!r}: a directory has that name")
    say = notify or (lambda msg: print(msg, file=sys.stderr, flush=True))
    published: list[str] = []
    try:
        with files.output_lock(out, wait=wait, notify=say):
            for line in files.sweep_stale(out):
                say(line)
            proof = _clip_proof(out, name)
            proof.refuse(out, planned)  # a file descent cannot prove it wrote is not replaced
            with files.work_dir(out) as work:
                staged = stage_clip(
                    traces,
                    scene,
                    work=work,
                    name=name,
                    quality=quality,
                    fps=fps,
                    theme=theme,
                    preset=preset,
                    progress=progress,
                    scene_options=scene_options,
                    encoder_threads=encoder_threads,
                    audio=audio,
                )
                names = [staged.mp4.name, staged.poster.name, staged.sidecar.name]
                if extras is not None:
                    with files.disk_guard([out]):
                        more = list(extras(staged))
                    if any(not files.is_plain_name(n) or n in names for n in more):
                        raise RenderError("the clip's extra files must have names of their own")
                    names += more
                from descent.publish.transcript import stage_clip_transcript  # the clip's text alternative

                with files.disk_guard([out]):
                    names += stage_clip_transcript(staged.sidecar)
                # again, now that the set is staged: the lock binds descent runs, not a user who saved a
                # lab.png (or edited the sidecar) while this one rendered; the extras too. Nothing is published yet.
                proof = _clip_proof(out, name)
                proof.refuse(out, names)
                with files.disk_guard([out]):
                    files.seal_sidecar(staged.sidecar, names)
                obsolete = {n: c for n, c in proof.checks.items() if n not in names}  # the previous set's only
                with files.signals_deferred():
                    with files.disk_guard([out]):
                        files.publish(out, work, names, obsolete)
                    published = names
        return RenderResult(
            name,
            out / names[0],
            out / names[1],
            out / names[2],
            staged.frames,
            staged.width,
            staged.height,
            staged.fps,
            staged.seconds,
            [out / n for n in names[3:]],
        )
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(published) from None


#: The key frames of ``render_frames``, in order: a role each, the suffix of its file name.
FRAME_ROLES = ("start", "third", "two_thirds", "end", "poster")


@dataclass
class FramesResult:
    """What :func:`render_frames` published: PNG key frames, no video.

    ``files`` maps each role of :data:`FRAME_ROLES` to its file (``<name>_<role>.png``);
    ``steps`` the step each key frame shows (the poster: the clip's last frame).
    """

    name: str
    files: dict[str, Path]
    steps: dict[str, int]
    width: int
    height: int
    fps: float
    seconds: float

    @property
    def poster(self) -> Path:
        """The poster: the clip's last frame."""
        return self.files["poster"]

    @property
    def paths(self) -> list[Path]:
        """Every file of the set, in the order of :data:`FRAME_ROLES`."""
        return [self.files[r] for r in FRAME_ROLES]


def frame_names(name: str) -> list[str]:
    """The file names ``render_frames`` writes for ``name``, in the order of :data:`FRAME_ROLES`."""
    return [f"{name}_{role}.png" for role in FRAME_ROLES]


def _key_frames(cls: type, traces: list[Trace], rate: float, total: int) -> tuple[dict[str, int], dict[str, int]]:
    """The frame index of each key frame (role → index), and the step each one shows.

    The descent starts at ``cls.descent_start()`` and moves the tracker linearly through the
    clip's key states in ``cls.descent_length()``; each key frame lands where the tracker
    sits on a key state (the start, about a third and two thirds in, the last state).
    """
    from descent.scenes.helpers import key_steps

    pace = cls.pace_trace(traces)
    keys = key_steps(pace.last_k, cls.max_keys)
    start, length = cls.descent_start(), cls.descent_length(traces)
    n = len(keys) - 1
    picks = {"start": 0, "third": round(n / 3), "two_thirds": round(2 * n / 3), "end": n}
    first = play_frames_before(start, rate)
    at: dict[str, int] = {}
    steps: dict[str, int] = {}
    for role, i in picks.items():
        at[role] = min(first + (math.ceil(length * i / n * rate - 1e-9) if n else 0), total - 1)
        steps[role] = int(keys[i])
    at["poster"] = total - 1
    steps["poster"] = int(keys[-1])
    return at, steps


def play_frames_before(seconds: float, rate: float) -> int:
    """Frames Manim writes in the first ``seconds`` of a clip (a play() steps 0, 1/fps, … < run_time)."""
    from descent.scenes.base import play_frames

    return play_frames(seconds, rate)


def stage_frames(
    traces: Trace | Sequence[Trace],
    scene: str = "fit",
    *,
    work: Path,
    name: str,
    quality: str = "l",
    fps: float | None = None,
    theme: str = "dark",
    progress: bool | Callable[[int, int], None] = True,
    scene_options: dict | None = None,
) -> FramesResult:
    """Render the key frames of a clip into the staging folder of ``work`` (nothing is published).

    The scene runs through every frame (its updaters keep time) but only the key frames are
    drawn, and nothing is encoded. The result's files are ``<work>/new/<name>_<role>.png``.
    """
    from PIL import Image

    from descent.scenes.theme import THEMES

    traces = _prepare(traces, scene, quality, theme)
    name = safe_name(name)
    base_cls = scene_class(scene)
    attrs = {"theme": theme, **(scene_options or {})}
    if SCENES[scene].many_runs:
        attrs["traces"] = traces
    else:
        attrs["trace"] = traces[0]
    try:
        cls = type(base_cls.__name__, (base_cls,), attrs)
    except TypeError as exc:
        raise RenderError(str(exc)) from None

    from manim import config, tempconfig

    from .renderer import ProgressRenderer

    new = files.staging(work)
    t0 = time.perf_counter()
    with files.scratch_dir() as scratch:
        with files.disk_guard([work.parent, scratch.parent]):
            settings = {
                "media_dir": str(scratch / "media"),
                "quality": QUALITIES[quality],
                "disable_caching": True,
                "progress_bar": "none",
                "verbosity": "ERROR",
                "write_to_movie": False,
                "format": "none",
                "output_file": name,
                "background_color": THEMES[theme].background,
            }
            if fps is not None:
                settings["frame_rate"] = fps
            with tempconfig(_manim_defaults()), tempconfig(settings):
                rate = config.frame_rate
                total = cls.planned_frames(traces, rate)
                width, height = config.pixel_width, config.pixel_height
                at, steps = _key_frames(cls, traces, rate, total)
                renderer = ProgressRenderer(
                    total_frames=total,
                    progress=progress,
                    label=name,
                    camera_class=getattr(cls, "CAMERA_CLASS", None),
                    keep=set(at.values()),
                )
                sc = cls(renderer=renderer)
                try:
                    sc.render()
                finally:
                    renderer.close()
                kept = dict(renderer.kept)
                last = renderer.last_frame
            out: dict[str, Path] = {}
            for role, file in zip(FRAME_ROLES, frame_names(name), strict=True):
                # a frame the plan did not reach (a clip shorter than planned): its last frame
                frame = kept.get(at[role], last)
                rgb = frame[..., :3] if frame.shape[-1] == 4 else frame
                Image.fromarray(rgb).save(new / file, compress_level=6)
                files.mark_png(new / file, {"schema": "descent.frame/1", "name": name, "role": role})
                out[role] = new / file
    return FramesResult(name, out, steps, width, height, float(rate), time.perf_counter() - t0)


def render_frames(
    traces: Trace | Sequence[Trace],
    scene: str = "fit",
    *,
    quality: str = "l",
    fps: float | None = None,
    theme: str = "dark",
    out_dir: str | os.PathLike = "media",
    name: str | None = None,
    progress: bool | Callable[[int, int], None] = True,
    scene_options: dict | None = None,
    wait: bool = True,
    notify: Callable[[str], None] | None = None,
) -> FramesResult:
    """Render the poster and a few key frames of a clip as PNG, without encoding a video.

    The fastest look at a clip: the scene runs as :func:`render` would run it, but only
    five frames are drawn, and published as one set in ``out_dir``: ``<name>_start.png``
    (the first state, as the descent begins), ``<name>_third.png`` and
    ``<name>_two_thirds.png`` (the key states about a third and two thirds in),
    ``<name>_end.png`` (the last state) and ``<name>_poster.png`` (the clip's last frame,
    the same picture as a clip's poster). A clip's own files (``<name>.mp4``, ``.png``,
    ``.json``) are left as they are. Each PNG carries a mark (a ``tEXt`` chunk) proving it is
    descent's, as written: a file of these names without one is not replaced.

    Parameters are those of :func:`render`. Raises :class:`RenderError` (bad input or
    output folder; :class:`NotOurs`, before anything is rendered) and :class:`Interrupted`
    (Ctrl-C or SIGTERM: nothing was published).
    """
    if scene in SCENES and SCENES[scene].lesson:
        raise RenderError(f"the {scene} has no key frames of its own: render its chapters' clips")
    traces = _prepare(traces, scene, quality, theme)
    name = safe_name(name) if name else default_name(scene, traces)
    out = check_out_dir(out_dir)
    names = frame_names(name)
    for n in names:
        if (out / n).is_dir():
            raise RenderError(f"cannot write {str(out / n)!r}: a directory has that name")
    say = notify or (lambda msg: print(msg, file=sys.stderr, flush=True))
    published: list[str] = []
    try:
        with files.output_lock(out, wait=wait, notify=say):
            for line in files.sweep_stale(out):
                say(line)
            _frames_proof(out, name).refuse(out, names)  # a file descent cannot prove it wrote is not replaced
            with files.work_dir(out) as work:
                staged = stage_frames(
                    traces,
                    scene,
                    work=work,
                    name=name,
                    quality=quality,
                    fps=fps,
                    theme=theme,
                    progress=progress,
                    scene_options=scene_options,
                )
                _frames_proof(out, name).refuse(out, names)  # again: a user's file saved while this one rendered
                with files.signals_deferred():
                    with files.disk_guard([out]):
                        files.publish(out, work, names)
                    published = names
        return FramesResult(
            name,
            {role: out / n for role, n in zip(FRAME_ROLES, names, strict=True)},
            staged.steps,
            staged.width,
            staged.height,
            staged.fps,
            staged.seconds,
        )
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(published) from None
