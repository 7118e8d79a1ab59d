"""descent's layered renderer writes exactly the frames Manim's stock CairoRenderer writes.

Each scene is rendered twice through :func:`descent.outputs.clip.render`: once with
Manim's own ``CairoRenderer`` and once with :class:`ProgressRenderer`, and the raw
RGBA frames handed to the encoder (what ``add_frame`` receives) are compared:
every frame descent's renderer draws must be pixel-identical to Manim's; a frame
it repeats (nothing changed, see ``frame_key``) may differ from Manim's redraw by
one level at most (float drift in the scene, see below). When Manim changes what
the fast path needs, the renderer draws the stock way, says so once, and still
counts every frame.
"""

from __future__ import annotations

import numpy as np
import pytest
from manim.camera.camera import Camera
from manim.renderer.cairo_renderer import CairoRenderer

import descent.outputs.renderer as renderer_module
from descent.outputs.clip import render, scene_class
from descent.outputs.renderer import ProgressRenderer
from descent.trainer import Config, train

TINY = {"descent_seconds": 1.0, "hold_seconds": 0.3, "intro_seconds": 0.3}
OPTIONS = {
    "fit": TINY,
    "compare": TINY,
    "surface": {**TINY, "establish_seconds": 0.3, "closing_seconds": 0.3},
}
FPS = {"fit": 10, "compare": 10, "surface": 5}  # Manim's own renderer repaints the whole surface every frame
WARNING = "descent: this Manim"


@pytest.fixture(scope="module")
def runs():
    return [train(Config(steps=3)), train(Config(steps=3, lr=0.3))]


class StockRecorder(CairoRenderer):
    """Manim's renderer as it comes, taking clip.render's keywords and keeping every frame it writes."""

    def __init__(self, *, total_frames: int, progress=False, label: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.frames: list[np.ndarray] = []

    def add_frame(self, frame, num_frames: int = 1) -> None:
        self.frames.extend([frame.copy()] * num_frames)
        super().add_frame(frame, num_frames)

    @property
    def last_frame(self):
        return self.frames[-1]

    def close(self) -> None:
        pass


class FastRecorder(ProgressRenderer):
    """descent's renderer, keeping every frame it writes and whether it drew it or repeated the one before."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.frames: list[np.ndarray] = []
        self.repeated: list[bool] = []
        self._previous = None

    def add_frame(self, frame, num_frames: int = 1) -> None:
        self.repeated.extend([frame is self._previous] + [True] * (num_frames - 1))
        self._previous = frame
        self.frames.extend([frame.copy()] * num_frames)
        super().add_frame(frame, num_frames)


def render_with(monkeypatch, recorder, traces, scene, out_dir, progress=False):
    """Render through clip.render with ``recorder`` as its renderer: (the renderer, the RenderResult)."""
    made = []

    class Recording(recorder):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    with monkeypatch.context() as m:
        m.setattr(renderer_module, "ProgressRenderer", Recording)
        result = render(
            traces, scene, quality="l", fps=FPS[scene], out_dir=out_dir, progress=progress, scene_options=OPTIONS[scene]
        )
    assert len(made) == 1, "clip.render no longer builds descent.outputs.renderer.ProgressRenderer"
    return made[0], result


def planned_frames(scene, traces) -> int:
    """The frames clip.render plans for ``scene`` with the tiny options."""
    return type("Tiny", (scene_class(scene),), dict(OPTIONS[scene])).planned_frames(traces, FPS[scene])


def traces_for(scene, runs):
    return runs if scene == "compare" else runs[0]


@pytest.mark.parametrize("scene", ["fit", "surface", "compare"])
def test_fast_renderer_writes_the_stock_frames(monkeypatch, tmp_path, runs, scene):
    traces = traces_for(scene, runs)
    stock, _ = render_with(monkeypatch, StockRecorder, traces, scene, tmp_path / "stock")
    fast, result = render_with(monkeypatch, FastRecorder, traces, scene, tmp_path / "fast")
    assert fast.fast, fast.fast_problems
    assert fast._layer_image is not None, "the stepwise layer was never used: nothing of the fast path was compared"

    planned = planned_frames(scene, traces)
    assert len(stock.frames) == len(fast.frames) == planned == result.frames
    drawn = [i for i in range(planned) if not fast.repeated[i]]
    differ = [i for i in drawn if not np.array_equal(stock.frames[i], fast.frames[i])]
    if differ:
        a, b = stock.frames[differ[0]], fast.frames[differ[0]]
        pixels = int(np.any(a != b, axis=-1).sum()) if a.shape == b.shape else f"shape {a.shape} vs {b.shape}"
        pytest.fail(f"{len(differ)} of {len(drawn)} drawn frames differ from stock; first: {differ[0]} ({pixels} px)")
    # A repeated frame (same frame_key) is the picture drawn before it; Manim redraws it, and the
    # same state draws the same pixels, so the two are identical too.
    for i in range(planned):
        if fast.repeated[i]:
            step = np.abs(stock.frames[i].astype(np.int16) - fast.frames[i]).max()
            assert step == 0, f"frame {i}, repeated by descent's renderer, is {step} levels off stock"
    assert np.array_equal(fast.last_frame, fast.frames[-1])


def test_changed_manim_falls_back_to_stock_drawing(monkeypatch, tmp_path, runs, capsys):
    original = Camera.capture_mobjects

    def capture_mobjects(self, mobjects, include_submobjects=True):  # a Manim without excluded_mobjects
        return original(self, mobjects, include_submobjects=include_submobjects)

    monkeypatch.setattr(Camera, "capture_mobjects", capture_mobjects)
    monkeypatch.setattr(renderer_module, "_warned", False)
    seen = []
    fast, result = render_with(
        monkeypatch, FastRecorder, runs[0], "fit", tmp_path, progress=lambda done, total: seen.append((done, total))
    )
    assert not fast.fast
    assert any("excluded_mobjects" in p for p in fast.fast_problems)
    planned = planned_frames("fit", runs[0])
    assert len(fast.frames) == result.frames == planned
    assert seen[-1] == (planned, planned)  # the progress bar still counts every frame
    assert np.array_equal(fast.last_frame, fast.frames[-1]) and result.poster.is_file()

    again = ProgressRenderer(total_frames=1, progress=False)  # a second renderer in the same process
    again.close()
    assert not again.fast
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(WARNING)]
    assert len(lines) == 1, err
    assert "capture_mobjects" in lines[0] and lines[0].endswith("rendering the stock way")


def test_fast_path_problems_names_what_changed(monkeypatch):
    def render(self, scene, moving_mobjects=None):  # a Manim whose render() lost its time
        pass

    monkeypatch.setattr(CairoRenderer, "render", render)
    monkeypatch.setattr(renderer_module, "_warned", True)  # keep stderr quiet
    renderer = ProgressRenderer(total_frames=1, progress=False)
    renderer.close()
    assert not renderer.fast
    assert renderer.fast_problems == ["CairoRenderer.render takes (scene, moving_mobjects)"]
    assert renderer.render.__func__ is render  # Manim's own render() draws, whatever it takes


def test_close_closes_manims_renderer_once(monkeypatch):
    closed = []
    monkeypatch.setattr(CairoRenderer, "close", lambda self: closed.append(self), raising=False)
    renderer = ProgressRenderer(total_frames=2, progress=True)
    renderer.close()
    renderer.close()
    assert closed == [renderer]

    monkeypatch.delattr(CairoRenderer, "close")  # Manim 0.22 has none
    ProgressRenderer(total_frames=2, progress=True).close()
