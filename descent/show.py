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
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


def _version(path: Path) -> str:
    """A token that changes when the file is rewritten: a re-rendered clip under the same name is fetched
    again, not taken from the browser's cache."""
    st = Path(path).stat()
    return f"{st.st_size:x}-{st.st_mtime_ns:x}"


def _link(path: Path) -> str | None:
    """``path`` as a URL relative to the notebook's folder (percent-encoded, with its version), or None."""
    rel = _relative(path)
    return None if rel is None else f"{quote(rel)}?v={_version(path)}"


def _src(path: Path, mime: str) -> str:
    link = _link(path)
    if link is not None:
        return link
    if path.stat().st_size <= EMBED_LIMIT:
        return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    # too big to embed: a notebook served from elsewhere may not play it
    return f"{path.resolve().as_uri()}?v={_version(path)}"


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
        try:
            return self._video_html()
        except OSError as exc:  # the files were moved or deleted since: one line, not a formatter traceback
            return f"<p>{html.escape(f'{self!r}: its files cannot be read ({exc.strerror or exc})')}</p>"

    def _video_html(self) -> str:
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
            link = _link(self.transcript)
            if link is not None:
                parts.append(f'<p><a href="{a(link)}" target="_blank">Transcript of the clip</a></p>')
        return "".join(parts)

    def __repr__(self) -> str:
        return f"Clip({str(self.result.mp4)!r}, {self.result.frames} frames, {self.result.width}x{self.result.height})"


#: x264 presets, as ``descent render --preset`` takes them.
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def _number(value: object, what: str, low: float, high: float, *, low_open: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (low_open and value == low):
        bound = f"above {low:g}" if low_open else f"at least {low:g}"
        raise RenderError(f"{what} must be a number {bound} and at most {high:g} (got {value!r})")


def _check_options(
    *,
    quality: object,
    theme: object,
    fps: object,
    preset: object,
    out_dir: object,
    name: object,
    seconds_per_step: object,
    duration: object,
    progress: object,
) -> None:
    """The render options of :func:`show`, checked before any work, with the bounds of ``descent render``."""
    from descent.outputs.clip import QUALITIES
    from descent.scenes.theme import THEMES

    if not isinstance(quality, str) or quality not in QUALITIES:
        raise RenderError(f"unknown quality {quality!r} (choose from {', '.join(QUALITIES)})")
    if not isinstance(theme, str) or theme not in THEMES:
        raise RenderError(f"unknown theme {theme!r} (choose from {', '.join(THEMES)})")
    if fps is not None:
        _number(fps, "fps", 1, 240)
    if seconds_per_step is not None:
        _number(seconds_per_step, "seconds_per_step", 0, 60, low_open=True)
    if duration is not None:
        _number(duration, "duration", 0, 3600, low_open=True)
    if preset not in PRESETS:
        raise RenderError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    if not isinstance(out_dir, str | os.PathLike):
        raise RenderError(f"out_dir must be a folder's path (got {out_dir!r})")
    if name is not None and not isinstance(name, str):
        raise RenderError(f"name must be a string (got {name!r})")
    if not isinstance(progress, bool):
        raise RenderError(f"progress must be True or False (got {progress!r})")


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

    if not isinstance(scene, str) or scene not in SCENES or SCENES[scene].lesson:
        raise RenderError(f"descent.show renders a clip: {', '.join(s for s in SCENES if not SCENES[s].lesson)}")
    _check_options(
        quality=quality,
        theme=theme,
        fps=fps,
        preset=preset,
        out_dir=out_dir,
        name=name,
        seconds_per_step=seconds_per_step,
        duration=duration,
        progress=progress,
    )
    if layers:
        from descent.scenes.show import parse_show

        try:
            shown_layers = parse_show(layers)
        except (ValueError, TypeError) as exc:
            raise RenderError(f"layers: {exc}") from None
    if trace is not None and (config or lrs is not None):
        given = ", ".join([*config, *(["lrs"] if lrs is not None else [])])
        raise ConfigError(f"{given}: training options go without trace= (the traces given are rendered as they are)")
    if trace is not None:
        traces = [trace] if isinstance(trace, Trace) else list(trace) if isinstance(trace, list | tuple) else None
        if not traces or not all(isinstance(t, Trace) for t in traces):
            raise RenderError("trace must be a descent.Trace or a list of them (from descent.train)")
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
        options["show"] = shown_layers

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
