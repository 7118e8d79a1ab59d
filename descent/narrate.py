"""A narrated clip: ``descent render fit|surface|compare --voice espeak|DIR``.

A clip's short script (:func:`~descent.scenes.script.clip_script`: a line as it
starts, one as the descent begins, one on the final state) is spoken by espeak-ng
or taken from the lecturer's recordings. The clip's stretches grow to hold their
lines (the intro, the descent and the closing hold each last at least their line
plus a pause; the audio is never cut or sped up), the narration is normalised to
−16 LUFS and muxed as AAC, and ``NAME.vtt`` (one cue per line, starting with its
audio) is published with the clip as one set. It sits beside :mod:`descent.lesson`,
over the render API and the captions.

Examples
--------
>>> from descent import Config, train
>>> from descent.narrate import render_narrated
>>> result = render_narrated([train(Config())], "fit", voice="espeak", quality="l",
...                          out_dir="/tmp/narrated-doc", progress=False)  # doctest: +SKIP
>>> [p.name for p in result.paths]  # doctest: +SKIP
['fit_sgd_lr0.1_steps15.mp4', 'fit_sgd_lr0.1_steps15.png', 'fit_sgd_lr0.1_steps15.json', 'fit_sgd_lr0.1_steps15.vtt']
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from descent.scenes import SCENES
from descent.scenes.script import GAP_SECONDS, Script, clip_script
from descent.trainer import Trace

from .outputs.clip import RenderError, RenderResult, render, scene_class
from .outputs.encode import Audio
from .outputs.voice import VoiceError, speak

__all__ = ["render_narrated", "prepare_narration", "narrate_staged", "Narration", "AUDIO_RATE"]

#: The narration's sample rate (Hz).
AUDIO_RATE = 48_000


def _stretched(cls: type, traces: list[Trace], options: dict, seconds: dict[str, float]) -> dict:
    """The scene options that give each line its stretch: intro, descent, hold at least line + pause."""
    timed = type("Timed", (cls,), dict(options))
    out = dict(options)
    out["intro_seconds"] = max(timed.intro_seconds, seconds["clip.start"] + GAP_SECONDS)
    out["descent_seconds"] = max(timed.descent_length(traces), seconds["clip.descent"] + GAP_SECONDS)
    out["hold_seconds"] = max(timed.hold_seconds, seconds["clip.end"] + GAP_SECONDS)
    return out


@dataclass
class Narration:
    """A clip's script, its lines' audio and the scene options that give each line its stretch."""

    script: Script
    speech: dict[str, Any]
    options: dict
    label: str
    track: Any = None  # the normalised narration once laid under a clip (a batch's WebM takes it as Opus)
    times: dict | None = None  # fps, frames and each line's start and end, once the track is made

    def sound(self, traces: Sequence[Trace], scene: str) -> Callable[[float, int], Audio]:
        """The clip's audio as a function of its frame rate and planned frame count (for
        :func:`~descent.outputs.clip.render`'s ``audio``): each line from the start of its
        stretch, mixed and normalised, encoded while the video is copied into place."""

        def make(fps: float, frames: int) -> Audio:
            from .outputs.voice import loudness_normalise, mix

            starts, ends = _line_times(self, traces, scene, fps, frames)
            duration = frames / fps
            cues = [(starts[ln.id], self.speech[ln.id]) for ln in self.script.lines]
            self.track = loudness_normalise(mix(cues, duration, AUDIO_RATE), AUDIO_RATE)
            self.times = {"fps": fps, "frames": frames, "starts": starts, "ends": ends}
            return Audio(self.track, AUDIO_RATE)

        return make


def _line_times(
    narration: Narration, traces: Sequence[Trace], scene: str, fps: float, frames: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Where each line starts and where its stretch ends, in seconds of a clip of ``frames`` frames."""
    timed = type("Timed", (scene_class(scene),), dict(narration.options))
    duration = frames / fps
    start, descent, _total = timed.schedule(list(traces))
    # the descent's first frame: Manim writes a frame every 1/fps from the start of each play()
    t_descent = min(math.ceil(round(start * fps, 6)) / fps, duration)
    t_end = min(t_descent + descent, duration)
    starts = {"clip.start": 0.0, "clip.descent": t_descent, "clip.end": t_end}
    ends = {"clip.start": t_descent, "clip.descent": t_end, "clip.end": duration}
    for i, a in narration.speech.items():
        if starts[i] + a.size / AUDIO_RATE > ends[i] + 1e-6:  # cannot happen: the stretches hold their lines
            raise RenderError(f"line {i} outlasts its part of the clip")
    return starts, ends


