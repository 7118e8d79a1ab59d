"""The course-page gallery: one self-contained ``index.html`` with relative paths, no external resources,
built from the Jinja2 templates beside this module (``templates/gallery.html`` on the shared ``base.html``).

For a sweep the page opens with the explorer (a control per swept key that swaps the clip in place, with
the run's numbers beside it); then one card per clip: its video (the dark and the light version, the one
shown following the reader's ``prefers-color-scheme``), its parameters, downloads, transcript and embed
snippets.

Only plain file names inside the folder are ever linked (letters, digits and ``._-``: no ``../``, no absolute
path, no ``javascript:``); a card whose video or poster has no such name is left out, and a width or height
that is not a positive integer is omitted. No video autoplays.
"""

from __future__ import annotations

import math
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from descent.outputs.files import RenderError, atomic_write, is_plain_name
from descent.publish.embed import embed_snippets
from descent.publish.lesson import page_env

__all__ = ["write_gallery", "gallery_page"]

THEMES = ("dark", "light")  # the page shows the dark version unless the reader prefers light
_LINKS = (("mp4", "MP4"), ("webm", "WebM"), ("gif", "GIF"), ("vtt", "Captions (WebVTT)"), ("json", "Run data (JSON)"))
_KINDS = ("mp4", "poster", "webm", "gif", "vtt", "json", "transcript", "transcript_md")
_KEY_LABELS = {
    "lr": "Learning rate",
    "optimizer": "Optimizer",
    "steps": "Steps",
    "momentum": "Momentum",
    "batch_size": "Batch size",
    "theme": "Theme",
}


def _dimension(value: object) -> int | None:
    return value if type(value) is int and value > 0 else None


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | bool) or (isinstance(value, int | float) and math.isfinite(value))


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: object, key: str = "") -> str:
    if value is None:  # an unset key: the full batch (batch_size), else "none"
        return "full batch" if key == "batch_size" else "none"
    if _numeric(value):
        return f"{value:g}"
    return str(value)


def _version(e: Mapping) -> dict[str, Any] | None:
    files = {k: v for k, v in (e.get("files") or {}).items() if isinstance(k, str) and is_plain_name(v)}
    if not files.get("mp4") or not files.get("poster"):
        return None  # nothing that can be linked safely
    files = {**dict.fromkeys(_KINDS), **files}  # every kind the page may name: a name or None
    w, h = _dimension(e.get("width")), _dimension(e.get("height"))
    voiced = e.get("voiced") is True  # narrated: heard, not looped, the captions are what is said
    theme = e.get("theme") if e.get("theme") in THEMES else None
    return {
        "theme": theme,
        "files": files,
        "width": w if w and h else None,
        "height": h if w and h else None,
        "voiced": voiced,
        "captions_label": "Narration" if voiced else "Steps",
    }


def _sweep(e: Mapping) -> dict[str, Any]:
    raw = e.get("sweep")
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): v for k, v in raw.items() if _scalar(v)}


def _stats_text(stats: object) -> dict[str, str] | None:
    """The numbers shown beside a run, formatted here (the page only shows them)."""
    if not isinstance(stats, Mapping):
        return None

    def num(key: str) -> float | None:
        v = stats.get(key)
        return float(v) if _numeric(v) else None

    lr, lr_max, ratio, final = num("lr"), num("lr_max"), num("lr_ratio"), num("final_loss")
    steps, near, diverged = stats.get("steps"), stats.get("near_step"), stats.get("diverged_at")
    if lr is None:
        return None
    out = {"lr": f"{lr:g}"}
    out["ratio"] = f"{ratio:.2f} (lr_max = {lr_max:.4g})" if ratio is not None and lr_max is not None else "n/a"
    if type(near) is int:
        out["near"] = f"{near}"
    else:
        out["near"] = f"not reached in {steps} steps" if type(steps) is int else "not reached"
    out["final"] = f"{final:.4g}" if final is not None else "not finite"
    out["diverged"] = f"yes, at step {diverged}" if type(diverged) is int else "no"
    return out


