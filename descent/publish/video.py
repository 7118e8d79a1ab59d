"""WebM and GIF versions of a finished clip, each written atomically (PyAV, no ffmpeg binary).

Each is written in a work folder of its own beside ``dst`` (see
:mod:`descent.outputs.files`: a kill leaves only that folder, which the next run
removes) and moved into place once complete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from descent.outputs.files import staging, work_dir

__all__ = ["transcode_webm", "make_gif", "GifTooLarge", "staged_path"]


class GifTooLarge(RuntimeError):
    """No GIF under the size cap could be made."""


def staged_path(dst: Path) -> Path:
    """Where a file is written before it is moved to ``dst`` (hidden, beside it)."""
    return dst.with_name(f".{dst.name}.part{dst.suffix}")


@contextlib.contextmanager
def _staged(dst: Path) -> Iterator[Path]:
    """A path to write ``dst`` to, in a work folder beside it; moved to ``dst`` if the block succeeds."""
    dst = Path(os.path.abspath(dst))  # an absolute path: FFmpeg never reads "name:" as a protocol
    with work_dir(dst.parent) as work:
        tmp = staging(work) / dst.name
        yield tmp
        os.replace(tmp, dst)


def transcode_webm(mp4: Path, dst: Path, crf: int = 38) -> Path:
    """VP9 WebM of a clip (same size and frame rate), written atomically."""
    import av

    with _staged(dst) as tmp, av.open(os.path.abspath(mp4)) as src, av.open(str(tmp), mode="w", format="webm") as out:
        s = src.streams.video[0]
        rate = Fraction(s.base_rate or s.average_rate)
        o = out.add_stream(
            "libvpx-vp9",
            rate=rate,
            options={"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
        )
        o.width, o.height, o.pix_fmt = s.width, s.height, "yuv420p"
        for i, frame in enumerate(src.decode(s)):
            frame.pts = i  # one tick per frame at the clip's rate
            frame.time_base = 1 / rate
            for p in o.encode(frame):
                out.mux(p)
        for p in o.encode():
            out.mux(p)
    return dst


def _gif_once(mp4: Path, dst: Path, width: int, fps: float) -> int:
    import av

    with av.open(os.path.abspath(mp4)) as src, av.open(str(dst), mode="w", format="gif") as out:
        s = src.streams.video[0]
        src_fps = float(s.average_rate or s.base_rate)
        step = max(1, round(src_fps / fps))
        height = int(round(s.height * width / s.width / 2) * 2)
        o = out.add_stream("gif", rate=Fraction(src_fps / step).limit_denominator(1000))
        o.width, o.height, o.pix_fmt = width, height, "rgb8"
        graph = av.filter.Graph()
        buf = graph.add_buffer(template=s)
        scale = graph.add("scale", f"{width}:{height}:flags=lanczos")
        split = graph.add("split")
        gen = graph.add("palettegen", "stats_mode=diff")
        use = graph.add("paletteuse", "dither=bayer:bayer_scale=5:diff_mode=rectangle")
        sink = graph.add("buffersink")
        buf.link_to(scale)
        scale.link_to(split)
        split.link_to(gen, 0, 0)
        split.link_to(use, 1, 0)
        gen.link_to(use, 0, 1)
        use.link_to(sink)
        graph.configure()
        for i, frame in enumerate(src.decode(s)):
            if i % step == 0:
                graph.push(frame)
        graph.push(None)
        n = 0
        while True:
            try:
                f = graph.pull()
            except (av.error.EOFError, av.error.BlockingIOError):
                break
            f.pts = n
            if o.codec_context.time_base is not None:
                f.time_base = o.codec_context.time_base
            n += 1
            out.mux(o.encode(f))
        out.mux(o.encode())
    return dst.stat().st_size


def make_gif(mp4: Path, dst: Path, max_bytes: int = 8_000_000) -> Path:
    """A palette-optimised GIF no larger than ``max_bytes``: smaller and slower until it fits."""
    with _staged(dst) as tmp:
        for width, fps in ((640, 12), (480, 10), (400, 8), (320, 8), (240, 6)):
            if _gif_once(mp4, tmp, width, fps) <= max_bytes:
                break
        else:
            raise GifTooLarge(f"no GIF of {mp4.name} fits in {max_bytes / 1e6:.1f} MB, even at 240 px and 6 fps")
    return dst
