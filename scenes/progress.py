"""One progress bar for a whole render, instead of Manim's bar per play()."""

from __future__ import annotations

import sys
from typing import Callable

from manim.renderer.cairo_renderer import CairoRenderer

__all__ = ["ProgressRenderer"]


class ProgressRenderer(CairoRenderer):
    """A Cairo renderer that counts the frames it writes.

    ``progress`` is True (a bar on stderr), False (silent) or a callback
    ``(frames_done, frames_total)``.
    """

    def __init__(self, *args, total_frames: int, progress: bool | Callable[[int, int], None] = True,
                 label: str = "rendering", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.total_frames = max(int(total_frames), 1)
        self.frames_done = 0
        self._callback = progress if callable(progress) else None
        self._bar = None
        if progress is True:
            import click

            self._bar = click.progressbar(length=self.total_frames, label=f"  {label}", file=sys.stderr,
                                          show_eta=True, show_percent=True, width=28,
                                          item_show_func=lambda _: None)
            self._bar.__enter__()

    def add_frame(self, frame, num_frames: int = 1) -> None:
        super().add_frame(frame, num_frames)
        if self.skip_animations:
            return
        self.frames_done += num_frames
        if self._bar is not None:
            self._bar.update(num_frames)
        if self._callback is not None:
            self._callback(self.frames_done, self.total_frames)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