def _cards(entries: Sequence[Mapping]) -> list[dict[str, Any]]:
    """One card per clip: entries that differ only in their theme become one card with both versions."""
    cards: list[dict[str, Any]] = []
    by_key: dict[tuple, dict[str, Any]] = {}
    for e in entries:
        version = _version(e)
        if version is None or not isinstance(e.get("name"), str):
            continue
        sweep = _sweep(e)
        rest = tuple((k, repr(v)) for k, v in sweep.items() if k != "theme")
        key = (bool(e.get("wide")), rest, "" if rest else str(e.get("title")))
        card = by_key.get(key) if version["theme"] else None
        if card is not None and all(v["theme"] and v["theme"] != version["theme"] for v in card["versions"]):
            card["versions"].append(version)
            card["versions"].sort(key=lambda v: THEMES.index(v["theme"]))
            continue
        card = {
            "id": e["name"],
            "title": str(e.get("title", e["name"])),
            "note": str(e["note"]) if e.get("note") else "",
            "wide": bool(e.get("wide")),
            "params": [(str(k), str(v)) for k, v in (e.get("params") or {}).items()],
            "sweep": {k: v for k, v in sweep.items() if k != "theme"},
            "stats": _stats_text(e.get("stats")),
            "versions": [version],
        }
        cards.append(card)
        if version["theme"]:
            by_key.setdefault(key, card)
    for card in cards:
        themed = len(card["versions"]) > 1
        for v in card["versions"]:
            v["only"] = v["theme"] if themed else None
            label = card["title"] + (f" ({v['theme']} theme)" if themed else "")
            v["label"] = label
            v["links"] = [(kind, text, v["files"][kind]) for kind, text in _LINKS if v["files"][kind]]
            v["snippets"] = embed_snippets(
                v["files"], label, width=v["width"], height=v["height"], captions_label=v["captions_label"]
            )
    return cards


def _explorer(cards: list[dict[str, Any]], sweep_keys: Sequence[str] | None) -> dict[str, Any] | None:
    """The explorer's controls and data: one control per swept key (theme aside) over the variants' cards."""
    runs = [c for c in cards if not c["wide"] and c["sweep"] and c["stats"]]
    if len(runs) < 2:
        return None
    seen: list[str] = []
    for c in runs:
        seen += [k for k in c["sweep"] if k not in seen]
    order = [k for k in (sweep_keys or seen) if k in seen and k != "theme"]
    keys = []
    for k in order:
        values: list[Any] = []
        for c in runs:
            v = c["sweep"].get(k)
            if v not in values:
                values.append(v)
        if len(values) < 2 and len(order) > 1:
            continue  # nothing to choose
        numeric = all(_numeric(v) for v in values)
        if numeric:
            values.sort()
        keys.append(
            {
                "key": k,
                "id": f"explore-{''.join(ch if ch.isalnum() else '-' for ch in k)}",
                "label": _KEY_LABELS.get(k, k),
                "numeric": numeric,
                "values": values,
                "texts": [_fmt(v, k) for v in values],
            }
        )
    if not keys:
        return None
    variants = []
    for c in runs:
        if any(k["key"] not in c["sweep"] for k in keys):
            continue
        variants.append(
            {
                "id": c["id"],
                "title": c["title"],
                "at": [k["values"].index(c["sweep"][k["key"]]) for k in keys],
                "stats": c["stats"],
                "versions": {
                    (v["theme"] or "dark"): {
                        "mp4": v["files"]["mp4"],
                        "webm": v["files"].get("webm"),
                        "poster": v["files"]["poster"],
                        "vtt": v["files"].get("vtt"),
                        "transcript": v["files"].get("transcript"),
                        "captions": v["captions_label"],
                        "label": c["title"],
                    }
                    for v in c["versions"]
                },
            }
        )
    if len(variants) < 2:
        return None
    first = variants[0]
    start = first["versions"].get("dark") or next(iter(first["versions"].values()))
    size = next(((v["width"], v["height"]) for c in runs for v in c["versions"] if v["width"]), (None, None))
    voiced = any(v["voiced"] for c in runs for v in c["versions"])  # narrated: heard, not muted or looped
    return {
        "keys": keys,
        "variants": variants,
        "first": first,
        "start": start,
        "width": size[0],
        "height": size[1],
        "voiced": voiced,
    }


