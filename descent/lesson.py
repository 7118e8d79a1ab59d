"""Render the lesson: every chapter as a clip (side by side in worker processes, as the batch
renders its variants), joined into one lecture video without re-encoding, with captions,
chapter marks, a transcript and a presenter page, published as one set. The Python API
behind ``descent render lesson``; it sits beside :mod:`descent.batch`, over the outputs
(one chapter: :func:`descent.outputs.lesson.render_chapter`) and the course pages.

Files, for ``name="lesson"``: ``lesson.mp4`` (the chapters joined; chapter marks inside),
``lesson.png`` (poster), ``lesson.json`` (config, the three runs, the script, the timeline,
versions), ``lesson_01_data.mp4`` … (one clip per chapter), ``lesson.chapters.vtt``,
``lesson.vtt`` (the script as captions), ``lesson.transcript.md`` / ``.html``, ``lesson.html``
(the presenter page) and, with ``webm=True``, ``lesson.webm``. They appear together or not
at all (see :mod:`descent.outputs.files`).

Examples
--------
>>> from descent import Config
>>> from descent.lesson import render_lesson
>>> result = render_lesson(Config(), chapters="1", quality="l", out_dir="/tmp/lesson-doc",
...                        progress=False)  # doctest: +SKIP
>>> [p.name for p in result.chapters]  # doctest: +SKIP
['lesson_01_data.mp4']
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from descent._version import versions
from descent.scenes.helpers import safe_name
from descent.scenes.script import (
    Chapter,
    LessonRuns,
    Script,
    ScriptError,
    beat_frames,
    check_lesson_config,
    check_runs,
    lesson_configs,
    lesson_script,
    select_chapters,
)
from descent.trainer import Config, Trace

from .outputs import files
from .outputs.clip import QUALITIES, RenderError, _prepare, check_out_dir
from .outputs.files import Interrupted
from .outputs.lesson import render_chapter

__all__ = ["render_lesson", "lesson_runs", "LessonResult", "lesson_files", "chapter_file", "AUDIO_RATE"]

#: x264's presets (the speed/size trade-off).
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
#: The sample rate of the narration in every output (Hz).
AUDIO_RATE = 48_000


@dataclass
class LessonResult:
    """What :func:`render_lesson` published."""

    name: str
    mp4: Path
    poster: Path
    sidecar: Path
    chapters: list[Path]
    captions: Path
    chapter_marks: Path
    transcript_md: Path
    transcript_html: Path
    page: Path
    webm: Path | None
    frames: int
    width: int
    height: int
    fps: float
    duration: float
    seconds: float
    timeline: dict = field(default_factory=dict)
    voice_seconds: float = 0.0  # of ``seconds``: synthesising, mixing, normalising and muxing the narration

    @property
    def paths(self) -> list[Path]:
        extra = [self.webm] if self.webm else []
        return [
            self.mp4,
            *extra,
            self.poster,
            self.sidecar,
            *self.chapters,
            self.captions,
            self.chapter_marks,
            self.transcript_md,
            self.transcript_html,
            self.page,
        ]


def lesson_runs(config: Config | None = None) -> LessonRuns:
    """Train the lesson's three runs from ``config`` (default: the lab), only lr varying."""
    from descent.trainer import train

    config = config or Config()
    check_lesson_config(config)  # before any training
    main = train(config)
    check_runs(main)
    cfg = lesson_configs(main.config, main.lr_max)
    return LessonRuns(main, train(cfg["faster"]), train(cfg["diverging"]))


def chapter_file(name: str, chapter: Chapter) -> str:
    """The file stem of one chapter's clip, e.g. ``lesson_01_data``."""
    return f"{name}_{chapter.number:02d}_{chapter.key}"


def lesson_files(name: str, chapters: Sequence[Chapter], webm: bool = False) -> list[str]:
    """Every file a lesson named ``name`` publishes, in the order they are listed."""
    names = [f"{name}.mp4", *([f"{name}.webm"] if webm else []), f"{name}.png", f"{name}.json"]
    names += [f"{chapter_file(name, c)}.mp4" for c in chapters]
    names += [f"{name}.vtt", f"{name}.chapters.vtt", f"{name}.transcript.md", f"{name}.transcript.html"]
    return [*names, f"{name}.html"]


