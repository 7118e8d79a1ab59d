"""The ``lesson`` section of a lesson's sidecar, checked once for its captions, transcript and presenter page.

Every page and caption function of the lesson takes the sidecar's dicts (see ``chapters``, ``lines`` and
``video`` there); this module checks them and brings each text to one line, so every writer sees the same
clean data and bad data fails loudly (:class:`ValueError` naming the entry), never as a broken page.

Examples
--------
>>> clock(0.0), clock(72.96), clock(3725.0)
('0:00', '1:12', '62:05')
>>> one_line("  The points\\nscatter\\r\\n\\n around y = x − 1 ")
'The points scatter around y = x − 1'
>>> [c["key"] for c in check_chapters([{"number": 4, "key": "surface", "title": "The surface",
...                                     "start": 0.0, "end": 2.5}])]
['surface']
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from descent.outputs.files import is_plain_name

__all__ = ["check_chapters", "check_lines", "check_lang", "clock", "iso_duration", "one_line", "page_env", "file_name"]

_TOLERANCE = 1e-6  # seconds: chapter times equal to this are the same boundary
_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def one_line(text: object) -> str:
    """``text`` as one line: line breaks (any Unicode one) and the spaces around them become one space,
    control characters go, the ends are stripped."""
    if not isinstance(text, str):
        raise ValueError(f"a text is {type(text).__name__}, not a string: {text!r:.60}")
    parts = (part.strip() for part in text.replace("\t", " ").splitlines())
    joined = " ".join(part for part in parts if part)
    return "".join(ch for ch in joined if unicodedata.category(ch) != "Cc")


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} is not a time in seconds (a finite number ≥ 0): {value!r:.60}")
    return float(value)


def clock(seconds: float) -> str:
    """``m:ss`` (minutes not wrapped at an hour), the way a player shows a time: rounded down to the second."""
    whole = int(round(seconds * 1000)) // 1000
    return f"{whole // 60}:{whole % 60:02d}"


def iso_duration(seconds: float) -> str:
    """An HTML valid duration string (``PT12.4S``), for ``<time datetime>``."""
    return "PT" + f"{seconds:.3f}".rstrip("0").rstrip(".") + "S"


def check_lang(lang: object) -> str:
    """A BCP 47 language tag as the pages use it (``en``, ``de-CH``); ``None`` means ``en``."""
    if lang is None:
        return "en"
    if not isinstance(lang, str) or not _LANG.fullmatch(lang):
        raise ValueError(f"lesson language is not a language tag such as 'en': {lang!r:.60}")
    return lang


def file_name(video: dict, kind: str, *, required: bool = False) -> str | None:
    """``video[kind]`` when it names a file beside the page (a plain name); ``None`` when absent."""
    name = video.get(kind)
    if name is None:
        if required:
            raise ValueError(f"lesson video has no {kind} file")
        return None
    if not is_plain_name(name):
        raise ValueError(f"lesson video {kind} is not a plain file name in the same folder: {name!r:.80}")
    return name


def check_chapters(chapters: object) -> list[dict[str, Any]]:
    """The chapters as clean dicts (number, key, title, start, end), in the order given.

    Each has a whole ``number`` ≥ 1, a ``key`` that is one word (letters, digits, ``._-``, unique), a ``title``
    (one line), and ``start < end``; chapters follow each other without overlapping.
    """
    if isinstance(chapters, str | bytes) or not isinstance(chapters, Sequence) or not chapters:
        raise ValueError("a lesson needs at least one chapter")
    out: list[dict[str, Any]] = []
    keys: set[str] = set()
    for i, ch in enumerate(chapters, 1):
        if not isinstance(ch, dict):
            raise ValueError(f"chapter {i} is not a dict: {ch!r:.60}")
        number, key = ch.get("number"), ch.get("key")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"chapter {i} has no whole number ≥ 1: {number!r:.60}")
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", key) or key in keys:
            raise ValueError(f"chapter {i} key is not a new word of letters, digits and ._-: {key!r:.60}")
        keys.add(key)
        start = _seconds(ch.get("start"), f"chapter {key!r} start")
        end = _seconds(ch.get("end"), f"chapter {key!r} end")
        if end <= start:
            raise ValueError(f"chapter {key!r} ends ({end:g} s) before it starts ({start:g} s)")
        if out and start < out[-1]["end"] - _TOLERANCE:
            raise ValueError(f"chapter {key!r} starts ({start:g} s) before chapter {out[-1]['key']!r} ends")
        out.append({"number": number, "key": key, "title": one_line(ch.get("title")), "start": start, "end": end})
    return out


def check_lines(lines: object, chapter_keys: set[str] | None = None) -> list[dict[str, Any]]:
    """The script's lines as clean dicts (id, chapter, text, start, end), ordered by start time (a stable sort:
    lines given in order stay in order). With ``chapter_keys``, every line's chapter must be one of them."""
    if isinstance(lines, str | bytes) or not isinstance(lines, Sequence):
        raise ValueError("the lesson's lines are not a list")
    out = []
    for i, line in enumerate(lines, 1):
        if not isinstance(line, dict):
            raise ValueError(f"line {i} is not a dict: {line!r:.60}")
        name = line.get("id", f"#{i}")
        start = _seconds(line.get("start"), f"line {name!r} start")
        end = _seconds(line.get("end"), f"line {name!r} end")
        if end < start:
            raise ValueError(f"line {name!r} ends ({end:g} s) before it starts ({start:g} s)")
        chapter = line.get("chapter")
        if chapter_keys is not None and chapter not in chapter_keys:
            raise ValueError(f"line {name!r} belongs to chapter {chapter!r:.40}, which the lesson does not have")
        out.append({"id": name, "chapter": chapter, "text": one_line(line.get("text")), "start": start, "end": end})
    return sorted(out, key=lambda x: x["start"])


@functools.cache
def page_env() -> Any:
    """The Jinja2 environment of the lesson's pages: templates from ``descent/publish/templates``, HTML
    autoescaped, an undefined name an error."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("descent.publish", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
