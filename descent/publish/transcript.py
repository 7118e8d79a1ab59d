"""A lesson's transcript: its title, then per chapter a heading ``N. Title`` with the chapter's start time
and the chapter's lines of the script as paragraphs, as Markdown and as an accessible HTML page.

Examples
--------
>>> lesson = {"title": "Fitting a line", "lang": "en",
...           "chapters": [{"number": 1, "key": "data", "title": "The data", "start": 0.0, "end": 12.4}],
...           "lines": [{"id": "data.a", "chapter": "data", "text": "Sixty points *around* y = x − 1.",
...                      "start": 0.0, "end": 3.2}]}
>>> print(transcript_markdown(lesson))
# Fitting a line
<BLANKLINE>
## 1. The data (0:00)
<BLANKLINE>
Sixty points \\*around\\* y = x − 1.
<BLANKLINE>
"""

from __future__ import annotations

import re
from typing import Any

from descent.publish.lesson import (
    check_chapters,
    check_lang,
    check_lines,
    clock,
    file_name,
    iso_duration,
    one_line,
    page_env,
)

__all__ = ["transcript_html", "transcript_markdown", "markdown_text"]

_MD_INLINE = re.compile(r"([\\`*_{}\[\]<>#|~&!$])")
_MD_LIST_NUMBER = re.compile(r"^(\d{1,9})([.)])")


def markdown_text(text: str) -> str:
    """``text`` on one line, escaped so that Markdown (CommonMark, GitHub's) shows it as written.

    >>> markdown_text("1. a_b <br> [x](y) # z")
    '1\\\\. a\\\\_b \\\\<br\\\\> \\\\[x\\\\](y) \\\\# z'
    """
    out = _MD_INLINE.sub(r"\\\1", one_line(text))
    out = _MD_LIST_NUMBER.sub(r"\1\\\2", out)  # "1. " would start a list
    if out[:1] in ("-", "+", "=", ":"):  # a list, a rule, a setext underline, a definition
        out = "\\" + out
    return out


def _sections(lesson: dict) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(lesson, dict):
        raise ValueError("the lesson is not a dict")
    chapters = check_chapters(lesson.get("chapters"))
    lines = check_lines(lesson.get("lines") or [], {c["key"] for c in chapters})
    for ch in chapters:
        ch["lines"] = [x for x in lines if x["chapter"] == ch["key"]]
        ch["clock"], ch["datetime"] = clock(ch["start"]), iso_duration(ch["start"])
    return one_line(lesson.get("title")), chapters


def transcript_markdown(lesson: dict) -> str:
    """The transcript as Markdown: ``# Title``, then ``## N. Title (m:ss)`` and one paragraph per line.

    Parameters
    ----------
    lesson
        The sidecar's ``lesson`` dict (title, chapters, lines).

    Returns
    -------
    str
        The Markdown text, ending in a newline.
    """
    title, chapters = _sections(lesson)
    out = [f"# {markdown_text(title)}", ""]
    for ch in chapters:
        out += [f"## {ch['number']}. {markdown_text(ch['title'])} ({ch['clock']})", ""]
        for line in ch["lines"]:
            out += [markdown_text(line["text"]), ""]
    return "\n".join(out)


def transcript_html(lesson: dict, *, presenter: str | None = None) -> str:
    """The transcript as a complete HTML page (no external resources; light and dark).

    Parameters
    ----------
    lesson
        The sidecar's ``lesson`` dict (title, lang, chapters, lines).
    presenter
        The presenter page's file name (``NAME.html``, in the same folder) to link back to; no link when None.

    Returns
    -------
    str
        The page.
    """
    title, chapters = _sections(lesson)
    link = file_name({"presenter": presenter}, "presenter")
    return (
        page_env()
        .get_template("transcript.html")
        .render(
            lang=check_lang(lesson.get("lang")),
            page_title=f"{title} (transcript)",
            title=title,
            chapters=chapters,
            presenter=link,
        )
    )