def _edited_script(script: Script | dict | str | os.PathLike | None) -> Script | None:
    """An edited script, read and checked before anything is trained."""
    if script is None or isinstance(script, Script):
        return script
    if isinstance(script, dict):
        return Script.from_dict(script)
    if isinstance(script, (str, os.PathLike)):
        return Script.load(script)
    raise ScriptError(f"script must be a Script, its dict or a JSON file (got {type(script).__name__})")


def _script_for(runs: LessonRuns, edited: Script | None) -> Script:
    base = lesson_script(runs)
    return base if edited is None else base.reworded(edited)


def _timeline(script: Script, chapters: Sequence[Chapter], rendered: dict[str, dict], name: str) -> dict:
    """Chapter and line times in the joined video, from the frames each chapter clip holds."""
    out_chapters, out_lines = [], []
    start_frames = 0
    fps = next(iter(rendered.values()))["fps"]
    for ch in chapters:
        r = rendered[ch.key]
        t0 = start_frames / fps
        f = start_frames
        for line in script.chapter(ch.key):
            n = beat_frames(line.seconds, fps)
            out_lines.append(
                {
                    **line.to_dict(),
                    "start": round(f / fps, 6),
                    "end": round(min(f + n, start_frames + r["frames"]) / fps, 6),
                }
            )
            f += n
        if f != start_frames + r["frames"]:
            raise RenderError(
                f"chapter {ch.key} has {r['frames']} frames where its beats plan {f - start_frames}: not published"
            )
        start_frames += r["frames"]
        out_chapters.append(
            {
                "number": ch.number,
                "key": ch.key,
                "title": ch.title,
                "start": round(t0, 6),
                "end": round(start_frames / fps, 6),
                "file": f"{chapter_file(name, ch)}.mp4",
            }
        )
    return {"chapters": out_chapters, "lines": out_lines, "frames": start_frames, "duration": start_frames / fps}


def _run_chapters(jobs: list[dict], parallel: int, notify: Callable[[str], None]) -> dict[str, dict]:
    done: dict[str, dict] = {}
    failures: list[str] = []

    def finished(status: str, name: str, payload: dict) -> None:
        if status == "ok":
            done[payload["chapter"]] = payload
            notify(f"  chapter {name}: {payload['frames']} frames in {payload['seconds']:.1f} s")
        else:
            failures.append(f"{name}: {payload.get('reason', 'failed')}")

    if parallel > 1 and len(jobs) > 1:
        from descent.batch import WorkerPool

        pool = WorkerPool(parallel, target=render_chapter)
        try:
            pool.run(jobs, finished)
        finally:
            pool.stop()
    else:
        for job in jobs:
            finished("ok", job["name"], render_chapter(job))
    if failures:
        raise RenderError(f"chapter {failures[0]}")
    return done


