"""Ready for course pages: WebM and GIF versions, WebVTT captions, a loss plot, a gallery.

Everything here works on finished clips and traces; the gallery is one
self-contained ``index.html`` with relative paths and no external resources.

Examples
--------
>>> from trainer import Config, train
>>> from scenes.publish import vtt_cues
>>> cues = vtt_cues("fit", [train(Config(steps=3))])
>>> cues[0][2]
'Step 0: w = −15, b = −10, loss = 835.8'
"""

from __future__ import annotations

import html
import os
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from trainer import Trace, atomic_write

from .helpers import fmt_num, key_steps

__all__ = ["transcode_webm", "make_gif", "vtt_cues", "write_vtt", "render_loss_plot", "write_gallery", "GifTooLarge"]


class GifTooLarge(RuntimeError):
    """No GIF under the size cap could be made."""


def _staged(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}.part{dst.suffix}")


def transcode_webm(mp4: Path, dst: Path, crf: int = 38) -> Path:
    """VP9 WebM of a clip (same size and frame rate), written atomically."""
    import av

    tmp = _staged(dst)
    try:
        with av.open(str(mp4)) as src, av.open(str(tmp), mode="w", format="webm") as out:
            s = src.streams.video[0]
            rate = Fraction(s.base_rate or s.average_rate)
            o = out.add_stream("libvpx-vp9", rate=rate,
                               options={"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8",
                                        "row-mt": "1"})
            o.width, o.height, o.pix_fmt = s.width, s.height, "yuv420p"
            for i, frame in enumerate(src.decode(s)):
                frame.pts = i  # one tick per frame at the clip's rate
                frame.time_base = 1 / rate
                for p in o.encode(frame):
                    out.mux(p)
            for p in o.encode():
                out.mux(p)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _gif_once(mp4: Path, dst: Path, width: int, fps: float) -> int:
    import av

    with av.open(str(mp4)) as src, av.open(str(dst), mode="w", format="gif") as out:
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
    tmp = _staged(dst)
    try:
        for width, fps in ((640, 12), (480, 10), (400, 8), (320, 8), (240, 6)):
            if _gif_once(mp4, tmp, width, fps) <= max_bytes:
                os.replace(tmp, dst)
                return dst
        raise GifTooLarge(f"no GIF of {mp4.name} fits in {max_bytes / 1e6:.1f} MB, even at 240 px and 6 fps")
    finally:
        tmp.unlink(missing_ok=True)


def _stamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def vtt_cues(scene: str, traces: Sequence[Trace], scene_options: dict | None = None) -> list[tuple[float, float, str]]:
    """One cue per state shown: when the header switches to step k, until the next."""
    from .render import scene_class

    cls = type("Timing", (scene_class(scene),), dict(scene_options or {}))
    main = max(traces, key=lambda t: t.n_states)
    start, descent, total = cls.schedule(traces)
    keys = key_steps(main.last_k, cls.max_keys)
    t_max = max(len(keys) - 1, 1)
    cues = []
    for i, k in enumerate(keys):
        begin = 0.0 if i == 0 else start + (i - 0.5) / t_max * descent
        end = total if i == len(keys) - 1 else start + (i + 0.5) / t_max * descent
        if scene == "compare":
            parts = [f"lr {t.config.lr:g} loss = {fmt_num(t.loss[min(k, t.last_k)])}" for t in traces]
            text = f"Step {k}: " + "; ".join(parts)
        else:
            text = f"Step {k}: w = {fmt_num(main.w[k])}, b = {fmt_num(main.b[k])}, loss = {fmt_num(main.loss[k])}"
        cues.append((begin, end, text))
    return cues


def write_vtt(dst: Path, cues: Sequence[tuple[float, float, str]]) -> Path:
    lines = ["WEBVTT", ""]
    for i, (a, b, text) in enumerate(cues, 1):
        lines += [str(i), f"{_stamp(a)} --> {_stamp(b)}", text, ""]
    return atomic_write(dst, "\n".join(lines))


def render_loss_plot(traces: Sequence[Trace], dst: Path, theme: str = "dark", width: int = 1280) -> Path:
    """A still picture of every run's loss curve on one axis (the lab's LOSS vs LOSS2 plot)."""
    from manim import tempconfig
    from manim.camera.camera import Camera
    from PIL import Image

    from .compare import Legend, check_comparable
    from .helpers import StepClock
    from .panels import Box, Context, LossPanel
    from .theme import get_theme

    check_comparable(traces)
    th = get_theme(theme)
    height = int(width * 9 / 16)
    with tempconfig({"pixel_width": width, "pixel_height": height, "background_color": th.background,
                     "disable_caching": True, "verbosity": "ERROR"}):
        longest = max(traces, key=lambda t: t.n_states)
        ctx = Context.for_trace(longest, th)
        clocks = [StepClock.uniform(t.w, t.b, t.loss) for t in traces]
        runs = [(t, th.series[i % len(th.series)], clocks[i]) for i, t in enumerate(traces)]
        panel = LossPanel(ctx, Box(-0.35, -0.35, 12.6, 6.9), runs=runs)
        states = [c.state_at_step(float(t.last_k)) for c, t in zip(clocks, traces)]
        panel.show_step(states)
        panel.show(states)
        corner = panel.axes.c2p(panel.x_range[1], panel.y_range[1])
        legend = Legend(ctx, [(t, c) for t, c, _ in runs], [corner[0] - 4.3, corner[1] - 0.15, 0])
        legend.show_step(states)
        cam = Camera()  # a still: one capture, no scene, no video
        cam.capture_mobjects([panel.static, panel.stepwise, panel.dynamic, legend.static, legend.stepwise])
        tmp = _staged(dst)
        try:
            Image.fromarray(cam.pixel_array[..., :3]).save(tmp, format="PNG")
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
    return dst


