"""A lesson's presenter page: the lecture video with its captions and chapters, a chapter list and keys to
step through it chapter by chapter in a lecture hall.

One self-contained HTML file (no network): it links only the video, poster, captions, chapters track and
transcript by their plain file names in the same folder, and carries the chapter times in a JSON island, so
it works opened from ``file://`` as well as from a web server. The keys (``→``/``Space`` play to the end of
the chapter and pause there, ``←`` back, ``1``–``9`` a chapter, ``Home`` the start) are explained on the page.

Examples
--------
>>> lesson = {"title": "Fitting a line", "lang": "en",
...           "video": {"mp4": "lesson.mp4", "poster": "lesson.png", "captions": "lesson.vtt"},
...           "chapters": [{"number": 1, "key": "data", "title": "The data", "start": 0.0, "end": 12.4}],
...           "lines": []}
>>> page = presenter_page(lesson)
>>> '<source src="lesson.mp4" type="video/mp4">' in page, "<title>Fitting a line</title>" in page
(True, True)
"""

from __future__ import annotations

import math

from descent.publish.lesson import check_chapters, check_lang, check_lines, file_name, one_line, page_env

__all__ = ["presenter_page"]


def _positive_int(value: object) -> int | None:
    return value if type(value) is int and value > 0 else None


def presenter_page(lesson: dict, *, page_title: str | None = None) -> str:
    """The presenter page of a lesson.

    Parameters
    ----------
    lesson
        The sidecar's ``lesson`` dict: title, lang, video (mp4 required; webm, poster, captions, chapters,
        transcript optional, each a plain file name in the page's folder; width, height, fps), chapters, lines.
    page_title
        The document's ``<title>``; the lesson's title when None.

    Returns
    -------
    str
        The page.

    Raises
    ------
    ValueError
        When the lesson's data is malformed (no chapters, times out of order, a file name that is not plain).
    """
    if not isinstance(lesson, dict) or not isinstance(lesson.get("video"), dict):
        raise ValueError("the lesson is not a dict with a video section")
    video = lesson["video"]
    title = one_line(lesson.get("title"))
    lang = check_lang(lesson.get("lang"))
    chapters = check_chapters(lesson.get("chapters"))
    lines = check_lines(lesson.get("lines") or [], {c["key"] for c in chapters})
    fps = video.get("fps")
    data = {
        "chapters": chapters,
        "lines": [{"start": x["start"], "end": x["end"], "text": x["text"]} for x in lines],
        "fps": fps if isinstance(fps, int | float) and not isinstance(fps, bool) and math.isfinite(fps) else None,
    }
    width, height = _positive_int(video.get("width")), _positive_int(video.get("height"))
    return (
        page_env()
        .get_template("presenter.html")
        .render(
            lang=lang,
            ui="" if lang.lower().startswith("en") else "en",
            page_title=title if page_title is None else one_line(page_title),
            title=title,
            mp4=file_name(video, "mp4", required=True),
            webm=file_name(video, "webm"),
            poster=file_name(video, "poster"),
            captions=file_name(video, "captions"),
            chapters_vtt=file_name(video, "chapters"),
            transcript=file_name(video, "transcript"),
            width=width if width and height else None,
            height=height if width and height else None,
            data=data,
        )
    )