def render_lesson(
    runs: LessonRuns | Config | Sequence[Trace] | None = None,
    *,
    script: Script | str | os.PathLike | None = None,
    chapters: str | Sequence[int | str] | None = None,
    quality: str = "l",
    fps: float | None = None,
    theme: str = "dark",
    out_dir: str | os.PathLike = "media",
    name: str = "lesson",
    preset: str = "veryfast",
    webm: bool = False,
    jobs: int | None = None,
    progress: bool = True,
    wait: bool = True,
    notify: Callable[[str], None] | None = None,
    voice: str | os.PathLike | None = None,
    voice_name: str = "en-us",
    voice_rate: int = 160,
    voice_fallback: str | None = None,
) -> LessonResult:
    """Render the lesson (or some of its chapters) and publish its files in ``out_dir``.

    Parameters
    ----------
    runs
        The three runs (:class:`~descent.scenes.script.LessonRuns` or three traces), or a
        config to train them from (:func:`lesson_runs`); default: the lab's config.
    script
        An edited script (a :class:`~descent.scenes.script.Script` or its JSON file) whose
        ids match the lesson's: its texts are shown and spoken, its lengths kept when longer.
    chapters
        ``"1,4,5"`` (numbers or keys): only those chapters, joined in order.
    jobs
        Worker processes rendering chapters side by side (default: the cores, at most the chapters).
    progress
        One line per finished chapter on the notifier.
    voice
        None or ``"none"``: silent. ``"espeak"``: every line spoken offline by espeak-ng
        (``voice_name``, ``voice_rate`` in words a minute). A directory: the lecturer's own
        takes, one file per line named by its id (``ID.wav``, ``.flac``, ``.mp3`` or ``.m4a``);
        a missing take is an error unless ``voice_fallback="espeak"``. Each beat then lasts its
        line's audio plus a pause; the audio is loudness-normalised and muxed as AAC (Opus in the WebM).

    Raises
    ------
    RenderError
        Bad input or output folder (one line); :class:`Interrupted` on Ctrl-C.
    """
    say = notify or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t_start = time.perf_counter()
    try:
        chosen = select_chapters(chapters)
    except ScriptError as exc:
        raise RenderError(str(exc)) from None
    # what can be checked before the three runs are trained
    if isinstance(jobs, bool) or (jobs is not None and not (isinstance(jobs, int) and 1 <= jobs <= 64)):
        raise RenderError(f"jobs must be 1 to 64 (got {jobs!r})")
    if quality not in QUALITIES:
        raise RenderError(f"unknown quality {quality!r} (choose from {', '.join(QUALITIES)})")
    if not isinstance(webm, bool):
        raise RenderError(f"webm must be True or False (got {webm!r})")
    if fps is not None and (
        isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (math.isfinite(fps) and 1 <= fps <= 240)
    ):
        raise RenderError(f"fps must be 1 to 240 (got {fps!r})")
    if preset not in PRESETS:
        raise RenderError(f"unknown x264 preset {preset!r} (choose from {', '.join(PRESETS)})")
    if not isinstance(name, str) or not isinstance(out_dir, (str, os.PathLike)):
        raise RenderError("name must be a text and out_dir a path")
    if chapters is not None and not isinstance(chapters, (str, list, tuple)):
        raise RenderError(f"chapters must be a text such as '1,4' or a list (got {type(chapters).__name__})")
    try:
        edited = _edited_script(script)
        if isinstance(runs, Config):
            check_lesson_config(runs)
        if runs is None or isinstance(runs, Config):
            runs = lesson_runs(runs)
        elif isinstance(runs, Trace) or not isinstance(runs, (LessonRuns, list, tuple)):
            raise ScriptError("runs must be a Config, LessonRuns or three traces (main, compared, above lr_max)")
        elif not isinstance(runs, LessonRuns):
            runs = LessonRuns.from_traces(list(runs))
        the_script = _script_for(runs, edited)
    except ScriptError as exc:
        raise RenderError(str(exc)) from None
    _prepare(runs.traces, "lesson", quality, theme)
    t_voice = time.perf_counter()
    speech = _speech(the_script, chosen, voice, voice_name, voice_rate, voice_fallback)
    voice_seconds = time.perf_counter() - t_voice
    if speech is not None:
        the_script = the_script.with_audio({i: a.size / AUDIO_RATE for i, a in speech.items()})
    name = safe_name(name or "lesson")
    out = check_out_dir(out_dir)
    names = lesson_files(name, chosen, webm)
    for n in names:
        if (out / n).is_dir():
            raise RenderError(f"cannot write {str(out / n)!r}: a directory has that name")
    _claim(out, name, names)  # refuse before rendering; checked again under the lock
    parallel = max(1, min(jobs or os.cpu_count() or 1, len(chosen)))
    threads = max(1, (os.cpu_count() or 1) // parallel) if parallel > 1 else None
    published: list[str] = []
    try:
        with files.output_lock(out, wait=wait, notify=say):
            for line in files.sweep_stale(out):
                say(line)
            with files.work_dir(out) as work:
                new = files.staging(work)
                track = sound = None
                if speech is not None:  # the narration, laid under each chapter as its clip is copied into place
                    t_voice = time.perf_counter()
                    track, sound = _narration(work, the_script, chosen, speech, name, _frame_rate(quality, fps))
                    voice_seconds += time.perf_counter() - t_voice
                job_list = [
                    {
                        "name": chapter_file(name, ch),
                        "chapter": ch.key,
                        "work": str(work),
                        "runs": runs,
                        "script": the_script,
                        "quality": quality,
                        "fps": fps,
                        "theme": theme,
                        "preset": preset,
                        "encoder_threads": threads,
                        "audio": sound and sound[ch.key],
                    }
                    for ch in chosen
                ]
                try:
                    rendered = _run_chapters(job_list, parallel, say if progress else (lambda _m: None))
                except Exception:
                    if track is not None and track.exception() is not None:
                        track.result()  # the narration's own error, not the chapter's "was not made"
                    raise
                finally:
                    if track is not None:
                        track.exception()  # waits: nothing is written in the work folder once it goes
                if track is not None:
                    t_voice = time.perf_counter()
                    track = track.result()  # made while the chapters rendered
                    voice_seconds += time.perf_counter() - t_voice
                timeline = _timeline(the_script, chosen, rendered, name)
                first = rendered[chosen[0].key]
                with files.disk_guard([out]):
                    meta = _finish(
                        new,
                        name,
                        chosen,
                        rendered,
                        timeline,
                        runs,
                        the_script,
                        quality,
                        theme,
                        webm,
                        preset,
                        track,
                        _voice_label(voice),
                    )
                    if speech is not None:
                        voice_seconds += meta["audio"]["seconds"]
                with files.signals_deferred():
                    with files.disk_guard([out]):
                        files.publish(out, work, names, obsolete=_claim(out, name, names))
                    published = names
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(published) from None
    return LessonResult(
        name=name,
        mp4=out / f"{name}.mp4",
        poster=out / f"{name}.png",
        sidecar=out / f"{name}.json",
        chapters=[out / f"{chapter_file(name, c)}.mp4" for c in chosen],
        captions=out / f"{name}.vtt",
        chapter_marks=out / f"{name}.chapters.vtt",
        transcript_md=out / f"{name}.transcript.md",
        transcript_html=out / f"{name}.transcript.html",
        page=out / f"{name}.html",
        webm=out / f"{name}.webm" if webm else None,
        frames=timeline["frames"],
        width=first["width"],
        height=first["height"],
        fps=first["fps"],
        duration=timeline["duration"],
        seconds=time.perf_counter() - t_start,
        voice_seconds=voice_seconds if speech is not None else 0.0,
        timeline=meta["lesson"],
    )


#: Names a lesson may not take: the batch's manifest and gallery page.
RESERVED_NAMES = ("index", "manifest")
#: The largest previous sidecar read to find the files of the set it describes.
MAX_SIDECAR_BYTES = 256 << 20


def _claim(out: Path, name: str, names: Sequence[str]) -> dict[str, dict]:
    """Whether the lesson ``name`` may be written into ``out``, and the previous set's files it replaces.

    A lesson replaces only a lesson: where ``NAME.json`` is another kind of file (a clip's
    sidecar, a batch manifest, a file of the user's), or a file the new set would write
    exists without a lesson's sidecar that lists it with its size and SHA-256 as it is now
    (a user's file, or one edited since descent wrote it), it refuses. Returns the previous
    set's files that the new set no longer has (name → size and hash), which publishing
    removes if they are still what that set wrote (say, chapters left out with --chapters).
    """
    from descent.trainer.inputs import InputFileError, read_limited

    if name in RESERVED_NAMES:
        raise RenderError(f"--name {name} would replace the batch's {name} file; choose another name")
    side = out / f"{name}.json"
    prior: dict = {}
    if side.exists():
        try:
            prior = json.loads(read_limited(side, MAX_SIDECAR_BYTES, what="sidecar"))
        except (InputFileError, ValueError, RecursionError):
            prior = {}
        if not isinstance(prior, dict) or prior.get("schema") != "descent.lesson/1":
            raise RenderError(f"{str(side)!r} is not a lesson's sidecar: choose another --name (nothing was written)")
    checks = prior.get("checks") if isinstance(prior.get("checks"), dict) else {}
    for n in names:
        if n != side.name and os.path.lexists(out / n) and not files.verify(out, n, checks.get(n)):
            why = "was changed since descent wrote it" if n in checks else f"is no file of a lesson named {name}"
            raise RenderError(
                f"{str(out / n)!r} exists and {why}: choose another --name or --out-dir, or move the file away "
                "(nothing was written)"
            )
    return {
        n: c
        for n, c in checks.items()
        if n not in names and files.is_plain_name(n) and isinstance(c, dict) and {"size", "sha256"} <= set(c)
    }


def _finish(
    new: Path,
    name: str,
    chosen: Sequence[Chapter],
    rendered: dict[str, dict],
    timeline: dict,
    runs: LessonRuns,
    script: Script,
    quality: str,
    theme: str,
    webm: bool,
    preset: str,
    track: Any = None,
    voice_label: str = "",
) -> dict:
    """Join the chapters (with the narration ``track`` in one piece, when given) and write every
    other file of the set into the staging folder ``new``."""
    from descent.publish.captions import chapters_vtt, script_vtt
    from descent.publish.presenter import presenter_page
    from descent.publish.transcript import transcript_html, transcript_markdown
    from descent.trainer import atomic_write

    from .outputs.encode import concat_clips

    first = rendered[chosen[0].key]
    voice_seconds = 0.0
    parts = [Path(rendered[c.key]["mp4"]) for c in chosen]
    marks = [(f"{c['number']}. {c['title']}", c["start"], c["end"]) for c in timeline["chapters"]]
    t_voice = time.perf_counter()
    # the chapters' video joined; the narration under it in one piece (the chapters' own AAC,
    # joined, would slip up to a packet's padding, 21 ms, at every seam)
    concat_clips(parts, new / f"{name}.mp4", marks, audio=None if track is None else new.parent / "narration.m4a")
    if track is not None:
        voice_seconds += time.perf_counter() - t_voice
    # the poster: the end of training (the fitted line on the map), else the last chapter rendered
    poster_from = rendered.get("training") or rendered[chosen[-1].key]
    shutil.copyfile(poster_from["poster"], new / f"{name}.png")
    if webm:
        from descent.publish import transcode_webm

        transcode_webm(new / f"{name}.mp4", new / f"{name}.webm")
        if track is not None:
            from .outputs.voice import mux_audio

            t_voice = time.perf_counter()
            silent = new / f".silent-{name}.webm"
            os.replace(new / f"{name}.webm", silent)
            mux_audio(silent, track, new / f"{name}.webm", rate=AUDIO_RATE, codec="opus")
            silent.unlink()
            voice_seconds += time.perf_counter() - t_voice
    lesson = {
        "title": script.title,
        "lang": "en",
        "video": {
            "mp4": f"{name}.mp4",
            "webm": f"{name}.webm" if webm else None,
            "poster": f"{name}.png",
            "captions": f"{name}.vtt",
            "chapters": f"{name}.chapters.vtt",
            "transcript": f"{name}.transcript.html",
            "page": f"{name}.html",
            "duration": timeline["duration"],
            "width": first["width"],
            "height": first["height"],
            "fps": first["fps"],
        },
        "chapters": timeline["chapters"],
        "lines": timeline["lines"],
    }
    atomic_write(new / f"{name}.vtt", script_vtt(lesson["lines"]))
    atomic_write(new / f"{name}.chapters.vtt", chapters_vtt(lesson["chapters"]))
    atomic_write(new / f"{name}.transcript.md", transcript_markdown(lesson))
    atomic_write(new / f"{name}.transcript.html", transcript_html(lesson, presenter=f"{name}.html"))
    atomic_write(new / f"{name}.html", presenter_page(lesson))
    meta = {
        "schema": "descent.lesson/1",
        "name": name,
        "scene": "lesson",
        "files": {"mp4": f"{name}.mp4", "poster": f"{name}.png"},
        "video": {
            "width": first["width"],
            "height": first["height"],
            "fps": first["fps"],
            "frames": timeline["frames"],
            "duration": timeline["duration"],
            "codec": "h264",
            "pix_fmt": "yuv420p",
            "preset": preset,
        },
        "render": {"quality": quality, "theme": theme, "chapters": [c.number for c in chosen]},
        "lesson": lesson,
        "script": script.to_dict(),
        "config": runs.main.config.to_dict(),
        "versions": versions(),
        "traces": [json.loads(t.to_json()) for t in runs.traces],
    }
    # each file's size and hash, so that the next lesson of this name can prove which files were this set's
    meta["checks"] = {n: files.file_check(new / n) for n in lesson_files(name, chosen, webm) if n != f"{name}.json"}
    if track is not None:
        meta["audio"] = {
            "voice": voice_label,
            "rate": AUDIO_RATE,
            "codec": "aac",
            "webm_codec": "opus",
            "loudness_lufs": -16.0,
            "seconds": round(voice_seconds, 3),  # mixing, normalising and muxing it
        }
    atomic_write(new / f"{name}.json", json.dumps(meta, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return meta


# -- the voice ---------------------------------------------------------------------------
def _voice_label(voice: str | os.PathLike | None) -> str:
    return "espeak" if str(voice) == "espeak" else "takes"


def _speech(
    script: Script,
    chosen: Sequence[Chapter],
    voice: str | os.PathLike | None,
    voice_name: str,
    voice_rate: int,
    fallback: str | None,
) -> dict[str, Any] | None:
    """Each spoken line's audio (mono float32 at :data:`AUDIO_RATE`), or None for a silent lesson.

    Everything is checked before anything is rendered: a missing or silent take, an
    unknown format or voice, espeak-ng missing are one-line errors.
    """
    from .outputs.voice import VoiceError, speak

    if voice is None or str(voice) == "none":
        return None
    keys = {c.key for c in chosen}
    lines = [(ln.id, ln.text) for ln in script.lines if ln.chapter in keys]
    try:
        return speak(lines, voice, voice_name=voice_name, voice_rate=voice_rate, fallback=fallback, rate=AUDIO_RATE)
    except VoiceError as exc:
        raise RenderError(str(exc)) from None


def _frame_rate(quality: str, fps: float | None) -> float:
    """The frame rate the chapters will be rendered at (the preset's, unless ``fps`` is given)."""
    if fps is not None:
        return float(fps)
    from manim.constants import QUALITIES as MANIM_QUALITIES

    return float(MANIM_QUALITIES[QUALITIES[quality]]["frame_rate"])


def _narration(
    work: Path, script: Script, chosen: Sequence[Chapter], speech: dict[str, Any], name: str, fps: float
) -> tuple[Future, dict[str, dict]]:
    """The lesson's narration, started before anything is rendered (every beat's frames are known
    from the script): each line from its beat's start, normalised once for the whole lesson.

    Returns the whole track as a future (mixed and normalised in a thread while the chapters
    render; the joined lesson takes it in one piece) and, for each chapter, where its slice
    lies in ``work/narration.f32``, which the chapter's worker waits for and encodes under its
    clip, and ``work/narration.m4a``, its AAC, which the joined lesson copies. If making the track
    fails, ``narration.failed`` says so to the workers.
    """
    planned = {
        ch.key: {"frames": sum(beat_frames(ln.seconds, fps) for ln in script.chapter(ch.key)), "fps": fps}
        for ch in chosen
    }
    timeline = _timeline(script, chosen, planned, name)
    path = work / "narration.f32"

    def make() -> Any:
        try:
            from .outputs.encode import Audio, encode_audio

            track = _mixed(timeline, speech)
            part = work / "narration.f32.part"
            track.astype("<f4").tofile(part)
            os.replace(part, path)
            encode_audio(Audio(track, AUDIO_RATE), work / "narration.m4a")  # the joined lesson copies it
            return track
        except BaseException:
            (work / "narration.failed").touch()
            raise

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="narration")
    future = pool.submit(make)
    pool.shutdown(wait=False)
    slices = {}
    for c in timeline["chapters"]:
        a, z = round(c["start"] * AUDIO_RATE), round(c["end"] * AUDIO_RATE)
        slices[c["key"]] = {"path": str(path), "start": a, "stop": z, "rate": AUDIO_RATE}
    return future, slices


def _mixed(timeline: dict, speech: dict[str, Any]) -> Any:
    from .outputs.voice import loudness_normalise, mix

    cues = [(ln["start"], speech[ln["id"]]) for ln in timeline["lines"]]
    return loudness_normalise(mix(cues, timeline["duration"], AUDIO_RATE), AUDIO_RATE)
