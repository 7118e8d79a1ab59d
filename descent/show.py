"""Descent inside Jupyter: ``descent.show(lr=0.2, steps=30)`` trains, renders (through
:func:`descent.render`) and returns a :class:`Clip` that a notebook displays as an HTML5 video with its
poster, captions track and transcript link.

The video is linked by its path relative to the notebook's folder (the kernel's working directory), as
Jupyter serves it; only a small clip outside that folder is embedded (base64) instead.

Examples
--------
>>> clip = show(lr=0.2, steps=30, quality="l", out_dir="media")  # doctest: +SKIP
>>> clip  # in a notebook: the video  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from descent.outputs.clip import RenderError, RenderResult, render
from descent.trainer import Config, ConfigError, Trace, train

__all__ = ["Clip", "show", "EMBED_LIMIT"]

#: A clip outside the notebook's folder is embedded as base64 up to this size; past it, linked.
EMBED_LIMIT = 1_000_000


def _relative(path: Path) -> str | None:
    """``path`` relative to the working directory, with forward slashes; None when it lies outside it."""
    try:
        rel = Path(os.path.relpath(Path(path).resolve(), Path.cwd().resolve()))
    except ValueError:  # another drive
        return None
    if rel.parts and rel.parts[0] == "..":
        return None
    return rel.as_posix()


def _src(path: Path, mime: str) -> str:
    rel = _relative(path)
    if rel is not None:
        return rel
    if path.stat().st_size <= EMBED_LIMIT:
        return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    return path.resolve().as_uri()  # too big to embed: a notebook served from elsewhere may not play it


@dataclass
class Clip:
    """A rendered clip, displayed in a notebook as an HTML5 video (poster, captions, no autoplay)."""

    result: RenderResult
    traces: list[Trace]
    captions: Path | None = None
    transcript: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mp4(self) -> Path:
        return self.result.mp4

    @property
    def poster(self) -> Path:
        return self.result.poster

    def _repr_html_(self) -> str:
        r = self.result
        a = lambda s: html.escape(s, quote=True)  # noqa: E731
        label = f"descent clip {r.name}"
        parts = [
            f'<video controls preload="metadata" playsinline width="{min(r.width, 854)}" '
            f'poster="{a(_src(r.poster, "image/png"))}" aria-label="{a(label)}">',
            f'<source src="{a(_src(r.mp4, "video/mp4"))}" type="video/mp4">',
        ]
        if self.captions is not None:
            parts.append(
                f'<track kind="captions" src="{a(_src(self.captions, "text/vtt"))}" srclang="en" label="Steps" default>'
            )
        parts.append(f'<a href="{a(_src(r.mp4, "video/mp4"))}">Download the video</a></video>')
        if self.transcript is not None:
            rel = _relative(self.transcript)
            if rel is not None:
                parts.append(f'<p><a href="{a(rel)}" target="_blank">Transcript of the clip</a></p>')
        return "".join(parts)

    def __repr__(self) -> str:
        return f"Clip({str(self.result.mp4)!r}, {self.result.frames} frames, {self.result.width}x{self.result.height})"


def show(
    scene: str = "fit",
    *,
    lrs: Sequence[float] | None = None,
    trace: Trace | Sequence[Trace] | None = None,
    quality: str = "l",
    fps: float | None = None,
    theme: str = "dark",
    out_dir: str | os.PathLike = "media",
    name: str | None = None,
    preset: str = "veryfast",
    seconds_per_step: float | None = None,
    duration: float | None = None,
    layers: Sequence[str] | None = None,
    progress: bool = False,
    **config: Any,
) -> Clip:
    """Train (unless given traces), render and return a clip a notebook displays inline.

    Parameters
    ----------
    scene
        ``fit``, ``surface`` or ``compare``.
    lrs
        For ``compare``: one run per learning rate (default: the lr and twice it).
    trace
        Traces to render instead of training.
    quality, fps, theme, out_dir, name, preset
        As for ``descent render`` (and :func:`descent.render`).
    seconds_per_step, duration
        Pacing of the descent (``--seconds-per-step``, ``--duration``).
    layers
        Optional layers of the fit scene (``--show``).
    progress
        A progress bar on stderr.
    **config
        Training keys of :class:`descent.Config` (lr, steps, optimizer, …).

    Returns
    -------
    Clip
        The rendered clip: its files (mp4, poster, sidecar, captions, transcript) are in ``out_dir``.

    Raises
    ------
    ConfigError
        An unknown or invalid training key.
    RenderError
        Bad render options or output folder.
    """
    from descent.publish.captions import vtt_cues, write_vtt
    from descent.scenes import SCENES

    if scene not in SCENES or SCENES[scene].lesson:
        raise RenderError(f"descent.show renders a clip: {', '.join(s for s in SCENES if not SCENES[s].lesson)}")
    if trace is not None:
        traces = [trace] if isinstance(trace, Trace) else list(trace)
    else:
        base = Config.from_mapping(config, where="descent.show")
        if SCENES[scene].many_runs:
            rates = list(lrs) if lrs is not None else [base.lr, 2 * base.lr]
            traces = [train(base.replace(lr=float(lr))) for lr in rates]
        else:
            if lrs is not None:
                raise ConfigError(f"lrs goes with the compare scene, not {scene}")
            traces = [train(base)]
    options: dict[str, Any] = {}
    if seconds_per_step is not None:
        options["seconds_per_step"] = float(seconds_per_step)
    if duration is not None:
        options["descent_seconds"] = float(duration)
    if layers:
        from descent.scenes.show import parse_show

        options["show"] = parse_show(layers)

    def captions(staged: RenderResult) -> list[str]:
        vtt = staged.mp4.with_suffix(".vtt")
        return [write_vtt(vtt, vtt_cues(scene, traces, options)).name]

    result = render(
        traces,
        scene,
        quality=quality,
        fps=fps,
        theme=theme,
        out_dir=out_dir,
        name=name,
        preset=preset,
        progress=progress,
        scene_options=options,
        extras=captions,
    )
    vtt = next((p for p in result.extra if p.suffix == ".vtt"), None)
    transcript = next((p for p in result.extra if p.name.endswith(".transcript.html")), None)
    return Clip(result, traces, vtt, transcript)
