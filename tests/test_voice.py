"""Narration audio (descent.outputs.voice): the script made speakable, espeak-ng synthesis, the lecturer's takes,
the mix, loudness normalisation and muxing beside a copied video stream.

Everything is measured here independently of the module: loudness with a BS.1770 meter written in numpy (checked
against the standard's 997 Hz sine), durations and packets with PyAV. Takes in every format and the small videos
are made with PyAV; speech comes from the real espeak-ng.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import stat
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from descent.outputs.voice import (
    VoiceError,
    find_takes,
    integrated_loudness,
    load_take,
    loudness_normalise,
    mix,
    mux_audio,
    speech_text,
    synthesize,
)
from descent.scenes.script import LessonRuns, lesson_configs, lesson_script
from descent.trainer import Config, train

RATE = 48000
SPEAKABLE = re.compile(r"[A-Za-z0-9 .,;:'?!-]*")


# -- helpers ------------------------------------------------------------------------------------------------
# BS.1770-4 K-weighting at 48 kHz: the standard's own coefficients (high shelf, then high pass)
K_WEIGHTING_48K = (
    ((1.53512485958697, -2.69169618940638, 1.19839281085285), (1.0, -1.69065929318241, 0.73248077421585)),
    ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621)),
)


def lufs(x: np.ndarray) -> float:
    """Integrated loudness (ITU-R BS.1770-4, mono, 48 kHz): K-weighted 400 ms blocks every 100 ms, gated at
    -70 LUFS and 10 LU under the mean. The biquads are applied in the frequency domain (zero-padded by a second,
    far longer than their impulse responses), so no IIR loop runs in Python."""
    x = np.asarray(x, float)
    m = 1 << int(x.size + RATE - 1).bit_length()
    spec = np.fft.rfft(x, m)
    z = np.exp(-1j * np.pi * np.arange(spec.size) / (spec.size - 1))  # z^-1 on each bin
    for b, a in K_WEIGHTING_48K:
        spec *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    y = np.fft.irfft(spec, m)[: x.size]
    block, hop = int(0.4 * RATE), int(0.1 * RATE)
    c = np.concatenate([[0.0], np.cumsum(y * y)])
    starts = np.arange(0, y.size - block + 1, hop)
    power = (c[starts + block] - c[starts]) / block
    power = power[-0.691 + 10 * np.log10(np.maximum(power, 1e-30)) > -70]
    relative = -0.691 + 10 * np.log10(power.mean()) - 10
    return float(-0.691 + 10 * np.log10(power[-0.691 + 10 * np.log10(power) > relative].mean()))


def sine(freq: float, seconds: float, amp: float, rate: int = RATE) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(round(seconds * rate)) / rate)).astype(np.float32)


def onset(x: np.ndarray, level: float) -> int:
    """The first sample whose magnitude reaches ``level``."""
    hits = np.nonzero(np.abs(x) >= level)[0]
    assert hits.size, "no onset"
    return int(hits[0])


def write_audio(path: Path, x: np.ndarray, *, codec: str, fmt: str, rate: int = RATE, channels: int = 1) -> None:
    """Encode mono float samples with PyAV (``channels`` 2 duplicates them)."""
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate, layout=layout)
        data = np.repeat(x[None, :], channels, axis=0).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        c.mux(s.encode(frame))
        c.mux(s.encode(None))


def write_wav(path: Path, x: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


CHAPTER_MARKS = [
    {"id": 1, "start": 0, "end": 800, "time_base": Fraction(1, 1000), "metadata": {"title": "One"}},
    {"id": 2, "start": 800, "end": 2000, "time_base": Fraction(1, 1000), "metadata": {"title": "Two"}},
]


def make_video(path: Path, *, codec: str = "libx264", fmt: str = "mp4", frames: int = 20, fps: int = 10) -> None:
    """A tiny video (64x48) with two chapters; B-frames on (x264), so decode and presentation order differ."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        c.set_chapters(CHAPTER_MARKS)
        for i in range(frames):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:, : 3 * i + 1] = 200
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            c.mux(s.encode(frame))
        c.mux(s.encode(None))


