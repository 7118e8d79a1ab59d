"""The renderer descent uses: one progress bar, and a stepwise layer painted once per step.

Cairo paints the mobjects that do not move once per play() and redraws the
moving ones on every frame. descent's scenes have a third kind: numbers,
markers and the path so far change once per step, not per frame. When a
scene offers such a layer (``scene.step_layer()`` → ``(version, mobjects, container)``, or None
while it has none),
this renderer paints it over the static image only when its version changes,
and then draws just the truly moving mobjects on each frame.

That fast path leans on Manim internals (the renderer's ``render`` /
``update_frame`` / ``add_frame`` / ``get_frame`` / ``static_image``, the
camera's ``pixel_array``, its cairo-context cache and ``excluded_mobjects``).
The renderer checks them once, when it is built; if a Manim upgrade changed
any of them it draws the stock way instead (still counting frames) and says so
once per process on stderr.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from manim.renderer.cairo_renderer import CairoRenderer

if TYPE_CHECKING:
    from manim import Mobject, Scene

__all__ = ["ProgressRenderer", "fast_path_problems"]

_warned = False  # the fallback warning is printed once per process


def _params(cls: type, name: str) -> list[inspect.Parameter] | None:
    """The parameters (after ``self``) of ``cls.name``, or None if it is missing or cannot be inspected."""
    func = getattr(cls, name, None)
    if not callable(func):
        return None
    try:
        return list(inspect.signature(func).parameters.values())[1:]
    except (TypeError, ValueError):
        return None


def _positional(params: list[inspect.Parameter]) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in kinds]


def _required(params: list[inspect.Parameter]) -> list[str]:
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in params if p.default is inspect.Parameter.empty and p.kind not in kinds]


def _takes_keyword(cls: type, name: str, keyword: str) -> bool | None:
    """Whether ``cls.name`` accepts ``keyword``: True, False, or None when every definition only passes **kwargs on."""
    for klass in cls.__mro__:
        if name not in klass.__dict__:
            continue
        params = _params(klass, name)
        if params is None:
            return False
        if any(p.name == keyword and p.kind != inspect.Parameter.POSITIONAL_ONLY for p in params):
            return True
        if not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params):
            return False
    return None


def fast_path_problems(renderer: CairoRenderer) -> list[str]:
    """What the fast path needs from Manim and does not find.

    Parameters
    ----------
    renderer
        A built renderer: Manim's own :class:`CairoRenderer` methods are checked, and its camera.

    Returns
    -------
    list of str
        One short phrase per missing or changed internal; empty when the fast path can run.
    """
    problems = []
    expected = {
        "render": ["scene", "time", "moving_mobjects"],
        "add_frame": ["frame", "num_frames"],
    }
    for name, names in expected.items():
        params = _params(CairoRenderer, name)
        if params is None:
            problems.append(f"CairoRenderer.{name} is gone")
        elif _positional(params)[: len(names)] != names or not set(_required(params)) <= set(names):
            problems.append(f"CairoRenderer.{name} takes ({', '.join(p.name for p in params)})")
    params = _params(CairoRenderer, "update_frame")
    if params is None:
        problems.append("CairoRenderer.update_frame is gone")
    elif _positional(params)[:2] != ["scene", "mobjects"] or not set(_required(params)) <= {"scene"}:
        problems.append(f"CairoRenderer.update_frame takes ({', '.join(p.name for p in params)})")
    params = _params(CairoRenderer, "get_frame")
    if params is None or _required(params):
        problems.append("CairoRenderer.get_frame is gone or takes arguments")
    if not hasattr(renderer, "static_image"):
        problems.append("the renderer has no static_image")
    camera = getattr(renderer, "camera", None)
    if not isinstance(getattr(camera, "pixel_array", None), np.ndarray):
        problems.append("the camera has no pixel_array")
    if not callable(getattr(getattr(camera, "pixel_array_to_cairo_context", None), "pop", None)):
        problems.append("the camera has no pixel_array_to_cairo_context")
    cam_cls = type(camera)
    takes = _takes_keyword(cam_cls, "capture_mobjects", "excluded_mobjects")
    if takes is None:  # it passes **kwargs on: to get_mobjects_to_display
        takes = _takes_keyword(cam_cls, "get_mobjects_to_display", "excluded_mobjects")
    if not takes:
        problems.append(f"{cam_cls.__name__}.capture_mobjects does not take excluded_mobjects")
    return problems


def _warn_once(problems: list[str]) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    import manim

    version = getattr(manim, "__version__", "?")
    print(
        f"descent: this Manim ({version}) changed what the fast renderer needs ({'; '.join(problems)});"
        " rendering the stock way",
        file=sys.stderr,
    )


class ProgressRenderer(CairoRenderer):
    """A Cairo renderer that counts the frames it writes.

    ``progress`` is True (a bar on stderr), False (silent) or a callback
    ``(frames_done, frames_total)``. ``fast`` tells whether the layered fast
    path is in use (False: Manim changed what it needs; frames are drawn the
    stock way, see :func:`fast_path_problems`).
    """

    def __init__(
        self,
        *args: Any,
        total_frames: int,
        progress: bool | Callable[[int, int], None] = True,
        label: str = "rendering",
        keep: set[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # key frames only (``--frames``): the frames at these indices are drawn and kept in
        # ``kept`` (index → RGBA array); every other frame is counted, not drawn
        self.keep = set(keep) if keep is not None else None
        self.kept: dict[int, np.ndarray] = {}
        self._index = 0
        self.fast_problems = fast_path_problems(self)
        self.fast = not self.fast_problems
        if not self.fast:
            # Manim's own render() on this instance: the scene calls it however this Manim does,
            # and it hands its frames to add_frame below (which still counts them)
            self.render = super().render
            _warn_once(self.fast_problems)
        self._closed = False
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

    def play(self, scene: Scene, *args: Any, **kwargs: Any) -> None:
        self._last_key = None  # a new play() may have added or removed mobjects: draw afresh
        super().play(scene, *args, **kwargs)

    def render(self, scene: Scene, time: float, moving_mobjects: list[Mobject] | None = None) -> None:
        if self.keep is not None and self._index not in self.keep and not self.skip_animations:
            self._count(1)  # a frame no one will see: the scene moved on, nothing is drawn
            self._last_key = None
            return
        key_fn = getattr(scene, "frame_key", None)
        key = key_fn() if key_fn is not None else None
        if key is not None and key == self._last_key and self._last_frame is not None:
            self.add_frame(self._last_frame)  # nothing changed: the same picture again
            return
        frame = self._draw(scene, moving_mobjects)
        self._last_key, self._last_frame = key, frame
        self.add_frame(frame)

    @property
    def last_frame(self) -> np.ndarray:
        """The last frame written (the poster), as an RGBA array."""
        return self._last_frame if self._last_frame is not None else self.get_frame()

    def _draw(self, scene, moving_mobjects):
        """Draw a frame and return it as a new array (the encoder owns it from then on)."""
        layer = getattr(scene, "step_layer", None)
        parts = layer() if layer is not None and moving_mobjects else None  # a scene may have none just now
        if parts is None:
            self.update_frame(scene, moving_mobjects)
            return self.get_frame()
        step_version, roots, container = parts
        version = (id(container), step_version)  # a scene may hand over from one layer to another
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

    def add_frame(self, frame: np.ndarray, num_frames: int = 1) -> None:
        self._last_frame = frame  # the poster (also when drawn the stock way)
        super().add_frame(frame, num_frames)
        if self.skip_animations:
            return
        if self.keep is not None:
            for index in range(self._index, self._index + num_frames):
                if index in self.keep:
                    self.kept[index] = frame.copy()
        self._index += num_frames
        self._progress(num_frames)

    def _count(self, num_frames: int) -> None:
        """Account for frames that are not drawn: the clock, the index and the progress move on."""
        self.time += num_frames / self.camera.frame_rate
        self._index += num_frames
        self._progress(num_frames)

    def _progress(self, num_frames: int) -> None:
        self.frames_done += num_frames
        if self._bar is not None:
            self._bar.update(num_frames)
        if self._callback is not None:
            self._callback(self.frames_done, self.total_frames)

    def close(self) -> None:
        """Close the progress bar, then Manim's renderer if it has a close(); once, however often called.

        Manim (0.22) finishes the movie in ``scene_finished``, at the end of
        ``Scene.render``; its CairoRenderer has no ``close``, a later one may.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._bar is not None:
                self._bar.__exit__(None, None, None)
                self._bar = None
        finally:
            parent_close = getattr(super(), "close", None)
            if callable(parent_close):
                parent_close()