def prepare_narration(
    traces: Sequence[Trace],
    scene: str,
    *,
    voice: str | os.PathLike,
    voice_name: str = "en-us",
    voice_rate: int = 160,
    voice_fallback: str | None = None,
    scene_options: dict | None = None,
) -> Narration:
    """Speak a clip's script (before anything is rendered) and stretch the clip to it.

    Raises :class:`RenderError` (one line) for a missing or silent take, an unknown voice,
    espeak-ng missing, or a scene that is not a clip.
    """
    if scene not in SCENES or SCENES[scene].lesson:
        raise RenderError(f"narrated clips are fit, surface or compare (got {scene!r}); the lesson has --voice too")
    if not traces:
        raise RenderError("no trace to render")
    script = clip_script(traces)
    lines = [(ln.id, ln.text) for ln in script.lines]
    try:
        speech = speak(
            lines, voice, voice_name=voice_name, voice_rate=voice_rate, fallback=voice_fallback, rate=AUDIO_RATE
        )
    except VoiceError as exc:
        raise RenderError(str(exc)) from None
    seconds = {i: a.size / AUDIO_RATE for i, a in speech.items()}
    cls = scene_class(scene)
    options = _stretched(cls, list(traces), dict(scene_options or {}), seconds)
    checks = cls.all_params()
    for key, line_id in (
        ("intro_seconds", "clip.start"),
        ("descent_seconds", "clip.descent"),
        ("hold_seconds", "clip.end"),
    ):
        if not checks[key](options[key]):
            raise RenderError(f"line {line_id} lasts {seconds[line_id]:.0f} s: too long for its part of the clip")
    return Narration(script, speech, options, "espeak" if str(voice) == "espeak" else "takes")


def narrate_staged(narration: Narration, staged: RenderResult, traces: Sequence[Trace], scene: str) -> list[str]:
    """The narration's files beside a staged clip: ``NAME.vtt`` (its name is returned), the lines'
    times and the voice in its sidecar. The clip was rendered with ``narration.options`` and
    ``audio=narration.sound(traces, scene)``, which laid the sound under it."""
    from descent.publish.captions import script_vtt
    from descent.trainer import atomic_write

    script, times = narration.script, narration.times
    if times is None or times["frames"] != staged.frames or times["fps"] != staged.fps:
        raise RenderError(
            f"the narration was laid under {times and times['frames']} frames but the clip has {staged.frames}"
        )
    starts, ends = times["starts"], times["ends"]
    cues = [{**ln.to_dict(), "start": round(starts[ln.id], 6), "end": round(ends[ln.id], 6)} for ln in script.lines]
    vtt = staged.mp4.with_suffix(".vtt")
    atomic_write(vtt, script_vtt(cues))
    meta = json.loads(staged.sidecar.read_text())
    meta["files"]["captions"] = vtt.name
    meta["narration"] = {"voice": narration.label, "lines": cues, "script": script.to_dict()}
    meta["audio"] = {"voice": narration.label, "rate": AUDIO_RATE, "codec": "aac", "loudness_lufs": -16.0}
    atomic_write(staged.sidecar, json.dumps(meta, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return [vtt.name]


def render_narrated(
    traces: Trace | Sequence[Trace],
    scene: str = "fit",
    *,
    voice: str | os.PathLike,
    voice_name: str = "en-us",
    voice_rate: int = 160,
    voice_fallback: str | None = None,
    scene_options: dict | None = None,
    **render_options: Any,
) -> RenderResult:
    """Render ``scene`` for ``traces`` with a spoken script, published with its captions.

    Parameters
    ----------
    voice
        ``"espeak"`` (offline speech, ``voice_name`` and ``voice_rate`` in words a minute)
        or a folder of takes named by line id: ``clip.start``, ``clip.descent``,
        ``clip.end`` (``.wav``, ``.flac``, ``.mp3`` or ``.m4a``); ``voice_fallback="espeak"``
        speaks the lines without a take.
    render_options
        Those of :func:`descent.render` (quality, fps, theme, out_dir, name, …).

    Raises
    ------
    RenderError
        Bad input, a missing or silent take, espeak-ng missing (one line), before anything is rendered.
    """
    traces = [traces] if isinstance(traces, Trace) else list(traces)
    narration = prepare_narration(
        traces,
        scene,
        voice=voice,
        voice_name=voice_name,
        voice_rate=voice_rate,
        voice_fallback=voice_fallback,
        scene_options=scene_options,
    )
    return render(
        traces,
        scene,
        scene_options=narration.options,
        audio=narration.sound(traces, scene),
        extras=lambda staged: narrate_staged(narration, staged, traces, scene),
        **render_options,
    )