def _loss_plot(loss_plot: object) -> dict[str, str] | None:
    if isinstance(loss_plot, str) and is_plain_name(loss_plot):
        return {"dark": loss_plot, "light": None}
    if isinstance(loss_plot, Mapping):
        found = {t: loss_plot[t] if is_plain_name(loss_plot.get(t)) else None for t in THEMES}
        return found if any(found.values()) else None
    return None


def gallery_page(
    entries: Sequence[Mapping],
    title: str,
    subtitle: str,
    loss_plot: str | Mapping[str, str] | None = None,
    *,
    sweep_keys: Sequence[str] | None = None,
    lang: str = "en",
) -> str:
    """The gallery page's HTML (see :func:`write_gallery`)."""
    cards = _cards(entries)
    plot = _loss_plot(loss_plot)
    explorer = _explorer(cards, sweep_keys)
    plot_at = 1 if cards and cards[0]["wide"] else 0
    return (
        page_env()
        .get_template("gallery.html")
        .render(
            lang=lang,
            page_title=title,
            title=title,
            subtitle=subtitle,
            cards=cards,
            plot=plot,
            plot_at=plot_at,
            explorer=explorer,
            explorer_data={"keys": explorer["keys"], "variants": explorer["variants"]} if explorer else None,
        )
    )


def write_gallery(
    out_dir: Path,
    entries: Sequence[Mapping],
    title: str,
    subtitle: str,
    loss_plot: str | Mapping[str, str] | None = None,
    *,
    sweep_keys: Sequence[str] | None = None,
) -> Path:
    """Write ``index.html``: the explorer (for a sweep), the comparison and the loss plot, then one card per clip.

    Parameters
    ----------
    out_dir
        The published folder: every file the page names is in it.
    entries
        One dict per clip: ``name``, ``title``, ``files`` (mp4, poster; optional webm, vtt, gif, json,
        transcript), ``params`` (label → value), ``width``, ``height``, ``wide`` (bool), ``note``, ``voiced``;
        for a sweep's variants ``sweep`` (key → value), ``theme`` and ``stats``
        (:func:`descent.publish.explorer.run_stats`). Entries that differ only in their theme are one card.
    title, subtitle
        The page's heading.
    loss_plot
        The loss plot's file name, or theme → file name.
    sweep_keys
        The swept keys in the order the explorer shows them (default: as the entries name them).

    Returns
    -------
    Path
        ``index.html`` (rewritten only when it changed), or ``gallery.html`` when the folder's
        ``index.html`` is not a page descent wrote (it is never replaced).

    Raises
    ------
    RenderError
        Neither name is free or descent's.
    """
    data = gallery_page(entries, title, subtitle, loss_plot, sweep_keys=sweep_keys).encode("utf-8")
    for name in PAGE_NAMES:
        index = Path(out_dir) / name
        try:
            st = index.lstat()
        except FileNotFoundError:
            return atomic_write(index, data)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or not _ours(index):
            continue  # the user's page (or link, or folder): never replaced
        if st.st_size == len(data) and index.read_bytes() == data:
            return index  # unchanged: not rewritten (and a page of another size is never read)
        return atomic_write(index, data)
    raise RenderError(
        f"{' and '.join(PAGE_NAMES)} in {str(out_dir)!r} are not descent's pages: "
        "move them, or publish into another folder"
    )


#: Where the gallery goes: ``index.html``, or beside it when the folder's ``index.html`` is someone else's.
PAGE_NAMES = ("index.html", "gallery.html")
_MARK = b'<meta name="generator" content="descent">'


def _ours(page: Path) -> bool:
    """Whether ``page`` is a gallery descent wrote: it carries descent's generator mark (a page from before
    the mark: its cards and their download links), read from its first 64 KiB only."""
    try:
        with open(page, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return _MARK in head or (b'<article class="card' in head and b"Download the video</a>" in head)
