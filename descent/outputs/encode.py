"""What happens to a clip after Manim: the moov atom moved first (no re-encode), frames counted."""

from __future__ import annotations

from pathlib import Path

__all__ = ["faststart_remux", "count_frames"]


def faststart_remux(src: Path, dst: Path) -> None:
    """Copy the H.264 stream into a new mp4 with the moov atom first (no re-encode)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        istream = inp.streams.video[0]
        ostream = out.add_stream_from_template(istream)
        for packet in inp.demux(istream):
            if packet.dts is None:
                continue
            packet.stream = ostream
            out.mux(packet)


def count_frames(path: Path) -> int:
    """The number of video frames in ``path``."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.frames or sum(1 for _ in c.demux(s) if _.size)
