"""Narrated clips (issue 11, the clips' part): ``descent render fit|surface|compare --voice``.

A clip's three lines (as it starts, as the descent begins, on the final state) each get a stretch of
the clip at least as long as their audio plus a pause; the audio rides in the mp4 as AAC, as long as the
video, and ``NAME.vtt`` has one cue per line starting with its audio. Small renders: 480p at 5 fps."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from descent.cli import cli
from descent.narrate import render_narrated
from descent.scenes.script import GAP_SECONDS, clip_script
from descent.trainer import Config, train

FPS = 5
RATE = 48_000


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def _check_clip(result) -> dict:
    """Audio as long as the video; each cue starts with its line's audio and the lines do not overlap."""
    meta = json.loads(result.sidecar.read_text())
    vtt = result.extra[0]
    assert vtt.suffix == ".vtt" and meta["files"]["captions"] == vtt.name
    with av.open(str(result.mp4)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.rate == RATE
        video, audio = float(v.duration * v.time_base), float(a.duration * a.time_base)
        samples = np.concatenate([f.to_ndarray().mean(axis=0) for f in c.decode(audio=0)])
    assert audio == pytest.approx(video, abs=1 / FPS) and video == pytest.approx(result.frames / FPS, abs=1e-6)
    loud = np.abs(samples) > 10 ** (-40 / 20)
    cues = meta["narration"]["lines"]
    assert [c["id"] for c in cues] == ["clip.start", "clip.descent", "clip.end"]
    assert vtt.read_text().count(" --> ") == 3
    for cue in cues:
        lo, hi = int(cue["start"] * RATE), int(cue["end"] * RATE)
        onset = lo + int(np.argmax(loud[lo:hi]))
        assert loud[lo:hi].any() and (onset - lo) / RATE == pytest.approx(0.0, abs=1 / FPS), cue
        last = lo + len(loud[lo:hi]) - int(np.argmax(loud[lo:hi][::-1]))
        assert last <= hi, cue  # the line is over before the next one starts
    return meta


@pytest.mark.parametrize("scene", ["fit", "compare"])
def test_a_narrated_clip_speaks_each_line_in_its_stretch(tmp_path, scene):
    traces = [train(Config())] if scene == "fit" else [train(Config()), train(Config(lr=0.2))]
    result = render_narrated(traces, scene, voice="espeak", quality="l", fps=FPS, out_dir=tmp_path, progress=False)
    meta = _check_clip(result)
    assert meta["narration"]["script"]["lines"] == [ln.to_dict() for ln in clip_script(traces).lines]


def test_a_long_take_stretches_the_clip(tmp_path):
    trace = train(Config())
    takes = tmp_path / "takes"
    takes.mkdir()
    for line_id, seconds in (("clip.start", 1.0), ("clip.descent", 25.0), ("clip.end", 1.0)):
        _write_wav(takes / f"{line_id}.wav", _tone(seconds))
    result = render_narrated(trace, "fit", voice=takes, quality="l", fps=FPS, out_dir=tmp_path / "o", progress=False)
    meta = _check_clip(result)
    descent = next(c for c in meta["narration"]["lines"] if c["id"] == "clip.descent")
    assert descent["end"] - descent["start"] == pytest.approx(25.0 + GAP_SECONDS, abs=1 / FPS)
    assert meta["render"]["scene_options"]["descent_seconds"] == pytest.approx(25.0 + GAP_SECONDS)
    # the silent clip of the same run is far shorter: the descent stretched to the take
    silent = CliRunner().invoke(cli, ["render", "fit", "-q", "l", "--fps", str(FPS), "--out-dir", str(tmp_path / "s")])
    assert silent.exit_code == 0
    assert result.frames > int(
        next(line for line in silent.stdout.splitlines() if line.startswith("rendered")).split()[1]
    )


def test_missing_takes_are_named_and_nothing_is_written(tmp_path):
    takes = tmp_path / "takes"
    takes.mkdir()
    _write_wav(takes / "clip.start.wav", _tone(1.0))
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["render", "fit", "--voice", str(takes), "--out-dir", str(out)])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "clip.descent" in r.stderr and "clip.end" in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_narrated_batch_and_its_gallery_in_chromium(tmp_path):
    """`descent batch --voice espeak`: each variant's clip speaks (AAC; Opus in the WebM), its captions are the
    spoken lines, its card is not muted; a rerun renders nothing; Chromium loads each video with its captions."""
    from .test_gallery_browser import CHECK_PAGE, check_in_chromium

    out = tmp_path / "batch"
    args = ["batch", "--lr", "0.1", "--lr", "0.2", "--voice", "espeak", "--webm", "--no-compare"]
    args += ["-q", "l", "--fps", str(FPS), "--out-dir", str(out), "-j", "2"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    for name, entry in manifest["variants"].items():
        assert entry["voiced"] is True and entry["render"]["voice"] == "espeak"
        with av.open(str(out / entry["files"]["mp4"])) as c:
            assert [s.codec_context.name for s in c.streams] == ["h264", "aac"]
        with av.open(str(out / entry["files"]["webm"])) as c:
            assert [s.codec_context.name for s in c.streams] == ["vp9", "opus"]
        assert (out / entry["files"]["vtt"]).read_text().count(" --> ") == 3, name
    page = (out / "index.html").read_text()
    assert " muted" not in page and 'label="Narration"' in page
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "not rendered again" in again.stdout

    page = CHECK_PAGE.replace("cues: cues});", "cues: cues, muted: v.muted});")
    videos = check_in_chromium(out, tmp_path / "profile", page)["videos"]
    assert {v["card"] for v in videos} == set(manifest["variants"])
    for v in videos:
        entry = manifest["variants"][v["card"]]
        assert v["duration"] == pytest.approx(entry["frames"] / entry["fps"], abs=0.15), v
        assert v["cues"] == 3 and v["muted"] is False, v


def test_a_batch_voice_is_checked_before_any_variant_trains(tmp_path):
    r = CliRunner().invoke(
        cli,
        ["batch", "--lr", "0.1", "--voice", "espeak", "--voice-name", "xx;rm", "--out-dir", str(tmp_path / "b")],
    )
    assert r.exit_code == 2 and "unknown espeak-ng voice" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_descent_script_lists_a_clips_lines():
    r = CliRunner().invoke(cli, ["script", "fit"])
    assert r.exit_code == 0, r.stderr
    printed = json.loads(r.stdout)
    assert [ln["id"] for ln in printed["lines"]] == ["clip.start", "clip.descent", "clip.end"]
    assert printed["lines"] == [ln.to_dict() for ln in clip_script([train(Config())]).lines]
