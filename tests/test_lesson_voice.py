"""The narrated lesson end to end (issue 11, the lesson's part): espeak-ng or the lecturer's own takes
set each beat's length, the audio rides in the mp4 as AAC (Opus in the WebM), as long as the video, each
caption starting with its line's audio. Small renders: chapter 1 (three lines) at 480p, 5 fps."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from descent.cli import cli
from descent.lesson import lesson_runs, render_lesson
from descent.outputs.voice import integrated_loudness
from descent.scenes.script import GAP_SECONDS, MIN_SECONDS, beat_frames, lesson_script
from descent.trainer import Config

FPS = 5
RATE = 48_000
CHAPTER = "1"  # the data: three lines
CHAPTERS = "1,2"  # a seam: the joined lesson's audio must not slip at it


@pytest.fixture(scope="module")
def runs():
    return lesson_runs(Config())


@pytest.fixture(scope="module")
def voiced(tmp_path_factory, runs):
    out = tmp_path_factory.mktemp("voiced")
    result = render_lesson(
        runs, chapters=CHAPTERS, quality="l", fps=FPS, out_dir=out, voice="espeak", webm=True, jobs=1, progress=False
    )
    return out, result, json.loads(result.sidecar.read_text())


def _audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().mean(axis=0) for f in c.decode(audio=0)]).astype(np.float32)


def _durations(path: Path) -> tuple[float, float]:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        return float(v.duration * v.time_base), float(a.duration * a.time_base)


def test_the_joined_lessons_audio_does_not_slip_at_the_seams(voiced):
    """Joining the chapters' AAC by stream copy added up to a packet's padding at each seam (the decoded
    audio ran 2 frames long by chapter 6); the lesson takes the whole track in one piece."""
    out, result, meta = voiced
    decoded = _audio(result.mp4).size / RATE
    assert decoded == pytest.approx(meta["video"]["duration"], abs=1 / FPS)
    whole = _audio(result.mp4)
    for ch, clip in zip(meta["lesson"]["chapters"], result.chapters, strict=True):
        part = _audio(clip)
        a = round(ch["start"] * RATE)
        # the chapter's own audio and the lesson's at the chapter's place: the same sound, not shifted
        n = min(part.size, whole.size - a, RATE * 5)
        lag = int(np.argmax(np.correlate(whole[a : a + n + 960], part[:n], mode="valid")))
        assert lag <= 960 * 0.1, (ch["key"], lag)  # within 2 ms


def test_the_voiced_lesson_carries_aac_as_long_as_the_video(voiced):
    out, result, meta = voiced
    for mp4 in (result.mp4, *result.chapters):
        with av.open(str(mp4)) as c:
            a = c.streams.audio[0]
            assert a.codec_context.name == "aac" and a.rate == RATE
        video, audio = _durations(mp4)
        assert audio == pytest.approx(video, abs=1 / FPS), mp4.name
    chapters = meta["lesson"]["chapters"]
    assert _durations(result.mp4)[0] == pytest.approx(meta["video"]["duration"], abs=1e-6)
    for ch, clip in zip(chapters, result.chapters, strict=True):
        assert _durations(clip)[0] == pytest.approx(ch["end"] - ch["start"], abs=1e-6)
    with av.open(str(result.webm)) as c:
        assert c.streams.audio[0].codec_context.name == "opus" and c.streams.video[0].codec_context.name == "vp9"
    assert meta["audio"]["voice"] == "espeak"
    # loud enough for the web, and the same target for every lesson
    assert integrated_loudness(_audio(result.mp4), RATE) == pytest.approx(-16.0, abs=1.0)


def test_each_caption_starts_with_its_audio(voiced):
    out, result, meta = voiced
    samples = _audio(result.mp4)
    level = np.abs(samples) > 10 ** (-40 / 20)  # speech, not the silence between lines
    lines = meta["lesson"]["lines"]
    for ln in lines:
        a, z = int(ln["start"] * RATE), int(ln["end"] * RATE)
        assert level[a:z].any(), ln["id"]
        onset = (a + int(np.argmax(level[a:z]))) / RATE
        assert onset - ln["start"] == pytest.approx(0.0, abs=1 / FPS), ln["id"]  # the cue starts with the voice
        # and the line is silent before its cue: no spill from the line before
        if a > 0:
            assert not level[max(0, a - int(0.2 * RATE)) : a].any(), ln["id"]


def test_the_audio_sets_each_beat(voiced, runs):
    """A line lasts its audio plus a gap: the espeak WAVs (measured independently here) against the beats."""
    out, result, meta = voiced
    base = lesson_script(runs)
    for ln in meta["lesson"]["lines"]:
        assert ln["seconds"] >= MIN_SECONDS
        frames = round((ln["end"] - ln["start"]) * FPS)
        assert frames == beat_frames(ln["seconds"], FPS)
        # espeak reads numbers slowly: every line of chapter 1 outlasts its reading estimate
        assert ln["seconds"] != base.line(ln["id"]).seconds


def _tone(seconds: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def test_a_long_take_lengthens_its_beat_and_the_video(tmp_path, runs):
    ids = [ln.id for ln in lesson_script(runs).chapter("data")]
    takes = tmp_path / "takes"
    takes.mkdir()
    lengths = {ids[0]: 2.0, ids[1]: 14.0, ids[2]: 2.0}  # the second take is far longer than its line reads
    for i, s in lengths.items():
        _write_wav(takes / f"{i}.wav", _tone(s))
    result = render_lesson(
        runs, chapters=CHAPTER, quality="l", fps=FPS, out_dir=tmp_path / "out", voice=takes, jobs=1, progress=False
    )
    lines = json.loads(result.sidecar.read_text())["lesson"]["lines"]
    for ln in lines:
        assert ln["seconds"] == pytest.approx(max(lengths[ln["id"]] + GAP_SECONDS, MIN_SECONDS))
    assert lines[1]["end"] - lines[1]["start"] == pytest.approx(14.0 + GAP_SECONDS, abs=1 / FPS)
    video, audio = _durations(result.mp4)
    assert video == pytest.approx(sum(beat_frames(ln["seconds"], FPS) for ln in lines) / FPS, abs=1e-6)
    assert audio == pytest.approx(video, abs=1 / FPS)


def test_missing_takes_are_named_and_nothing_is_written(tmp_path, runs):
    ids = [ln.id for ln in lesson_script(runs).chapter("data")]
    takes = tmp_path / "takes"
    takes.mkdir()
    _write_wav(takes / f"{ids[0]}.wav", _tone(2.0))
    out = tmp_path / "out"
    args = ["render", "lesson", "--chapters", CHAPTER, "-q", "l", "--fps", str(FPS), "--out-dir", str(out)]
    r = CliRunner().invoke(cli, [*args, "--voice", str(takes)])
    assert r.exit_code == 2
    message = r.stderr.strip()
    assert len(message.splitlines()) == 1 and ids[1] in message and ids[2] in message and ids[0] not in message
    assert not out.exists() or not any(out.iterdir())
    # a silent take is refused the same way
    _write_wav(takes / f"{ids[1]}.wav", np.zeros(RATE, dtype=np.float32))
    _write_wav(takes / f"{ids[2]}.wav", _tone(2.0))
    r = CliRunner().invoke(cli, [*args, "--voice", str(takes)])
    assert r.exit_code == 2 and "silent" in r.stderr and ids[1] in r.stderr
    # with the fallback, the lines without a take are spoken by espeak
    (takes / f"{ids[1]}.wav").unlink()
    r = CliRunner().invoke(cli, [*args, "--voice", str(takes), "--voice-fallback", "espeak", "--quiet"])
    assert r.exit_code == 0, r.stderr
    lines = json.loads((out / "lesson.json").read_text())["lesson"]["lines"]
    assert lines[0]["seconds"] == pytest.approx(2.0 + GAP_SECONDS) and lines[1]["seconds"] > MIN_SECONDS


def test_an_offset_only_take_is_silent(tmp_path, runs):
    """A take that is only a DC offset was mixed in and pushed the output past full scale."""
    ids = [ln.id for ln in lesson_script(runs).chapter("data")]
    takes = tmp_path / "takes"
    takes.mkdir()
    _write_wav(takes / f"{ids[0]}.wav", np.full(2 * RATE, 0.5, dtype=np.float32))
    for i in ids[1:]:
        _write_wav(takes / f"{i}.wav", _tone(2.0))
    r = CliRunner().invoke(
        cli, ["render", "lesson", "--chapters", "1", "--voice", str(takes), "--out-dir", str(tmp_path)]
    )
    assert r.exit_code == 2 and "silent" in r.stderr and ids[0] in r.stderr


def test_voice_options_go_with_a_voice(tmp_path):
    r = CliRunner().invoke(cli, ["render", "fit", "--voice-rate", "120", "--out-dir", str(tmp_path)])
    assert r.exit_code == 2 and "go with --voice" in r.stderr
    r = CliRunner().invoke(cli, ["render", "lesson", "--voice", str(tmp_path / "nowhere"), "--out-dir", str(tmp_path)])
    assert r.exit_code == 2 and "nowhere" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_narration_that_cannot_be_made_is_its_own_error_and_nothing_is_published(tmp_path, runs, monkeypatch, jobs):
    """The track is mixed in a thread while the chapters render; the chapters wait for it. When it fails, the
    render stops with the narration's own error (not a chapter's 'not made', not a wait) and publishes nothing."""
    import descent.lesson as lesson_module
    import descent.outputs.lesson as chapter_module
    from descent.outputs.clip import RenderError

    def broken(timeline, speech):
        raise RenderError("no room for the narration")

    monkeypatch.setattr(lesson_module, "_mixed", broken)
    monkeypatch.setattr(chapter_module, "NARRATION_WAIT", 30.0)
    out = tmp_path / "out"
    with pytest.raises(RenderError, match="no room for the narration"):
        render_lesson(
            runs, chapters=CHAPTERS, quality="l", fps=FPS, out_dir=out, voice="espeak", jobs=jobs, progress=False
        )
    assert not [p for p in out.iterdir() if not p.name.startswith(".")]
