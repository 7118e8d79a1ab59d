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

import json
import re
from pathlib import Path
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

__all__ = [
    "clip_transcript",
    "clip_transcript_html",
    "clip_transcript_markdown",
    "markdown_text",
    "stage_clip_transcript",
    "transcript_html",
    "transcript_markdown",
]

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


# -- a clip's transcript ---------------------------------------------------------------------------
_SHOWS = {
    "fit": "The data points and the fitted line y = w·x + b, redrawn at each step of gradient descent, "
    "beside the loss falling (or rising) step by step.",
    "surface": "The loss surface over w and b in 3-D, with the run stepping across it from its start "
    "towards the lowest point.",
    "compare": "Several runs from the same start, one colour each, stepping down the same loss surface, "
    "with their losses side by side.",
}


def _num(value: float) -> str:
    from descent.scenes.helpers import fmt_num

    return fmt_num(float(value))


def clip_transcript(meta: dict) -> dict[str, Any]:
    """What a clip shows, step by step, from its sidecar: a title, what is on screen, the runs, then one
    entry per moment (its time in the clip and a sentence): the start, each step the clip stops at with
    its loss, the step within 10 % of the lowest loss, a divergence, the end; the spoken lines when the
    clip is narrated, else the clip's script (:func:`descent.scenes.script.clip_script`).

    Parameters
    ----------
    meta
        The clip's sidecar (``descent.clip/1``): scene, video, render, the trace or traces.

    Returns
    -------
    dict
        title, lang, shows, runs (sentences), moments (clock, datetime, start, text), said (dicts with
        clock, datetime, text), narrated (bool), video (the clip's mp4 name or None).

    Raises
    ------
    ValueError
        When the sidecar holds no valid trace or names an unknown scene.
    """
    from descent.publish.captions import vtt_cues
    from descent.publish.explorer import run_stats
    from descent.scenes import SCENES
    from descent.scenes.compare import run_label
    from descent.scenes.script import clip_script
    from descent.trainer import Trace

    if not isinstance(meta, dict):
        raise ValueError("the sidecar is not a dict")
    scene = meta.get("scene")
    if scene not in SCENES or SCENES[scene].lesson:
        raise ValueError(f"not a clip's scene: {scene!r:.40}")
    raw = meta["traces"] if "traces" in meta else [meta.get("trace")]
    traces = [Trace.from_dict(t) for t in raw]
    options = (meta.get("render") or {}).get("scene_options") or {}
    script = clip_script(traces)
    moments = []
    single = run_stats(traces[0]) if len(traces) == 1 else None
    cues = vtt_cues(scene, traces, options)
    for i, (begin, _end, text) in enumerate(cues):
        found = re.match(r"Step (\d+):", text)
        k = int(found.group(1)) if found else None
        notes = ["the start"] if i == 0 else []
        if single is not None and k is not None and k == single["near_step"]:
            notes.append("the loss is now within 10 % of the lowest possible")
        if i == len(cues) - 1:
            if single is not None and single["diverged_at"] is not None:
                notes.append(f"the run has diverged and stops ({single['divergence'] or 'diverged'})")
            notes.append("the end: the clip holds this state")
        moments.append({"start": begin, "text": text + "".join(f"; {n}" for n in notes) + "."})
    runs = []
    by = options.get("compare_by", "lr") if len(traces) > 1 else "lr"
    for t in traces:
        st = run_stats(t)
        c = t.config
        sentence = f"Learning rate {c.lr:g} ({c.optimizer}), starting at w = {_num(c.w0)}, b = {_num(c.b0)}"
        if by != "lr":  # the run as the clip's legend names it: sgd, momentum 0.9, batch 8, …
            sentence = f"{run_label(c, by)}: {sentence[0].lower()}{sentence[1:]}"
        if st["lr_max"]:
            sentence += f"; lr/lr_max = {st['lr_ratio']:.2f} (lr_max = {_num(st['lr_max'])})"
        sentence += f"; the lowest possible loss L* = {_num(st['l_opt'])}."
        if st["near_step"] is not None:
            sentence += f" The loss comes within 10 % of L* at step {st['near_step']}."
        elif st["diverged_at"] is None:
            sentence += f" The loss does not come within 10 % of L* in {t.last_k} steps."
        if st["diverged_at"] is not None:
            why = f": {st['divergence']}" if st["divergence"] else ""
            sentence += f" The run diverges at step {st['diverged_at']}{why}."
        sentence += f" Final loss after {t.last_k} steps: {_num(t.loss[-1])}."
        runs.append(sentence)
    narration = meta.get("narration") if isinstance(meta.get("narration"), dict) else None
    if narration and narration.get("lines"):
        said = [{"start": float(x["start"]), "text": one_line(x["text"])} for x in narration["lines"]]
    else:
        said = [{"start": None, "text": line.text} for line in script.lines]
    for item in (*moments, *said):
        if item["start"] is not None:
            item["clock"], item["datetime"] = clock(item["start"]), iso_duration(item["start"])
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    video = files.get("mp4")
    return {
        "title": one_line(script.title),
        "lang": "en",
        "shows": _SHOWS.get(scene, SCENES[scene].summary),
        "runs": runs,
        "moments": moments,
        "said": said,
        "narrated": bool(narration),
        "video": video if isinstance(video, str) and file_name({"mp4": video}, "mp4") else None,
    }


def clip_transcript_markdown(meta: dict) -> str:
    """A clip's transcript (:func:`clip_transcript`) as Markdown.

    Parameters
    ----------
    meta
        The clip's sidecar.

    Returns
    -------
    str
        The Markdown text, ending in a newline.
    """
    t = clip_transcript(meta)
    out = [f"# {markdown_text(t['title'])} (transcript)", "", "## What the clip shows", "", markdown_text(t["shows"])]
    out += [""] + [f"- {markdown_text(r)}" for r in t["runs"]]
    out += ["", "## Step by step", ""]
    out += [f"- {m['clock']}: {markdown_text(m['text'])}" for m in t["moments"]]
    out += ["", "## " + ("Narration" if t["narrated"] else "In short"), ""]
    for s in t["said"]:
        out += [(f"{s['clock']}: " if s["start"] is not None else "") + markdown_text(s["text"]), ""]
    return "\n".join(out)


def clip_transcript_html(meta: dict) -> str:
    """A clip's transcript (:func:`clip_transcript`) as a complete, accessible HTML page (no external
    resources; light and dark), linking the clip's video beside it.

    Parameters
    ----------
    meta
        The clip's sidecar.

    Returns
    -------
    str
        The page.
    """
    t = clip_transcript(meta)
    return page_env().get_template("clip_transcript.html").render(page_title=f"{t['title']} (transcript)", **t)


def stage_clip_transcript(sidecar: Path) -> list[str]:
    """Write ``NAME.transcript.html`` and ``NAME.transcript.md`` beside a staged clip's sidecar
    ``NAME.json`` (each complete or not at all), and return their names.

    Parameters
    ----------
    sidecar
        The staged sidecar.

    Returns
    -------
    list of str
        The two file names, HTML first.
    """
    from descent.trainer import atomic_write

    sidecar = Path(sidecar)
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    stem = sidecar.name.removesuffix(".json")
    page = atomic_write(sidecar.with_name(f"{stem}.transcript.html"), clip_transcript_html(meta))
    text = atomic_write(sidecar.with_name(f"{stem}.transcript.md"), clip_transcript_markdown(meta))
    return [page.name, text.name]
