"""The renderer descent uses: one progress bar, and a stepwise layer painted once per step.

Cairo paints the mobjects that do not move once per play() and redraws the
moving ones on every frame. descent's scenes have a third kind: numbers,
markers and the path so far change once per step, not per frame. When a
scene offers such a layer (``scene.step_layer()`` → ``(version, mobjects, container)``),
this renderer paints it over the static image only when its version changes,
and then draws just the truly moving mobjects on each frame.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from manim.renderer.cairo_renderer import CairoRenderer

__all__ = ["ProgressRenderer"]


class ProgressRenderer(CairoRenderer):
    """A Cairo renderer that counts the frames it writes.

    ``progress`` is True (a bar on stderr), False (silent) or a callback
    ``(frames_done, frames_total)``.
    """

    def __init__(
        self,
        *args,
        total_frames: int,
        progress: bool | Callable[[int, int], None] = True,
        label: str = "rendering",
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.total_frames = max(int(total_frames), 1)
        self.frames_done = 0
        self._callback = progress if callable(progress) else None
        self._bar = None
        if progress is True:
            import click

            self._bar = click.progressbar(
                length=self.total_frames,
                label=f"  {label}",
                file=sys.stderr,
                show_eta=True,
                show_percent=True,
                width=28,
                item_show_func=lambda _: None,
            )
            self._bar.__enter__()

    # -- the stepwise layer --------------------------------------------------------
    _layer_key = None
    _layer_static = None
    _layer_image = None

    _last_key = None
    _last_frame = None
    _members_key = None
    _members: set = set()

    def play(self, scene, *args, **kwargs) -> None:
        self._last_key = None  # a new play() may have added or removed mobjects: draw afresh
        super().play(scene, *args, **kwargs)

    def render(self, scene, time: float, moving_mobjects=None) -> None:
        key_fn = getattr(scene, "frame_key", None)
        key = key_fn() if key_fn is not None else None
        if key is not None and key == self._last_key and self._last_frame is not None:
            self.add_frame(self._last_frame)  # nothing changed: the same picture again
            return
        frame = self._draw(scene, moving_mobjects)
        self._last_key, self._last_frame = key, frame
        self.add_frame(frame)

    @property
    def last_frame(self):
        """The last frame written (the poster), as an RGBA array."""
        return self._last_frame if self._last_frame is not None else self.get_frame()

    def _draw(self, scene, moving_mobjects):
        """Draw a frame and return it as a new array (the encoder owns it from then on)."""
        layer = getattr(scene, "step_layer", None)
        if layer is None or not moving_mobjects:
            self.update_frame(scene, moving_mobjects)
            return self.get_frame()
        version, roots, container = layer()
        if self._members_key != version:  # the layer's members only change with its version
            self._members = {id(m) for r in roots for m in r.get_family()}
            self._members_key = version
        members = self._members
        if (
            self.static_image is None
            or moving_mobjects[0] is not container
            or not any(id(m) in members for m in moving_mobjects)
        ):
            # the layer must lie under everything else that moves (the scene's moving parts
            # start with its container); otherwise (a camera move) draw as Manim does
            self.update_frame(scene, moving_mobjects)
            return self.get_frame()
        # keyed on the static image itself (not its id, which a new array could reuse)
        if self._layer_key != version or self._layer_static is not self.static_image:
            self.update_frame(scene, mobjects=roots)  # static image + the stepwise layer
            self._layer_image = self.camera.pixel_array.copy()
            self._layer_key, self._layer_static = version, self.static_image
        # draw straight into a copy of the layer image and hand that copy to the encoder:
        # one full-frame copy per frame instead of two
        cam = self.camera
        frame = self._layer_image.copy()
        own = cam.pixel_array
        cam.pixel_array = frame
        try:
            cam.capture_mobjects(moving_mobjects, excluded_mobjects=roots)
        finally:
            cam.pixel_array_to_cairo_context.pop(id(frame), None)  # contexts are cached by array id
            cam.pixel_array = own
        return frame

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
