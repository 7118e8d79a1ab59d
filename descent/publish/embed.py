"""Embed snippets for a published clip: plain HTML, MyST/Sphinx, MkDocs, a Jupyter cell, and upload notes
for an LMS. Each has the poster, the captions track and no autoplay; every path is the file's plain name,
relative to the folder the clip is published in (copy the files beside the page, or put the folder's
location before each name).

Examples
--------
>>> snippets = embed_snippets({"mp4": "a.mp4", "poster": "a.png", "vtt": "a.vtt"}, "lr = 0.1")
>>> [s["key"] for s in snippets]
['html', 'myst', 'mkdocs', 'jupyter', 'lms']
>>> print(snippets[0]["code"])
<video controls preload="metadata" playsinline poster="a.png" aria-label="lr = 0.1">
  <source src="a.mp4" type="video/mp4">
  <track kind="captions" src="a.vtt" srclang="en" label="Steps" default>
  <a href="a.mp4">Download the video</a>
</video>
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from descent.outputs.files import is_plain_name

__all__ = ["embed_snippets", "video_html"]


def _attr(value: object) -> str:
    return html.escape(str(value), quote=True)


def video_html(
    files: Mapping[str, str],
    label: str,
    *,
    width: int | None = None,
    height: int | None = None,
    captions_label: str = "Steps",
    lang: str = "en",
) -> str:
    """An HTML5 ``<video>`` for a clip: controls, no autoplay, the poster, WebM then MP4, the captions
    track, a download link for a browser that plays neither; the transcript linked after it when there is one.

    Parameters
    ----------
    files
        Kind → plain file name: mp4 and poster required; webm, vtt, transcript optional.
    label
        The video's accessible name.
    width, height
        The clip's size in pixels (both or neither).
    captions_label, lang
        The captions track's label and language.

    Returns
    -------
    str
        The markup, a few lines.
    """
    names = {k: v for k, v in files.items() if is_plain_name(v)}
    if not names.get("mp4") or not names.get("poster"):
        raise ValueError("a clip to embed needs an mp4 and a poster with plain file names")
    # its size for the layout before it loads, never wider than the page it is pasted into (a phone)
    size = f' width="{width}" height="{height}" style="max-width:100%;height:auto"' if width and height else ""
    lines = [
        f'<video controls preload="metadata" playsinline poster="{_attr(names["poster"])}"{size} '
        f'aria-label="{_attr(label)}">'
    ]
    if names.get("webm"):
        lines.append(f'  <source src="{_attr(names["webm"])}" type="video/webm">')
    lines.append(f'  <source src="{_attr(names["mp4"])}" type="video/mp4">')
    if names.get("vtt"):
        lines.append(
            f'  <track kind="captions" src="{_attr(names["vtt"])}" srclang="{_attr(lang)}" '
            f'label="{_attr(captions_label)}" default>'
        )
    lines.append(f'  <a href="{_attr(names["mp4"])}">Download the video</a>')
    lines.append("</video>")
    if names.get("transcript"):
        lines.append(f'<p><a href="{_attr(names["transcript"])}">Transcript of the clip</a></p>')
    return "\n".join(lines)


def embed_snippets(
    files: Mapping[str, str],
    label: str,
    *,
    width: int | None = None,
    height: int | None = None,
    captions_label: str = "Steps",
) -> list[dict[str, str]]:
    """The snippets a course team pastes into its pages, for one clip.

    Parameters
    ----------
    files
        Kind → plain file name (mp4 and poster required; webm, vtt, gif, transcript optional).
    label
        The clip's accessible name.
    width, height
        The clip's size in pixels.
    captions_label
        The captions track's label.

    Returns
    -------
    list of dict
        Each with ``key``, ``title``, ``note`` (one sentence on where the files go) and ``code``.
    """
    tag = video_html(files, label, width=width, height=height, captions_label=captions_label)
    names = {k: v for k, v in files.items() if is_plain_name(v)}
    plain = tag
    fit = f' width="{width}" height="{height}" style="max-width:100%;height:auto"' if width and height else ""
    if names.get("gif"):  # for a site that takes no video: the GIF, still for readers who ask for less motion
        plain += (
            "\n<!-- or, where video is not allowed: the GIF, still for readers who ask for less motion -->\n"
            "<picture>\n"
            f'  <source srcset="{_attr(names["poster"])}" media="(prefers-reduced-motion: reduce)">\n'
            f'  <img src="{_attr(names["gif"])}" alt="{_attr(label)}" loading="lazy"{fit}>\n'
            "</picture>"
        )
    mp4, poster, vtt = names["mp4"], names["poster"], names.get("vtt")
    jupyter = (
        "from IPython.display import HTML\n\n"
        "# the files sit beside the notebook (paths are relative to it)\n"
        f'HTML(r"""\n{tag}\n""")'
    )
    # a MyST fence longer than any run of backticks in the tag (a title may hold ```)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", tag)), default=0))
    upload = [
        f"Video: upload {mp4} (H.264 MP4); leave it to start when the student presses play.",
        f"Captions: upload {vtt} as the video's captions (WebVTT, English, label “{captions_label}”)."
        if vtt
        else "Captions: none were made for this clip.",
        f"Poster / thumbnail: upload {poster}.",
    ]
    if names.get("transcript"):
        upload.append(f"Transcript: upload {names['transcript']} (or its Markdown twin) and link it below the video.")
    return [
        {
            "key": "html",
            "title": "Plain HTML",
            "note": "Copy the clip's files beside the page.",
            "code": plain,
        },
        {
            "key": "myst",
            "title": "MyST / Sphinx",
            "note": "Copy the files into a folder listed in html_extra_path (conf.py), beside the built page.",
            "code": f"{fence}{{raw}} html\n{tag}\n{fence}",
        },
        {
            "key": "mkdocs",
            "title": "MkDocs",
            "note": "Markdown takes the HTML as it is: copy the files into docs/ beside the page's .md file.",
            "code": tag,
        },
        {
            "key": "jupyter",
            "title": "Jupyter cell",
            "note": "Run the cell in a notebook saved beside the files.",
            "code": jupyter,
        },
        {
            "key": "lms",
            "title": "LMS upload (Moodle, Canvas, …)",
            "note": "Upload the three files to the video item of your course.",
            "code": "\n".join(upload) + f"\n\nOr, in an HTML block of the LMS:\n{tag}",
        },
    ]