# -- the gallery ------------------------------------------------------------------------
_CSS = """
:root{--bg:#0e1117;--card:#161b22;--text:#e6edf3;--muted:#9aa4b2;--accent:#e69f00;--border:#2a313c}
@media (prefers-color-scheme: light){:root{--bg:#f6f8fa;--card:#fff;--text:#15191f;--muted:#4a525e;--accent:#d55e00;--border:#d9dee4}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
header{padding:2rem 1.5rem 1rem;max-width:1200px;margin:auto}h1{margin:0 0 .3rem;font-size:1.7rem}header p{margin:0;color:var(--muted)}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,520px),1fr));gap:1.5rem;padding:1rem 1.5rem 3rem;max-width:1200px;margin:auto}
.card{background:var(--card);border:1px solid var(--border);border-radius:10px;overflow:hidden;display:flex;flex-direction:column}
.card.wide{grid-column:1/-1}.card video,.card img{display:block;width:100%;height:auto;background:#000;aspect-ratio:16/9}
.body{padding:1rem 1.1rem 1.2rem}h2{font-size:1.15rem;margin:0 0 .6rem}table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.4rem 0 .8rem}
td,th{text-align:left;padding:.2rem .5rem .2rem 0;border-bottom:1px solid var(--border)}th{color:var(--muted);font-weight:500;width:45%}
details{font-size:.9rem}summary{cursor:pointer;color:var(--accent)}pre{white-space:pre-wrap;word-break:break-all;background:var(--bg);padding:.6rem;border-radius:6px;font-size:.8rem}
.links a{color:var(--accent);margin-right:1rem;font-size:.9rem}.bad{color:#d55e00;font-weight:600}
"""


def _video_html(entry: dict) -> str:
    files = entry["files"]
    sources = []
    if files.get("webm"):
        sources.append(f'<source src="{html.escape(files["webm"])}" type="video/webm">')
    sources.append(f'<source src="{html.escape(files["mp4"])}" type="video/mp4">')
    track = (f'<track kind="captions" src="{html.escape(files["vtt"])}" srclang="en" label="Steps" default>'
             if files.get("vtt") else "")
    w, h = entry.get("width", 1280), entry.get("height", 720)
    return (f'<video controls muted loop playsinline preload="metadata" width="{w}" height="{h}" '
            f'poster="{html.escape(files["poster"])}">{"".join(sources)}{track}</video>')


def write_gallery(out_dir: Path, entries: Sequence[dict], title: str, subtitle: str,
                  loss_plot: str | None = None) -> Path:
    """Write ``index.html``: the comparison and the loss plot first, then one card per clip.

    Each entry: ``name``, ``title``, ``files`` (mp4, poster, optional webm, vtt, gif),
    ``params`` (label → value), ``width``, ``height``, ``wide`` (bool), ``note``.
    """
    cards = []
    for e in entries:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in e.get("params", {}).items())
        video = _video_html(e)
        links = " ".join(f'<a href="{html.escape(p)}" download>{html.escape(kind)}</a>'
                         for kind, p in e["files"].items() if kind in ("mp4", "webm", "gif", "vtt", "json"))
        note = f'<p class="bad">{html.escape(e["note"])}</p>' if e.get("note") else ""
        cards.append(
            f'<article class="card{" wide" if e.get("wide") else ""}" id="{html.escape(e["name"])}">{video}'
            f'<div class="body"><h2>{html.escape(e["title"])}</h2>{note}<table>{rows}</table>'
            f'<p class="links">{links}</p><details><summary>Embed this clip</summary>'
            f"<pre>{html.escape(video)}</pre></details></div></article>"
        )
    if loss_plot:
        cards.insert(1 if entries and entries[0].get("wide") else 0,
                     f'<article class="card wide" id="loss-plot"><img src="{html.escape(loss_plot)}" '
                     f'alt="Loss against step for every learning rate"><div class="body"><h2>Loss curves</h2>'
                     f"<p>Loss against step for every run, on one axis.</p></div></article>")
    page = (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<main>{''.join(cards)}</main></body></html>\n"
    )
    return atomic_write(out_dir / "index.html", page)