def video_packets(path: Path) -> list[tuple[float, float, bytes]]:
    """(pts, dts) in seconds and the bytes of every video packet."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [
            (float(p.pts * s.time_base), float(p.dts * s.time_base), bytes(p))
            for p in c.demux(s)
            if p.dts is not None and p.size
        ]


def stream_end(path: Path, kind: str) -> tuple[float, float]:
    """Start and end in seconds of the first ``kind`` stream, from its packets (pts + duration), as players
    compute them (the mp4 edit list, or the WebM's Opus pre-skip, hides the encoder's priming)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        spans = [(p.pts, p.pts + p.duration) for p in c.demux(s) if p.dts is not None and p.size]
    return float(min(a for a, _ in spans) * s.time_base), float(max(b for _, b in spans) * s.time_base)


def decode_audio(path: Path) -> tuple[np.ndarray, float]:
    """Every decoded sample of the audio stream (a fresh decoder fed every packet) and the first frame's time."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        out, first = [], None
        for p in c.demux(s):
            for f in s.codec_context.decode(p if p.size else None):
                if first is None:
                    first = float(f.pts * f.time_base)
                out.append(f.to_ndarray().reshape(-1))
    return np.concatenate(out), first


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> list[np.ndarray]:
    """Five lines of the lesson spoken by espeak-ng, decoded at 48 kHz (about 30 s)."""
    out = tmp_path_factory.mktemp("speech")
    lines = [
        ("a", "Everything starts from a straight line, f(x) = 1·x − 1: its slope is 1 and its bias −1."),
        ("b", "The model is a line as well, ŷ = w·x + b."),
        ("c", "The mean of the squares is the mean squared error, our cost: 835.8 for the first guess."),
        ("d", "Seen from straight above, the surface becomes a map whose contour lines join points of equal cost."),
        ("e", "The steepest curvature of the surface, λ_max = 6.006, sets it: lr_max = 2 / λ_max = 0.333."),
    ]
    return [load_take(p) for p in synthesize(lines, out).values()]


def lesson_lines(**config) -> list[tuple[str, str]]:
    """The lesson's script for ``config``, built as ``descent script lesson`` builds it."""
    main = train(Config(**config))
    cfg = lesson_configs(main.config, main.lr_max)
    runs = LessonRuns(main, train(cfg["faster"]), train(cfg["diverging"]))
    return [(ln.id, ln.text) for ln in lesson_script(runs).lines]


# -- speech_text --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "caption, spoken",
    [
        ("its bias −1.", "its bias minus 1."),
        ("from -3 to 2.9", "from minus 3 to 2.9"),
        ("x − 1", "x minus 1"),
        ("ŷ = w·x + b", "y hat equals w times x plus b"),
        ("λ_max = 6.006", "lambda max equals 6.006"),
        ("lr_max = 2 / λ_max", "l r max equals 2 over lambda max"),
        ("w ← w − lr·∇L", "w becomes w minus l r times the gradient of L"),
        ("f(x) = 1·x − 1", "f of x equals 1 times x minus 1"),
        ("L* = 0.0109", "L star equals 0.0109"),
        ("grows to 1.90e7.", "grows to 1.90 times 10 to the 7."),
        ("stops at 1.2e−31 and 3e-05", "stops at 1.2 times 10 to the minus 31 and 3 times 10 to the minus 5"),
        ("within 10 % of L(w, b)", "within 10 percent of L of w, b"),
        ("a mini-batch's step(s), naïve", "a mini-batch's steps, naive"),
        ("The line (dashed) shows it.", "The line, dashed, shows it."),
    ],
)
def test_speech_text_reads_symbols_as_words(caption, spoken):
    assert speech_text(caption) == spoken


def test_speech_text_leaves_plain_words_alone():
    line = "For each point, the residual is how far the point lies above or below the model's line."
    assert speech_text(line) == line


NUMBER = re.compile(r"\d+(?:\.\d+)?")


