"""Joining chapter clips into one mp4 by stream copy: every frame once, in order, on one clock, with chapter marks."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from descent.outputs.encode import clip_duration, concat_clips, faststart_remux

X264 = {"preset": "veryfast", "crf": "23"}  # what descent's renders pass to Manim's libx264
COLOURS = [(220, 40, 40), (40, 200, 60), (50, 60, 210)]
FRAMES = [7, 10, 13]


def make_clip(path: Path, frames: int, colour, *, size=(160, 90), fps=10, options=None, audio=False) -> Path:
    """A clip of ``frames`` solid-colour frames, H.264 in mp4 like Manim writes them (optionally with AAC audio)."""
    w, h = size
    with av.open(str(path), "w", format="mp4") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.options = dict(options or X264)
        a = c.add_stream("aac", rate=48000, layout="mono") if audio else None
        img = np.empty((h, w, 3), np.uint8)
        img[:] = colour
        for _ in range(frames):
            c.mux(v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(v.encode())
        if a is not None:
            total = round(frames / fps * 48000)
            for t in range(0, total, 1024):
                n = min(1024, total - t)
                tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(t, t + n) / 48000)
                frame = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None, :], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 48000, t
                c.mux(a.encode(frame))
            c.mux(a.encode())
    return path


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("parts")
    return [make_clip(d / f"part{i}.mp4", n, col) for i, (n, col) in enumerate(zip(FRAMES, COLOURS, strict=True))]


def boundaries(parts: list[Path]) -> list[tuple[float, float]]:
    starts = np.cumsum([0.0] + [clip_duration(p) for p in parts])
    return list(zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True))


CHAPTERS = ["The data", "The model − its cost ŷ", "Descent ∇ «λ»"]


@pytest.fixture(scope="module")
def joined(parts, tmp_path_factory) -> tuple[Path, float]:
    dst = tmp_path_factory.mktemp("joined") / "lesson.mp4"
    marks = [(t, s, e) for t, (s, e) in zip(CHAPTERS, boundaries(parts), strict=True)]
    return dst, concat_clips(parts, dst, marks)


def video_packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as c:
        return [p for p in c.demux(c.streams.video[0]) if p.dts is not None]


def decoded(path: Path) -> list[tuple[int, bool, np.ndarray]]:
    """(pts, key frame, mean RGB) of every decoded frame, in presentation order."""
    with av.open(str(path)) as c:
        return [(f.pts, f.key_frame, f.to_ndarray(format="rgb24").mean(axis=(0, 1))) for f in c.decode(video=0)]


def test_every_frame_once_in_order_on_one_clock(parts, joined):
    dst, seconds = joined
    frames = decoded(dst)
    assert len(frames) == sum(FRAMES)
    with av.open(str(dst)) as c:
        assert c.streams.video[0].frames == sum(FRAMES)
        tb = c.streams.video[0].time_base
    expected = [col for n, col in zip(FRAMES, COLOURS, strict=True) for _ in range(n)]
    for i, ((_, _, mean), want) in enumerate(zip(frames, expected, strict=True)):
        assert np.abs(mean - want).max() < 12, (i, mean, want)
    pts = [p for p, _, _ in frames]
    steps = set(np.diff(pts).tolist())
    assert pts[0] == 0 and steps == {1 / (10 * tb)}  # strictly increasing, one frame step, no gap, no overlap
    dts = [p.dts for p in video_packets(dst)]
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False))
    assert seconds == pytest.approx(sum(clip_duration(p) for p in parts)) == pytest.approx(sum(FRAMES) / 10)
    assert clip_duration(dst) == pytest.approx(seconds)
    with av.open(str(dst)) as c:
        assert c.streams.video[0].duration * tb == pytest.approx(seconds)


def test_stream_copy_not_reencoded(parts, joined):
    dst, _ = joined
    assert [bytes(p) for p in video_packets(dst)] == [bytes(p) for part in parts for p in video_packets(part)]
    with av.open(str(dst)) as c, av.open(str(parts[0])) as first:
        assert c.streams.video[0].codec_context.extradata == first.streams.video[0].codec_context.extradata


def test_chapter_marks_start_on_each_parts_first_frame(parts, joined):
    dst, seconds = joined
    with av.open(str(dst)) as c:
        marks = c.chapters()
    assert [m["metadata"]["title"] for m in marks] == CHAPTERS
    got = [float(m[k] * m["time_base"]) for m in marks for k in ("start", "end")]
    assert got == pytest.approx([t for b in boundaries(parts) for t in b], abs=1e-3)
    assert got[-1] == pytest.approx(seconds, abs=1e-3)
    frames = decoded(dst)
    with av.open(str(dst)) as c:
        tb = c.streams.video[0].time_base
    for mark, colour in zip(marks, COLOURS, strict=True):
        at = mark["start"] * mark["time_base"]  # exact
        pts, key, mean = max((f for f in frames if f[0] * tb <= at), key=lambda f: f[0])  # the frame shown there
        assert float(at - pts * tb) < 1e-3 and key
        assert np.abs(mean - colour).max() < 12


def test_chapter_mark_inside_first_frame_at_30_fps(tmp_path):
    """At 30 fps a part starts at a third of a millisecond: the mark (whole ms) is rounded up into its frame."""
    clips = [
        make_clip(tmp_path / f"p{i}.mp4", n, c, fps=30)
        for i, (n, c) in enumerate(zip((7, 5), COLOURS[:2], strict=True))
    ]
    dst = tmp_path / "out.mp4"
    concat_clips(clips, dst, [("one", 0.0, 7 / 30), ("two", 7 / 30, 12 / 30)])
    with av.open(str(dst)) as c:
        mark = c.chapters()[1]
        tb = c.streams.video[0].time_base
    at = mark["start"] * mark["time_base"]
    pts, key, mean = max((f for f in decoded(dst) if f[0] * tb <= at), key=lambda f: f[0])
    assert pts * tb == Fraction(7, 30) and key and np.abs(mean - COLOURS[1]).max() < 12


def test_moov_before_mdat(joined):
    data = joined[0].read_bytes()
    boxes, i = [], 0
    while i < len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if size == 1:
            size = struct.unpack(">Q", data[i + 8 : i + 16])[0]
        assert size >= 8
        boxes.append(kind.decode())
        i += size
    assert boxes.index("moov") < boxes.index("mdat"), boxes


def test_without_chapters_no_marks(parts, tmp_path):
    dst = tmp_path / "plain.mp4"
    assert concat_clips(parts[:2], dst) == pytest.approx(1.7)
    with av.open(str(dst)) as c:
        assert c.chapters() == [] and len(c.streams) == 1


@pytest.mark.parametrize(
    "odd",
    [
        {"size": (192, 108)},
        {"fps": 12},
        {"options": {**X264, "crf": "30"}},  # x264 writes a different PPS (initial QP)
        {"options": {**X264, "profile": "main"}},  # a different SPS
    ],
    ids=["size", "fps", "crf", "profile"],
)
def test_refuses_clips_that_need_reencoding(parts, tmp_path, odd):
    other = make_clip(tmp_path / "odd clip.mp4", 5, (200, 200, 0), **odd)
    if "options" in odd:  # the point of the case: the codec extradata really differs
        with av.open(str(other)) as a, av.open(str(parts[0])) as b:
            assert a.streams.video[0].codec_context.extradata != b.streams.video[0].codec_context.extradata
    dst = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="odd clip.mp4") as err:
        concat_clips([parts[0], other, parts[1]], dst)
    assert "\n" not in str(err.value)
    assert not dst.exists()


def test_refuses_empty_list_no_video_truncated_and_dst_among_parts(parts, tmp_path):
    with pytest.raises(ValueError, match="no clips"):
        concat_clips([], tmp_path / "out.mp4")
    sound = tmp_path / "sound only.m4a"
    with av.open(str(sound), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        c.mux(a.encode(frame))
        c.mux(a.encode())
    with pytest.raises(ValueError, match="sound only.m4a: no video stream"):
        concat_clips([parts[0], sound], tmp_path / "out.mp4")
    cut = tmp_path / "cut short.mp4"  # moov first, then the mdat cut: the last frames are missing
    faststart_remux(parts[2], cut)
    cut.write_bytes(cut.read_bytes()[:-60])
    with pytest.raises(ValueError, match="cut short.mp4: 13 video frames listed but"):
        concat_clips([parts[0], cut], tmp_path / "out.mp4")
    before = parts[1].read_bytes()
    with pytest.raises(ValueError, match="one of the clips"):
        concat_clips(parts, parts[1])
    assert parts[1].read_bytes() == before
    assert not (tmp_path / "out.mp4").exists()


def test_refuses_chapters_that_miss_their_parts(parts, tmp_path):
    (s0, e0), (s1, e1), (s2, e2) = boundaries(parts)
    dst = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="chapter 2"):
        concat_clips(parts, dst, [("a", s0, e0), ("b", s1 + 0.1, e1), ("c", s2, e2)])
    with pytest.raises(ValueError, match="3 chapter marks for 2 clips"):
        concat_clips(parts[:2], dst, [("a", s0, e0), ("b", s1, e1), ("c", s2, e2)])
    assert not dst.exists()


def test_audio_joined_alongside_or_refused_when_missing(tmp_path):
    loud = [
        make_clip(tmp_path / f"a{i}.mp4", n, c, audio=True)
        for i, (n, c) in enumerate(zip(FRAMES, COLOURS, strict=True))
    ]
    dst = tmp_path / "out.mp4"
    seconds = concat_clips(loud, dst)
    assert seconds == pytest.approx(3.0)
    with av.open(str(dst)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        assert c.streams.video[0].frames == sum(FRAMES)
        a = c.streams.audio[0]
        packets = [p for p in c.demux(a) if p.dts is not None]
        tb = a.time_base
    dts = [p.dts for p in packets]
    assert all(y > x for x, y in zip(dts, dts[1:], strict=False))
    # each part's audio starts at its part's start (1024 samples = one AAC frame of slack for the encoder's priming)
    starts = [0.0, 0.7, 1.7]
    for s in starts[1:]:
        first = min(p.pts * tb for p in packets if p.pts * tb >= s - 1e-9)
        assert float(first) == pytest.approx(s, abs=1e-6)
    end = max((p.pts + p.duration) * tb for p in packets)
    assert float(end) == pytest.approx(seconds, abs=1024 / 48000)
    mixed = tmp_path / "mixed.mp4"
    silent = make_clip(tmp_path / "silent.mp4", 5, (0, 0, 0))
    with pytest.raises(ValueError, match="silent.mp4"):
        concat_clips([loud[0], silent], mixed)
    assert not mixed.exists()


class _FailingOutput:
    """Wraps the output container; the sixth packet fails as a full disk would."""

    def __init__(self, real):
        self._real, self._n = real, 0

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        self._real.__enter__()
        return self

    def __exit__(self, *exc):
        return self._real.__exit__(*exc)

    def mux(self, packet):
        self._n += 1
        if self._n > 5:
            raise OSError(28, "No space left on device")
        self._real.mux(packet)


def test_failed_write_removes_only_a_file_it_created(parts, tmp_path, monkeypatch):
    real_open = av.open

    def failing_open(file, mode="r", **kw):
        c = real_open(file, mode, **kw)
        return _FailingOutput(c) if mode == "w" else c

    monkeypatch.setattr(av, "open", failing_open)
    dst = tmp_path / "new.mp4"
    with pytest.raises(OSError, match="No space"):
        concat_clips(parts, dst)
    assert not dst.exists()
    kept = tmp_path / "old.mp4"
    kept.write_bytes(b"not ours")
    with pytest.raises(OSError, match="No space"):
        concat_clips(parts, kept)
    assert kept.exists()


# -- a narration encoded while the video is copied ------------------------------------------------------------
def clicks(seconds: float, at: list[float], rate: int = 48000) -> np.ndarray:
    """Silence with a short 1 kHz burst starting at each time in ``at``."""
    x = np.zeros(round(seconds * rate), np.float32)
    for t in at:
        i = round(t * rate)
        x[i : i + 2400] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(2400) / rate)
    return x


def audio_of(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(s)])


def onsets(x: np.ndarray, rate: int = 48000) -> list[float]:
    """Where each burst starts (seconds): the first sample over a quarter of the peak after a quiet gap."""
    loud = np.flatnonzero(np.abs(x) > 0.125)
    starts = [loud[0]] + [b for a, b in zip(loud, loud[1:], strict=False) if b - a > rate // 10]
    return [s / rate for s in starts]


def stream_seconds(path: Path, kind: str) -> float:
    with av.open(str(path)) as c:
        s = c.streams.audio[0] if kind == "audio" else c.streams.video[0]
        return float(s.duration * s.time_base)


def test_faststart_remux_lays_audio_under_the_copied_video(parts, tmp_path):
    """A narrated clip's sound is encoded in the pass that moves its index first: the video packets untouched,
    the audio as long as the video (within a frame), each sound where it was put."""
    from descent.outputs.encode import Audio

    src, dst = parts[2], tmp_path / "voiced.mp4"  # 13 frames at 10 fps
    faststart_remux(src, dst, Audio(clicks(1.5, [0.2, 0.9])))  # longer than the video: cut at its end
    assert [bytes(p) for p in video_packets(dst)] == [bytes(p) for p in video_packets(src)]
    assert abs(stream_seconds(dst, "audio") - 1.3) < 0.1
    got = onsets(audio_of(dst))
    assert len(got) == 2 and all(abs(g - w) < 0.002 for g, w in zip(got, [0.2, 0.9], strict=True))
    assert b"moov" in dst.read_bytes()[:4096]


def test_concat_lays_one_track_over_the_parts_and_drops_their_audio(tmp_path):
    """The joined lesson takes its narration in one piece: the parts' own audio is left out, and a sound that
    starts at a seam starts there exactly (the parts' AAC joined would slip at every seam)."""
    from descent.outputs.encode import Audio

    parts = [make_clip(tmp_path / f"p{i}.mp4", n, COLOURS[i], audio=True) for i, n in enumerate(FRAMES)]
    seams = [0.7, 1.7]  # 7 and 7 + 10 frames at 10 fps
    dst = tmp_path / "joined.mp4"
    total = concat_clips(parts, dst, audio=Audio(clicks(3.0, [0.1, *seams])))
    assert total == pytest.approx(3.0)
    with av.open(str(dst)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
    got = onsets(audio_of(dst))
    assert len(got) == 3 and all(abs(g - w) < 0.002 for g, w in zip(got, [0.1, *seams], strict=True))
    assert abs(stream_seconds(dst, "audio") - 3.0) < 0.1
    assert sum(1 for _ in decoded(dst)) == sum(FRAMES)


def test_concat_copies_an_encoded_track_over_the_parts(tmp_path):
    """The lesson's narration is encoded once, while its chapters render (``encode_audio``), and its packets
    copied under the joined video: each sound where it was put, cut at the video's end."""
    from descent.outputs.encode import Audio, encode_audio

    parts = [make_clip(tmp_path / f"p{i}.mp4", n, COLOURS[i]) for i, n in enumerate(FRAMES)]
    track = tmp_path / "narration.m4a"
    encode_audio(Audio(clicks(3.5, [0.1, 0.7, 1.7, 3.2])), track)  # the last past the video's end (3.0 s)
    dst = tmp_path / "joined.mp4"
    concat_clips(parts, dst, audio=track)
    got = onsets(audio_of(dst))
    assert len(got) == 3 and all(abs(g - w) < 0.002 for g, w in zip(got, [0.1, 0.7, 1.7], strict=True))
    assert abs(stream_seconds(dst, "audio") - 3.0) < 0.1
    assert sum(1 for _ in decoded(dst)) == sum(FRAMES)
