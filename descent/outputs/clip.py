"""Render a scene from a trace into finished files: the Python API behind ``descent render``.

One call renders a clip in its own temporary media directory, with Manim's
caching off and one progress bar, then moves the finished files into place
atomically: ``<name>.mp4`` (H.264, yuv420p, moov atom first so it streams),
``<name>.png`` (poster: the final state) and ``<name>.json`` (config, trace,
versions). An interrupted or failed render leaves nothing under a final name.

Examples
--------
>>> from descent.trainer import Config, train
>>> from descent.outputs.clip import render
>>> result = render(train(Config(steps=3)), out_dir="/tmp/descent-doc", quality="l",
...                 progress=False)  # doctest: +SKIP
>>> result.mp4.name  # doctest: +SKIP
'fit_sgd_lr0.1_steps3.mp4'
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from descent._version import versions
from descent.scenes import SCENES, UnknownScene
from descent.scenes import scene_class as _scene_class
from descent.scenes.helpers import safe_name
from descent.trainer import Trace

from .encode import count_frames, faststart_remux

__all__ = ["render", "RenderResult", "RenderError", "QUALITIES", "SCENES", "default_name", "versions", "scene_class"]

#: Manim's quality presets by their CLI letter.
QUALITIES = {
    "l": "low_quality",
    "m": "medium_quality",
    "h": "high_quality",
    "p": "production_quality",
    "k": "fourk_quality",
}


class RenderError(RuntimeError):
    """Rendering could not be done (bad output directory, unknown scene, …)."""


@dataclass
class RenderResult:
    name: str
    mp4: Path
    poster: Path
    sidecar: Path
    frames: int
    width: int
    height: int
    fps: float
    seconds: float
    extra: dict[str, Path] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        return [self.mp4, self.poster, self.sidecar, *self.extra.values()]


def default_name(scene: str, traces: Sequence[Trace]) -> str:
    """A file-name-safe name from the parameters, e.g. ``fit_sgd_lr0.1_steps15``."""
    c = traces[0].config
    if SCENES[scene].many_runs:
        lrs = "-".join(f"{t.config.lr:g}" for t in traces)
        stem = f"compare_{c.optimizer}_lr{lrs}_steps{c.steps}"
    else:
        stem = f"{scene}_{c.optimizer}_lr{c.lr:g}_steps{c.steps}"
        if c.batch_size is not None:
            stem += f"_bs{c.batch_size}"
    return safe_name(stem)


def scene_class(scene: str):
    """The registered scene class for ``scene`` (:data:`descent.scenes.SCENES`)."""
    try:
        return _scene_class(scene)
    except UnknownScene as exc:
        raise RenderError(str(exc)) from None


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and make sure files can be written there."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"cannot create output directory {str(out)!r}: {exc.strerror or exc}") from None
    if not out.is_dir():
        raise RenderError(f"output path {str(out)!r} is not a directory")
    if not os.access(out, os.W_OK | os.X_OK):
        raise RenderError(f"output directory {str(out)!r} is not writable")
    return out


def render(
    traces: Trace | Sequence[Trace],
    scene: str = "fit",
    *,
    quality: str = "l",
    fps: float | None = None,
    theme: str = "dark",
    out_dir: str | os.PathLike = "media",
    name: str | None = None,
    preset: str = "veryfast",
    progress: bool | Callable[[int, int], None] = True,
    scene_options: dict | None = None,
    encoder_threads: int | None = None,
) -> RenderResult:
    """Render ``scene`` for ``traces`` and move the finished files into ``out_dir``.

    Parameters
    ----------
    traces
        One trace (fit, surface) or several (compare).
    quality
        Manim's preset letter: l (480p15), m (720p30), h (1080p60), p (1440p60), k (2160p60).
    fps
        Override the preset's frame rate.
    progress
        True for one progress bar on stderr, False for none, or a callback
        ``(frames_done, frames_total)``.
    scene_options
        Scene parameters (class attributes) such as ``seconds_per_step``.
    encoder_threads
        x264 threads (default: x264 picks, about 1.5 per core); renders that
        run side by side do better with one each.
    """
    from descent.scenes.theme import THEMES

    traces = [traces] if isinstance(traces, Trace) else list(traces)
    if not traces:
        raise RenderError("no trace to render")
    if quality not in QUALITIES:
        raise RenderError(f"unknown quality {quality!r} (choose from {', '.join(QUALITIES)})")
    if theme not in THEMES:
        raise RenderError(f"unknown theme {theme!r} (choose from {', '.join(THEMES)})")
    base_cls = scene_class(scene)
    if not SCENES[scene].many_runs and len(traces) != 1:
        raise RenderError(f"the {scene} scene draws one trace (got {len(traces)})")
    if SCENES[scene].many_runs:
        from descent.scenes.compare import check_comparable

        try:
            check_comparable(traces)
        except ValueError as exc:
            raise RenderError(str(exc)) from None
    name = safe_name(name) if name else default_name(scene, traces)
    out = check_out_dir(out_dir)
    for ext in ("mp4", "png", "json"):  # all three land, or none: refuse before rendering
        if (out / f"{name}.{ext}").is_dir():
            raise RenderError(f"cannot write {str(out / f'{name}.{ext}')!r}: a directory has that name")

    attrs = {"theme": theme, **(scene_options or {})}
    if SCENES[scene].many_runs:
        attrs["traces"] = traces
    else:
        attrs["trace"] = traces[0]
    try:
        cls = type(base_cls.__name__, (base_cls,), attrs)
    except TypeError as exc:
        raise RenderError(str(exc)) from None

    from manim import config, tempconfig

    from .renderer import ProgressRenderer

    work = Path(tempfile.mkdtemp(prefix=".render-", dir=out))
    t0 = time.perf_counter()
    try:
        settings = {
            "media_dir": str(work),
            "quality": QUALITIES[quality],
            "disable_caching": True,
            "progress_bar": "none",
            "verbosity": "ERROR",
            "write_to_movie": True,
            "format": "mp4",
            "output_file": name,
            "video_encoder_options": {
                "preset": preset,
                "crf": "23",
                **({"threads": str(encoder_threads)} if encoder_threads else {}),
            },
            "background_color": THEMES[theme].background,
        }
        if fps is not None:
            settings["frame_rate"] = fps
        with tempconfig(settings):
            rate = config.frame_rate
            planned = cls.planned_seconds(traces)
            renderer = ProgressRenderer(
                total_frames=cls.planned_frames(traces, rate),
                progress=progress,
                label=name,
                camera_class=getattr(cls, "CAMERA_CLASS", None),
            )
            sc = cls(renderer=renderer)
            try:
                sc.render()
            finally:
                renderer.close()
            frame = sc.renderer.last_frame
            movie = Path(sc.renderer.file_writer.movie_file_path)
            width, height = config.pixel_width, config.pixel_height
        staged_mp4 = work / f"{name}.faststart.mp4"
        faststart_remux(movie, staged_mp4)
        from PIL import Image

        staged_png = work / f"{name}.png"
        Image.fromarray(frame[..., :3] if frame.shape[-1] == 4 else frame).save(staged_png, compress_level=6)
        frames = count_frames(staged_mp4)
        seconds = time.perf_counter() - t0
        meta = {
            "schema": "descent.clip/1",
            "name": name,
            "scene": scene,
            "files": {"mp4": f"{name}.mp4", "poster": f"{name}.png"},
            "video": {
                "width": width,
                "height": height,
                "fps": float(rate),
                "frames": frames,
                "duration": frames / float(rate),
                "planned_duration": planned,
                "codec": "h264",
                "pix_fmt": "yuv420p",
                "preset": preset,
            },
            "render": {
                "quality": quality,
                "theme": theme,
                "seconds": round(seconds, 3),
                "scene_options": {k: v for k, v in (scene_options or {}).items()},
            },
            "versions": versions(),
            "traces": [json.loads(t.to_json()) for t in traces],
        }
        if len(traces) == 1:
            meta["config"] = traces[0].config.to_dict()
            meta["trace"] = meta.pop("traces")[0]
        else:
            meta["configs"] = [t.config.to_dict() for t in traces]
        staged_json = work / f"{name}.json"
        staged_json.write_text(json.dumps(meta, indent=1, allow_nan=False) + "\n")
        # everything is finished: move into place, poster and sidecar last
        final_mp4, final_png, final_json = out / f"{name}.mp4", out / f"{name}.png", out / f"{name}.json"
        os.replace(staged_mp4, final_mp4)
        os.replace(staged_png, final_png)
        os.replace(staged_json, final_json)
        return RenderResult(name, final_mp4, final_png, final_json, frames, width, height, float(rate), seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