@pytest.mark.parametrize(
    "config",
    [{}, {"noise": 0.0, "slope": -2.5, "bias": 0.5}, {"lr": 0.02, "steps": 40, "w0": 30.0, "b0": 12.0}],
    ids=["lab", "noiseless", "slow"],
)
def test_speech_text_on_the_real_script(config):
    """Every line of the lesson comes out speakable, with its numbers in order and one 'minus' per minus sign."""
    lines = lesson_lines(**config)
    assert len(lines) >= 20
    for line_id, text in lines:
        spoken = speech_text(text)
        assert SPEAKABLE.fullmatch(spoken), (line_id, spoken)
        assert "  " not in spoken and spoken == spoken.strip()
        # the same numbers in the same order (1.90e7 is read "1.90 times 10 to the 7")
        assert NUMBER.findall(spoken.replace("times 10 to the", "")) == NUMBER.findall(text), (line_id, spoken)
        minus_signs = text.count("−") + len(re.findall(r"(?<![\w.])-(?=\d)", text))
        assert len(re.findall(r"\bminus\b", spoken)) == minus_signs, (line_id, spoken)
        assert speech_text(spoken) == spoken  # idempotent: applying it again changes nothing


def test_speech_text_numbers_with_exponents_keep_mantissa_and_power():
    for caption in ("1.90e7", "2.5e−12", "7e+03"):
        mantissa, power = re.fullmatch(r"(\d+(?:\.\d+)?)e([−+]?\d+)", caption).groups()
        spoken = speech_text(caption)
        sign = "minus " if power.startswith("−") else ""
        assert spoken == f"{mantissa} times 10 to the {sign}{int(power.lstrip('−+'))}"


