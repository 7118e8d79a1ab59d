"""The course-page gallery: one self-contained ``index.html`` with relative paths, no external resources.

Only plain file names inside the folder are ever linked (letters, digits and ``._-``:
no ``../``, no absolute path, no ``javascript:``); a card whose video or poster has no
such name is left out, and a width or height that is not a positive integer is omitted.
"""

from __future__ import annotations

import html
import stat
from collections.abc import Sequence
from pathlib import Path

from descent.outputs.files import atomic_write, is_plain_name

__all__ = ["write_gallery"]


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


def _dimension(value: object) -> int | None:
    return value if type(value) is int and value > 0 else None


def _video_html(entry: dict, files: dict) -> str:
    sources = []
    if files.get("webm"):
        sources.append(f'<source src="{html.escape(files["webm"])}" type="video/webm">')
    sources.append(f'<source src="{html.escape(files["mp4"])}" type="video/mp4">')
    voiced = entry.get("voiced") is True  # narrated: heard, not looped, the captions are what is said
    label = "Narration" if voiced else "Steps"
    track = (
        f'<track kind="captions" src="{html.escape(files["vtt"])}" srclang="en" label="{label}" default>'
        if files.get("vtt")
        else ""
    )
    w, h = _dimension(entry.get("width")), _dimension(entry.get("height"))
    size = f' width="{w}" height="{h}"' if w and h else ""
    play = "controls" if voiced else "controls muted loop"
    return (
        f'<video {play} playsinline preload="metadata"{size} '
        f'poster="{html.escape(files["poster"])}">{"".join(sources)}{track}</video>'
    )


def write_gallery(
    out_dir: Path, entries: Sequence[dict], title: str, subtitle: str, loss_plot: str | None = None
) -> Path:
    """Write ``index.html``: the comparison and the loss plot first, then one card per clip.

    Each entry: ``name``, ``title``, ``files`` (mp4, poster, optional webm, vtt, gif),
    ``params`` (label → value), ``width``, ``height``, ``wide`` (bool), ``note``.
    """
    cards = []
    for e in entries:
        files = {k: v for k, v in (e.get("files") or {}).items() if is_plain_name(v)}
        if not files.get("mp4") or not files.get("poster"):
            continue  # nothing that can be linked safely
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in e.get("params", {}).items()
        )
        video = _video_html(e, files)
        links = " ".join(  # in one fixed order, however the entry was stored
            f'<a href="{html.escape(files[kind])}" download>{html.escape(kind)}</a>'
            for kind in ("mp4", "webm", "gif", "vtt", "json")
            if kind in files
        )
        note = f'<p class="bad">{html.escape(str(e["note"]))}</p>' if e.get("note") else ""
        cards.append(
            f'<article class="card{" wide" if e.get("wide") else ""}" id="{html.escape(str(e["name"]))}">{video}'
            f'<div class="body"><h2>{html.escape(str(e["title"]))}</h2>{note}<table>{rows}</table>'
            f'<p class="links">{links}</p><details><summary>Embed this clip</summary>'
            f"<pre>{html.escape(video)}</pre></details></div></article>"
        )
    if loss_plot and is_plain_name(loss_plot):
        cards.insert(
            1 if cards and entries and entries[0].get("wide") else 0,
            f'<article class="card wide" id="loss-plot"><img src="{html.escape(loss_plot)}" '
            f'alt="Loss against step for every learning rate"><div class="body"><h2>Loss curves</h2>'
            f"<p>Loss against step for every run, on one axis.</p></div></article>",
        )
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<main>{''.join(cards)}</main></body></html>\n"
    )
    index = Path(out_dir) / "index.html"
    data = page.encode("utf-8")
    try:
        st = index.lstat()
        if stat.S_ISREG(st.st_mode) and st.st_size == len(data) and index.read_bytes() == data:
            return index  # unchanged: not rewritten (and a page of another size is never read)
    except OSError:
        pass
    return atomic_write(index, data)