# -- synthesize ---------------------------------------------------------------------------------------------
def test_synthesize_two_lines(tmp_path):
    short = ("data.task", "The learner is shown only these points.")
    long = (
        "rates.limit",
        "But the stride has a limit. The steepest curvature, λ_max = 6.006, sets it: lr_max = 0.333.",
    )
    wavs = synthesize([short, long], tmp_path / "voice")
    assert list(wavs) == ["data.task", "rates.limit"]
    assert sorted(p.name for p in (tmp_path / "voice").iterdir()) == ["data.task.wav", "rates.limit.wav"]
    a, b = (load_take(wavs[k]) for k in wavs)
    for x in (a, b):
        assert 20 * math.log10(np.abs(x).max()) > -20  # speech, not a whisper
        frames = x[: x.size // 480 * 480].reshape(-1, 480)
        voiced = np.sqrt((frames.astype(float) ** 2).mean(axis=1)) > 0.01
        assert voiced.mean() > 0.3  # voice for a good part of the time, not a click
    assert a.size / RATE > 1.0
    assert b.size > 2 * a.size  # a line three times longer takes much longer to say


def test_synthesize_rate_changes_speed(tmp_path):
    line = [("x", "Gradient descent steps the other way, downhill.")]
    slow = load_take(synthesize(line, tmp_path / "slow", rate=100)["x"])
    fast = load_take(synthesize(line, tmp_path / "fast", rate=300)["x"])
    assert slow.size > 2 * fast.size


def test_synthesize_unknown_voice(tmp_path):
    with pytest.raises(VoiceError, match="unknown espeak-ng voice 'xx-nosuch'"):
        synthesize([("a", "Hello.")], tmp_path / "v", voice="xx-nosuch")
    with pytest.raises(VoiceError, match="variant 'nosuch'"):
        synthesize([("a", "Hello.")], tmp_path / "v", voice="en-us+nosuch")
    assert not (tmp_path / "v").exists()
    # names espeak-ng knows, in any case, and a real variant
    assert set(synthesize([("a", "Hello.")], tmp_path / "w", voice="EN-GB+f3")) == {"a"}


def test_synthesize_without_espeak(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(VoiceError) as err:
        synthesize([("a", "Hello.")], tmp_path / "v")
    assert str(err.value) == "espeak-ng is not installed: sudo apt-get install espeak-ng"
    assert not (tmp_path / "v").exists()


def test_synthesize_reports_espeak_failure_and_keeps_nothing(tmp_path, monkeypatch):
    """A failing espeak-ng: its first stderr line is the message, and the lines already spoken are removed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = shutil.which("espeak-ng")
    fake = bin_dir / "espeak-ng"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--voices*) exec "' + real + '" "$@";; esac\n'
        "text=$(cat)\n"
        'case "$text" in *boom*) printf "\\nsegfault: out of phonemes\\nmore\\n" >&2; exit 3;; esac\n'
        'printf "%s" "$text" | "' + real + '" "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "v"
    with pytest.raises(VoiceError, match=r"^espeak-ng failed on line b: segfault: out of phonemes$"):
        synthesize([("a", "Fine."), ("b", "boom")], out)
    assert not out.exists()  # made by this call, emptied and removed again
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(VoiceError, match="segfault"):
        synthesize([("a", "Fine."), ("b", "boom")], out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("bad", ["../x", "a/b", ".hidden", "", "a b", "a..b"])
def test_synthesize_refuses_unsafe_ids(tmp_path, bad):
    with pytest.raises(VoiceError, match="not a plain file name"):
        synthesize([(bad, "Hello.")], tmp_path / "v")
    assert not (tmp_path / "v").exists()


def test_synthesize_refuses_bad_input(tmp_path):
    with pytest.raises(VoiceError, match="listed twice"):
        synthesize([("a", "One."), ("a", "Two.")], tmp_path)
    with pytest.raises(VoiceError, match="nothing to say"):
        synthesize([("a", "— … ()")], tmp_path)
    with pytest.raises(VoiceError, match="speaking rate 1000"):
        synthesize([("a", "Hi.")], tmp_path, rate=1000)
    assert list(tmp_path.iterdir()) == []


# -- takes --------------------------------------------------------------------------------------------------
def test_find_takes_names_missing_ids(tmp_path):
    ids = [f"line.{i}" for i in range(8)]
    for i in (2, 5):
        write_wav(tmp_path / f"line.{i}.wav", sine(440, 0.2, 0.5))
    with pytest.raises(VoiceError) as err:
        find_takes(tmp_path, ids)
    msg = str(err.value)
    assert msg.startswith("no take for line.0, line.1, line.3, line.4, line.6, … (1 more) in ")
    assert "\n" not in msg


def test_find_takes_finds_each_format(tmp_path):
    names = {"data.truth": "data.truth.wav", "data.noise": "data.noise.FLAC", "model.mse": "model.mse.mp3"}
    for name in [*names.values(), "other.wav", "data.truth.txt", "notes.md"]:
        (tmp_path / name).write_bytes(b"x")
    takes = find_takes(tmp_path, list(names))
    assert list(takes) == list(names)
    assert {k: p.name for k, p in takes.items()} == names


def test_find_takes_refuses_two_formats(tmp_path):
    for name in ("a.wav", "b.wav", "b.m4a"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(VoiceError, match=r"^two takes for b: b.m4a, b.wav"):
        find_takes(tmp_path, ["a", "b"])


def test_find_takes_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "a.wav")
    with pytest.raises(VoiceError, match=r"a FIFO"):
        find_takes(tmp_path, ["a"])
    (tmp_path / "a.wav").unlink()
    (tmp_path / "a.wav").mkdir()
    with pytest.raises(VoiceError, match=r"a directory"):
        find_takes(tmp_path, ["a"])
    (tmp_path / "a.wav").rmdir()
    (tmp_path / "a.wav").write_bytes(b"")
    with pytest.raises(VoiceError, match="is empty"):
        find_takes(tmp_path, ["a"])
    with pytest.raises(VoiceError, match="does not exist"):
        find_takes(tmp_path / "nowhere", ["a"])


def test_load_take_refuses_a_fifo_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "a.wav")
    with pytest.raises(VoiceError, match="a FIFO"):
        load_take(tmp_path / "a.wav")  # no writer: a blocking open would hang here


@pytest.mark.parametrize(
    "name, codec, fmt, rate, channels",
    [
        ("t.wav", "pcm_s16le", "wav", 22050, 1),
        ("t.flac", "flac", "flac", 44100, 2),
        ("t.mp3", "libmp3lame", "mp3", 44100, 1),
        ("t.m4a", "aac", "ipod", 48000, 2),
    ],
)
def test_load_take_decodes_each_format(tmp_path, name, codec, fmt, rate, channels):
    """A 1.5 s take with a beep at 0.5 s: mono 48 kHz, the right length, the beep where it was."""
    x = np.zeros(round(1.5 * rate), np.float32)
    x[round(0.2 * rate) :] = sine(220, 1.3, 0.05, rate)
    beep = sine(1000, 0.05, 0.8, rate)
    x[round(0.5 * rate) : round(0.5 * rate) + beep.size] = beep
    write_audio(tmp_path / name, x, codec=codec, fmt=fmt, rate=rate, channels=channels)
    y = load_take(tmp_path / name)
    assert y.dtype == np.float32 and y.ndim == 1
    # to the sample (after resampling): the MP3 decoder trims LAME's priming and padding, the mp4 edit list
    # the AAC priming, and load_take the AAC padding the decoder keeps after the last sample
    assert abs(y.size - round(1.5 * RATE)) <= 1, y.size / RATE
    assert abs(onset(y, 0.4) / RATE - 0.5) < 0.002
    beep_rms = float(np.sqrt(np.mean(y[round(0.51 * RATE) : round(0.54 * RATE)].astype(float) ** 2)))
    assert abs(beep_rms - 0.8 / math.sqrt(2)) < 0.05  # two channels averaged to mono: the level stays


def test_load_take_refuses_silence(tmp_path):
    write_wav(tmp_path / "zero.wav", np.zeros(RATE, np.float32))
    with pytest.raises(VoiceError, match=r"zero.wav' is silent \(peak digital silence\)"):
        load_take(tmp_path / "zero.wav")
    write_wav(tmp_path / "hum.wav", sine(100, 1.0, 10 ** (-60 / 20)))
    with pytest.raises(VoiceError, match=r"hum.wav' is silent \(peak -60.\d dBFS\)"):
        load_take(tmp_path / "hum.wav")
    write_wav(tmp_path / "quiet.wav", sine(100, 1.0, 10 ** (-40 / 20)))
    assert load_take(tmp_path / "quiet.wav").size == RATE  # quiet is not silent


def test_load_take_refuses_what_is_not_audio(tmp_path):
    (tmp_path / "text.wav").write_text("These are my notes for the recording, not a recording.\n" * 20)
    with pytest.raises(VoiceError, match=r"text.wav' is not a readable WAV file"):
        load_take(tmp_path / "text.wav")
    write_audio(tmp_path / "really.flac", sine(440, 0.5, 0.5), codec="flac", fmt="flac")
    os.rename(tmp_path / "really.flac", tmp_path / "named.mp3")
    with pytest.raises(VoiceError, match=r"named.mp3' is not a readable MP3 file"):
        load_take(tmp_path / "named.mp3")
    (tmp_path / "take.ogg").write_bytes(b"OggS")
    with pytest.raises(VoiceError, match="unknown format"):
        load_take(tmp_path / "take.ogg")


def test_load_take_refuses_more_than_ten_minutes(tmp_path):
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes([128, 200]) * (8000 * 301))  # 602 s of a loud 4 kHz tone, 4.8 MB
    with pytest.raises(VoiceError, match="longer than 10 minutes"):
        load_take(path)


# -- mix ----------------------------------------------------------------------------------------------------
def test_mix_places_each_clip_on_its_sample():
    a = np.array([1.0, 0.5], np.float32)
    b = np.array([0.25, 0.25, 0.25], np.float32)
    out = mix([(0.5, a), (0.5 + 1 / RATE, b), (1.25, b)], duration=2.0)
    assert out.dtype == np.float32 and out.size == 2 * RATE
    i = RATE // 2
    assert out[i - 1] == 0 and out[i] == 1.0 and out[i + 1] == 0.75 and out[i + 2] == 0.25 and out[i + 3] == 0.25
    assert out[i + 4] == 0
    j = round(1.25 * RATE)
    assert list(out[j - 1 : j + 4]) == [0, 0.25, 0.25, 0.25, 0]
    assert np.count_nonzero(out) == 7
    assert mix([], duration=1.001).size == round(1.001 * RATE)


def test_mix_refuses_a_clip_running_past_the_end():
    clip = np.ones(RATE, np.float32)
    assert mix([(1.0, clip)], duration=2.0)[-1] == 1.0  # ends exactly at the end
    with pytest.raises(VoiceError, match=r"runs past the end of the mix \(2.000 s\)"):
        mix([(1.0 + 1 / RATE, clip)], duration=2.0)
    with pytest.raises(VoiceError, match="bad start time"):
        mix([(-0.5, clip)], duration=2.0)


# -- loudness -----------------------------------------------------------------------------------------------
def test_the_meter_reads_the_standard_sine():
    """BS.1770: a 997 Hz sine at 0 dBFS reads -3.01 LUFS; so at -20 dBFS, -23.01."""
    assert abs(lufs(sine(997, 5, 1.0)) - -3.01) < 0.02
    assert abs(lufs(sine(997, 5, 0.1)) - -23.01) < 0.02
    assert abs(integrated_loudness(sine(997, 5, 0.1)) - lufs(sine(997, 5, 0.1))) < 0.05


@pytest.mark.parametrize("target, peak", [(-16.0, -1.5), (-23.0, -1.0)])
def test_loudness_normalise_reaches_the_target(speech, target, peak):
    """About 30 s of real synthesised speech with pauses, starting 15 dB too quiet (-35 LUFS)."""
    gap = np.zeros(int(0.6 * RATE), np.float32)
    x = np.concatenate([part for clip in speech for part in (clip, gap)])
    x *= 10 ** ((-35 - lufs(x)) / 20)
    assert x.size / RATE >= 10
    y = loudness_normalise(x, target_lufs=target, true_peak=peak)
    assert y.size == x.size and y.dtype == np.float32
    assert abs(lufs(y) - target) <= 1.0, lufs(y)
    assert 20 * math.log10(np.abs(y).max()) <= peak + 0.05  # a sample peak never exceeds the true peak


def test_loudness_normalise_keeps_onsets(speech):
    """A beep at 2 s and speech after it: after normalising, the beep starts on the same sample (±1 ms)."""
    x = np.zeros(14 * RATE, np.float32)
    x[2 * RATE : 2 * RATE + 2400] = sine(1000, 0.05, 0.3)
    clip = speech[0][: 10 * RATE]
    x[3 * RATE : 3 * RATE + clip.size] = 0.3 * clip
    y = loudness_normalise(x)
    assert y.size == x.size
    before = onset(x, 0.1 * np.abs(x[: 3 * RATE]).max())
    after = onset(y, 0.1 * np.abs(y[: 3 * RATE]).max())
    assert before == 2 * RATE + 1
    assert abs(after - before) <= RATE // 1000, after - before
    assert np.abs(y[: 2 * RATE - RATE // 100]).max() < 1e-3  # the silence before it stays silent


def test_loudness_normalise_silence_and_bad_input():
    assert not loudness_normalise(np.zeros(RATE, np.float32)).any()
    with pytest.raises(VoiceError, match="not finite"):
        loudness_normalise(np.array([0.0, np.nan], np.float32))
    with pytest.raises(VoiceError, match="out of range"):
        loudness_normalise(sine(440, 1, 0.1), target_lufs=3.0)
    with pytest.raises(VoiceError, match="1-D"):
        loudness_normalise(np.zeros((2, 100), np.float32))


# -- mux ----------------------------------------------------------------------------------------------------
def beeps(seconds: float) -> np.ndarray:
    """A quiet hum with a loud beep at 1.0 s, as long as ``seconds``."""
    x = sine(220, seconds, 0.02)
    x[RATE : RATE + 2400] = sine(1000, 0.05, 0.5)
    return x


def test_mux_audio_mp4(tmp_path):
    src, dst = tmp_path / "silent.mp4", tmp_path / "voiced.mp4"
    make_video(src)
    mux_audio(src, beeps(2.0), dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silent.mp4", "voiced.mp4"]
    assert stat.S_IMODE(dst.stat().st_mode) == 0o644
    frame = 1 / 10
    # the video: the same packets, byte for byte, at the same times
    assert video_packets(dst) == video_packets(src)
    v0, v1 = stream_end(dst, "video")
    a0, a1 = stream_end(dst, "audio")
    with av.open(str(dst)) as c:
        a, v = c.streams.audio[0], c.streams.video[0]
        assert (a.codec_context.name, a.codec_context.sample_rate, a.codec_context.layout.name) == (
            "aac",
            48000,
            "mono",
        )
        assert 0 < a.codec_context.bit_rate <= 130_000  # the fast coder spends what the sound needs
        # what players show: the stream durations (the edit list hides the AAC priming)
        assert abs(float(a.duration * a.time_base) - float(v.duration * v.time_base)) < frame
        assert c.chapters() and [ch["metadata"]["title"] for ch in c.chapters()] == ["One", "Two"]
        assert [(ch["start"], ch["end"]) for ch in c.chapters()] == [(0, 800), (800, 2000)]
    assert (v0, v1) == (0.0, 2.0)
    # AAC starts with a priming frame (1024 samples) timed before zero; the packets still end with the video
    assert a0 < 0 and abs(a1 - v1) < frame
    samples, first = decode_audio(dst)
    assert first == 0.0
    assert abs(samples.size / RATE - (v1 - v0)) < frame  # the decoder may keep the last frame's padding
    assert abs(onset(samples, 0.25) / RATE - 1.0) < 0.002  # the beep is where it was put
    src_x = beeps(2.0)
    err = samples[: src_x.size] - src_x[: samples.size]
    assert 10 * np.log10(np.sum(src_x**2) / np.sum(err**2)) > 20  # the sound kept (decoded against the source)
    head = dst.read_bytes()[:4096]
    assert b"moov" in head  # +faststart: the index comes first


def test_mux_audio_webm(tmp_path):
    src, dst = tmp_path / "silent.webm", tmp_path / "voiced.webm"
    make_video(src, codec="libvpx-vp9", fmt="webm")
    mux_audio(src, beeps(1.95), dst)  # shorter than the video: padded with silence
    assert video_packets(dst) == video_packets(src)
    with av.open(str(dst)) as c:
        a = c.streams.audio[0]
        assert (a.codec_context.name, a.codec_context.sample_rate) == ("opus", 48000)
        assert [ch["metadata"]["title"] for ch in c.chapters()] == ["One", "Two"]
    v0, v1 = stream_end(dst, "video")
    a0, a1 = stream_end(dst, "audio")
    assert (v0, v1) == (0.0, 2.0)
    assert abs(a1 - v1) < 0.1 and a0 <= 0
    samples, _ = decode_audio(dst)
    assert abs(samples.size / RATE - 2.0) < 0.1
    assert abs(onset(samples, 0.25) / RATE - 1.0) < 0.002


def test_mux_audio_refuses(tmp_path):
    src = tmp_path / "silent.mp4"
    make_video(src)
    with pytest.raises(VoiceError, match=r"the audio \(2.500 s\) is longer than the video"):
        mux_audio(src, beeps(2.5), tmp_path / "out.mp4")
    with pytest.raises(VoiceError, match="WebM needs VP9"):
        mux_audio(src, beeps(2.0), tmp_path / "out.webm")
    with pytest.raises(VoiceError, match="over its source"):
        mux_audio(src, beeps(2.0), src)
    with pytest.raises(VoiceError, match="use .mp4 or .webm"):
        mux_audio(src, beeps(2.0), tmp_path / "out.avi")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(VoiceError, match="notes.mp4' is not readable"):
        mux_audio(tmp_path / "notes.mp4", beeps(2.0), tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4", "silent.mp4"]
    assert stat.S_ISREG(os.stat(src).st_mode)


def test_load_take_removes_an_offset_and_an_offset_alone_is_silent(tmp_path):
    """A recorder's DC offset is no sound: a take of only an offset is silent, and an offset under a tone goes."""
    write_wav(tmp_path / "dc.wav", np.full(RATE, 0.5, np.float32))
    with pytest.raises(VoiceError, match=r"dc.wav' is silent"):
        load_take(tmp_path / "dc.wav")
    write_wav(tmp_path / "tone.wav", 0.3 + sine(220, 1.0, 0.3))
    y = load_take(tmp_path / "tone.wav")
    assert abs(float(y.mean())) < 1e-3 and float(np.abs(y).max()) == pytest.approx(0.3, abs=0.01)
