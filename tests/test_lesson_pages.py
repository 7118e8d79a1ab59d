"""The lesson's web and text outputs: chapters and captions as WebVTT, the transcript (Markdown and HTML), the
presenter page; the presenter page in a real headless Chromium driven by real key presses and clicks."""

from __future__ import annotations

import html
import io
import json
import re
import threading
from fractions import Fraction
from functools import partial
from html.parser import HTMLParser
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from descent.publish.captions import chapters_vtt, script_vtt, write_vtt
from descent.publish.lesson import one_line
from descent.publish.presenter import presenter_page
from descent.publish.transcript import transcript_html, transcript_markdown

from .cdp import Browser, chromium

FPS = 10
COLOURS = [(213, 94, 0), (0, 158, 115), (86, 180, 233)]  # one solid colour per chapter of the test video

# Texts that must come out exactly as written: markup, a cue's arrow, a script end tag, Markdown syntax, Unicode.
NASTY = "<script>alert('x')</script> & a --> b"


def make_lesson(name: str = "lesson", webm: bool = False) -> dict:
    """The contract's lesson dict for three chapters of 1 s each (the test video)."""
    chapters = [
        {"number": 1, "key": "data", "title": "The data", "start": 0.0, "end": 1.0, "file": f"{name}_01_data.mp4"},
        {"number": 2, "key": "model", "title": "The model & its <cost>", "start": 1.0, "end": 2.0, "file": "x.mp4"},
        {"number": 3, "key": "descent", "title": "# Descent: ∇ and −λ", "start": 2.0, "end": 3.0, "file": "y.mp4"},
    ]
    lines = [
        {"id": "data.a", "chapter": "data", "text": "Sixty points scatter around y = x − 1.", "start": 0.0, "end": 0.5},
        {"id": "data.b", "chapter": "data", "text": f"Noise σ = 0.1. {NASTY}", "start": 0.5, "end": 1.0},
        {
            "id": "model.a",
            "chapter": "model",
            "text": "1. ŷ = w·x + b\n\nis *the* model_line",
            "start": 1.0,
            "end": 2.0,
        },
        {
            "id": "descent.a",
            "chapter": "descent",
            "text": "- step by −lr · ∇L [link](x) </p>",
            "start": 2.0,
            "end": 3.0,
        },
    ]
    video = {
        "mp4": f"{name}.mp4",
        "webm": f"{name}.webm" if webm else None,
        "poster": f"{name}.png",
        "captions": f"{name}.vtt",
        "chapters": f"{name}.chapters.vtt",
        "transcript": f"{name}.transcript.html",
        "duration": 3.0,
        "width": 160,
        "height": 90,
        "fps": float(FPS),
    }
    return {"title": "Gradient descent </script> <b>on</b> a line", "lang": "en", "video": video,
            "chapters": chapters, "lines": lines}  # fmt: skip


# -- WebVTT ----------------------------------------------------------------------------------------
def parse_vtt(text: str) -> list[dict]:
    """Cues as a WebVTT parser sees them: blocks split at blank lines, an identifier line, the timings, the payload."""
    stamp = r"(\d{2,}):(\d{2}):(\d{2})\.(\d{3})"
    blocks = text.removesuffix("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    cues = []
    for block in blocks[1:]:
        if not block.strip():
            continue
        rows = block.split("\n")
        timing = 1 if "-->" not in rows[0] else 0
        m = re.fullmatch(f"{stamp} --> {stamp}", rows[timing])
        assert m, block
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, m.groups())
        cues.append(
            {
                "id": rows[0] if timing else None,
                "start": h1 * 3600 + m1 * 60 + s1 + ms1 / 1000,
                "end": h2 * 3600 + m2 * 60 + s2 + ms2 / 1000,
                "payload": rows[timing + 1 :],
            }
        )
    return cues


def test_chapters_vtt_has_one_cue_per_chapter_named_by_its_key():
    lesson = make_lesson()
    text = chapters_vtt(lesson["chapters"])
    assert text.startswith("WEBVTT\n\n") and text.endswith("\n")
    cues = parse_vtt(text)
    assert [c["id"] for c in cues] == ["data", "model", "descent"]
    for cue, ch in zip(cues, lesson["chapters"], strict=True):
        assert (cue["start"], cue["end"]) == (ch["start"], ch["end"])
        assert len(cue["payload"]) == 1
        assert html.unescape(cue["payload"][0]) == f"{ch['number']}. {ch['title']}"
    assert "&amp; its &lt;cost&gt;" in cues[1]["payload"][0]


def test_chapters_vtt_keeps_each_chapters_number_and_times():
    """--chapters 2,3: the numbers of the full lesson, the times of the shorter video; hours and milliseconds."""
    chapters = [
        {"number": 2, "key": "model", "title": "Model", "start": 0.0, "end": 3599.9995},
        {"number": 3, "key": "descent", "title": "Descent", "start": 3599.9995, "end": 3725.25},
    ]
    cues = parse_vtt(chapters_vtt(chapters))
    assert [c["payload"] for c in cues] == [["2. Model"], ["3. Descent"]]
    assert [(c["start"], c["end"]) for c in cues] == [(0.0, 3600.0), (3600.0, 3725.25)]
    assert "01:02:05.250" in chapters_vtt(chapters)


def test_script_vtt_one_cue_per_line_escaped_on_one_line():
    lesson = make_lesson()
    text = script_vtt(lesson["lines"])
    cues = parse_vtt(text)
    assert [c["id"] for c in cues] == ["1", "2", "3", "4"]
    for cue, line in zip(cues, lesson["lines"], strict=True):
        assert (cue["start"], cue["end"]) == (line["start"], line["end"])
        assert len(cue["payload"]) == 1, cue  # a blank line inside would have ended the cue
        payload = cue["payload"][0]
        assert "-->" not in payload and "<" not in payload and ">" not in payload
        assert not re.search(r"&(?!amp;|lt;|gt;)", payload)
        assert html.unescape(payload) == one_line(line["text"])
    assert html.unescape(cues[1]["payload"][0]).endswith(NASTY)
    assert html.unescape(cues[2]["payload"][0]) == "1. ŷ = w·x + b is *the* model_line"


def test_script_vtt_orders_cues_by_start_time():
    lines = make_lesson()["lines"]
    cues = parse_vtt(script_vtt([lines[2], lines[0], lines[3], lines[1]]))
    assert [c["start"] for c in cues] == [0.0, 0.5, 1.0, 2.0]
    assert html.unescape(cues[1]["payload"][0]).endswith(NASTY)


@pytest.mark.parametrize(
    ("chapters", "message"),
    [
        ([], "at least one chapter"),
        ([{"number": 1, "key": "a --> b", "title": "x", "start": 0, "end": 1}], "key"),
        ([{"number": 1, "key": "a\nb", "title": "x", "start": 0, "end": 1}], "key"),
        ([{"number": 1, "key": "a", "title": "x", "start": 1, "end": 1}], "ends"),
        ([{"number": 1, "key": "a", "title": "x", "start": 0, "end": float("nan")}], "finite"),
        ([{"number": 1, "key": "a", "title": "x", "start": 0, "end": 2}, {"number": 2, "key": "b", "title": "y",
                                                                           "start": 1, "end": 3}], "before chapter"),
        ([{"number": 1, "key": "a", "title": "x", "start": 0, "end": 1}, {"number": 2, "key": "a", "title": "y",
                                                                           "start": 1, "end": 3}], "key"),
        ([{"number": True, "key": "a", "title": "x", "start": 0, "end": 1}], "number"),
        ([{"number": 1, "key": "a", "title": None, "start": 0, "end": 1}], "not a string"),
    ],
)  # fmt: skip
def test_bad_chapters_are_refused(chapters, message):
    with pytest.raises(ValueError, match=message):
        chapters_vtt(chapters)


def test_bad_lines_are_refused():
    with pytest.raises(ValueError, match="before it starts"):
        script_vtt([{"text": "x", "start": 2.0, "end": 1.0}])
    with pytest.raises(ValueError, match="time in seconds"):
        script_vtt([{"text": "x", "start": -1.0, "end": 1.0}])


def test_write_vtt_still_numbers_its_cues(tmp_path):
    path = write_vtt(tmp_path / "x.vtt", [(0.0, 1.5, "Step 0: w = −15"), (1.5, 2.0, "Step 1: a < b")])
    cues = parse_vtt(path.read_text(encoding="utf-8"))
    assert [(c["id"], c["start"], c["end"], c["payload"]) for c in cues] == [
        ("1", 0.0, 1.5, ["Step 0: w = −15"]),
        ("2", 1.5, 2.0, ["Step 1: a &lt; b"]),
    ]


# -- HTML, parsed ----------------------------------------------------------------------------------
class Outline(HTMLParser):
    """What an assistive technology would walk: elements with their attributes, headings, paragraphs, scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.headings: list[tuple[str, str]] = []
        self.paragraphs: list[str] = []
        self.scripts: list[tuple[dict, str]] = []
        self.title = ""
        self._open: list[list] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3", "p", "title", "script"):
            self._open.append([tag, dict(attrs), ""])

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            tag, attrs, text = self._open.pop()
            text = " ".join(text.split()) if tag != "script" else text
            if tag == "p":
                self.paragraphs.append(text)
            elif tag == "title":
                self.title = text
            elif tag == "script":
                self.scripts.append((attrs, text))
            else:
                self.headings.append((tag, text))

    def handle_data(self, data):
        for entry in self._open:
            entry[2] += data


def outline(page: str) -> Outline:
    parser = Outline()
    parser.feed(page)
    parser.close()
    return parser


def linked(parser: Outline) -> list[str]:
    """Every URL the page would load or link."""
    return [v for _, attrs in parser.elements for k, v in attrs.items() if k in ("src", "href", "poster", "action")]


# -- the transcript --------------------------------------------------------------------------------
def unescape_markdown(text: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def test_transcript_markdown_has_the_title_the_chapters_in_order_and_every_line_once():
    lesson = make_lesson()
    md = transcript_markdown(lesson)
    rows = md.split("\n")
    assert unescape_markdown(rows[0]) == "# " + lesson["title"]
    headings = [unescape_markdown(r) for r in rows if r.startswith("## ")]
    assert headings == [
        "## 1. The data (0:00)",
        "## 2. The model & its <cost> (0:01)",
        "## 3. # Descent: ∇ and −λ (0:02)",
    ]
    paragraphs = [unescape_markdown(r) for r in rows if r and not r.startswith("#")]
    assert paragraphs == [one_line(x["text"]) for x in lesson["lines"]]
    chapter_of = {}
    heading = None
    for r in rows:
        if r.startswith("## "):
            heading = unescape_markdown(r)
        elif r and not r.startswith("#"):
            chapter_of[unescape_markdown(r)] = heading
    assert chapter_of[one_line(lesson["lines"][2]["text"])].startswith("## 2.")


def test_transcript_markdown_escapes_what_markdown_would_read():
    md = transcript_markdown(make_lesson())
    assert "<" not in md.replace("\\<", "") and "*the*" not in md and "[link](x)" not in md
    assert "\n1\\. ŷ" in md  # not a numbered list
    assert "\n\\- step" in md  # not a bullet
    assert "## 3. \\# Descent" in md  # not a stray heading mark
    assert "model\\_line" in md


def test_transcript_html_is_a_page_with_the_headings_in_order_and_every_line_once():
    lesson = make_lesson()
    page = transcript_html(lesson, presenter="lesson.html")
    parser = outline(page)
    assert page.startswith("<!doctype html>")
    assert ("html", {"lang": "en"}) in parser.elements
    assert parser.title == f"{lesson['title']} (transcript)"
    assert parser.headings == [
        ("h1", lesson["title"]),
        ("h2", "1. The data 0:00"),
        ("h2", "2. The model & its <cost> 0:01"),
        ("h2", "3. # Descent: ∇ and −λ 0:02"),
    ]
    assert parser.paragraphs == [one_line(x["text"]) for x in lesson["lines"]]
    assert [tag for tag, _ in parser.elements].count("main") == 1
    assert not parser.scripts and "<script>" not in page and "</script>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; a --&gt; b" in page
    assert ("a", {"href": "lesson.html"}) in parser.elements
    assert sorted(linked(parser)) == ["#main", "data:,", "lesson.html"]
    times = [attrs["datetime"] for tag, attrs in parser.elements if tag == "time"]
    assert times == ["PT0S", "PT1S", "PT2S"]


def test_transcript_html_links_back_only_when_asked_and_only_to_a_plain_name():
    lesson = make_lesson()
    assert "lesson.html" not in linked(outline(transcript_html(lesson)))
    for bad in ("../lesson.html", "javascript:alert(1)", "https://example.org/x.html"):
        with pytest.raises(ValueError, match="plain file name"):
            transcript_html(lesson, presenter=bad)


def test_a_line_of_a_chapter_the_lesson_does_not_have_is_refused():
    lesson = make_lesson()
    lesson["lines"][1]["chapter"] = "surface"
    for write in (transcript_markdown, transcript_html, presenter_page):
        with pytest.raises(ValueError, match="data.b.*surface"):
            write(lesson)


# -- the presenter page ------------------------------------------------------------------------------
def test_presenter_page_video_sources_tracks_and_links():
    lesson = make_lesson(webm=True)
    parser = outline(presenter_page(lesson))
    (video,) = [attrs for tag, attrs in parser.elements if tag == "video"]
    assert {k: video[k] for k in ("controls", "preload", "playsinline", "poster")} == {
        "controls": None,
        "preload": "metadata",
        "playsinline": None,
        "poster": "lesson.png",
    }
    assert "autoplay" not in video and (video["width"], video["height"]) == ("160", "90")
    sources = [(a["src"], a["type"]) for tag, a in parser.elements if tag == "source"]
    assert sources == [("lesson.webm", "video/webm"), ("lesson.mp4", "video/mp4")]
    tracks = {a["kind"]: a for tag, a in parser.elements if tag == "track"}
    assert tracks["captions"]["src"] == "lesson.vtt" and "default" in tracks["captions"]
    assert tracks["captions"]["srclang"] == "en" and tracks["captions"]["label"]
    assert tracks["chapters"]["src"] == "lesson.chapters.vtt" and tracks["chapters"]["srclang"] == "en"
    # nothing from elsewhere: only the lesson's own files, the page's own anchor and an empty icon
    assert set(linked(parser)) == {
        "#main", "data:,", "lesson.webm", "lesson.mp4", "lesson.png", "lesson.vtt", "lesson.chapters.vtt",
        "lesson.transcript.html",
    }  # fmt: skip
    assert ("html", {"lang": "en"}) in parser.elements and parser.title == lesson["title"]
    assert [h for h in parser.headings] == [("h1", lesson["title"]), ("h2", "Chapters"), ("h2", "Keys")]


def test_presenter_page_without_webm_has_the_mp4_only_and_takes_a_page_title():
    page = presenter_page(make_lesson(webm=False), page_title="Lecture 3 <live>")
    parser = outline(page)
    assert [a["src"] for tag, a in parser.elements if tag == "source"] == ["lesson.mp4"]
    assert parser.title == "Lecture 3 <live>" and "<title>Lecture 3 &lt;live&gt;</title>" in page


def test_presenter_page_json_island_round_trips_and_cannot_close_its_script():
    lesson = make_lesson()
    page = presenter_page(lesson)
    parser = outline(page)
    assert len(parser.scripts) == 2 and page.count("</script") == 2  # no text closes a script early
    (island,) = [text for attrs, text in parser.scripts if attrs.get("type") == "application/json"]
    data = json.loads(island)
    assert [{k: c[k] for k in ("number", "key", "title", "start", "end")} for c in lesson["chapters"]] == data[
        "chapters"
    ]
    assert [(x["start"], x["end"], x["text"]) for x in data["lines"]] == [
        (x["start"], x["end"], one_line(x["text"])) for x in lesson["lines"]
    ]
    assert data["fps"] == FPS
    assert "<b>on</b>" not in page and "&lt;b&gt;on&lt;/b&gt;" in page


@pytest.mark.parametrize(("kind", "name"), [("mp4", "../lesson.mp4"), ("poster", "javascript:alert(1)"),
                                            ("captions", "https://example.org/x.vtt"), ("mp4", None)])  # fmt: skip
def test_presenter_page_links_plain_names_only(kind, name):
    lesson = make_lesson()
    lesson["video"][kind] = name
    with pytest.raises(ValueError, match="mp4 file|plain file name"):
        presenter_page(lesson)


def test_presenter_page_marks_its_english_controls_in_a_lesson_of_another_language():
    lesson = make_lesson()
    lesson["lang"] = "de"
    parser = outline(presenter_page(lesson))
    assert ("html", {"lang": "de"}) in parser.elements
    assert ("h2", {"id": "chapters-title", "lang": "en"}) in parser.elements
    with pytest.raises(ValueError, match="language tag"):
        presenter_page({**lesson, "lang": 'en" onload="x'})


# -- in a real browser ---------------------------------------------------------------------------------
def make_video(path: Path) -> None:
    """Three chapters of 1 s at 10 fps, 160x90, H.264, one solid colour per chapter."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        for i in range(3 * FPS):
            frame = av.VideoFrame.from_ndarray(np.full((90, 160, 3), COLOURS[i // FPS], np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, dict]:
    """A lesson's folder as ``descent render lesson`` writes it (video, poster, tracks, transcript, page)."""
    folder = tmp_path_factory.mktemp("lesson site")  # a space: the page must work from any path
    lesson = make_lesson()
    make_video(folder / "lesson.mp4")
    Image.new("RGB", (160, 90), COLOURS[0]).save(folder / "lesson.png")
    (folder / "lesson.vtt").write_text(script_vtt(lesson["lines"]), encoding="utf-8")
    (folder / "lesson.chapters.vtt").write_text(chapters_vtt(lesson["chapters"]), encoding="utf-8")
    (folder / "lesson.transcript.html").write_text(transcript_html(lesson, presenter="lesson.html"), encoding="utf-8")
    (folder / "lesson.html").write_text(presenter_page(lesson), encoding="utf-8")
    return folder, lesson


class RangeHandler(SimpleHTTPRequestHandler):
    """A static server that answers byte ranges, as every real web server does (a video is seekable only so)."""

    def send_head(self):
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not wanted or not path.is_file():
            return super().send_head()
        data = path.read_bytes()
        first, last = int(wanted[1]), min(int(wanted[2] or len(data) - 1), len(data) - 1)
        if first > last:
            self.send_error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            return None
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(data[first : last + 1])

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = chromium()
    if executable is None:
        pytest.fail("Chromium is not installed: `make test` installs it (Debian package chromium)")
    with Browser(executable, tmp_path_factory.mktemp("profile")) as b:
        yield b


@pytest.fixture(scope="module")
def served(site):
    folder, _ = site
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


STATE = """(() => {
  const v = document.getElementById("lecture");
  const buttons = [...document.querySelectorAll("#chapter-list button")];
  return {t: v.currentTime, paused: v.paused, status: document.getElementById("status").textContent,
          current: buttons.findIndex(b => b.getAttribute("aria-current") === "true")};
})()"""

# Resolves once the video stands still (paused, no seek under way): the state then. The bound only stops a hang.
SETTLED = """new Promise((resolve, reject) => {
  const v = document.getElementById("lecture");
  const t0 = performance.now();
  const poll = () => {
    if (v.paused && !v.seeking && v.readyState >= 1) resolve(STATE);
    else if (performance.now() - t0 > 30000) reject(new Error("still playing or seeking at " + v.currentTime));
    else setTimeout(poll, 10);
  };
  poll();
})""".replace("STATE", STATE)

READY = """new Promise((resolve, reject) => {
  const v = document.getElementById("lecture");
  if (v.readyState >= 1) resolve(v.duration);
  v.addEventListener("loadedmetadata", () => resolve(v.duration));
  v.addEventListener("error", () => reject(new Error("video error " + (v.error && v.error.code))));
})"""

# Records everything the video played, and every play event: → must really play, not jump.
RECORD = """(() => {
  const v = document.getElementById("lecture");
  window.__plays = 0;
  v.addEventListener("play", () => { window.__plays += 1; });
  return true;
})()"""

PLAYED = """(() => {
  const r = document.getElementById("lecture").played;
  return Array.from({length: r.length}, (_, i) => [r.start(i), r.end(i)]);
})()"""

FRAME = 1 / FPS
BROWSER = pytest.mark.xdist_group("lesson-browser")  # one Chromium for all of them


def open_presenter(browser, url: str):
    page = browser.page()
    page.goto(url)
    assert page.evaluate(READY) == pytest.approx(3.0, abs=FRAME)
    page.evaluate(RECORD)
    return page


def chapter_buttons(page) -> list[dict]:
    return page.evaluate(
        """[...document.querySelectorAll("#chapter-list button")].map(b => ({
             text: b.textContent, shortcut: b.getAttribute("aria-keyshortcuts"), type: b.type}))"""
    )


@BROWSER
def test_presenter_keys_step_through_the_chapters(browser, served, site):
    _, lesson = site
    page = open_presenter(browser, f"{served}/lesson.html")
    buttons = chapter_buttons(page)
    assert [b["text"] for b in buttons] == [
        "1. The data0:00",
        "2. The model & its <cost>0:01",
        "3. # Descent: ∇ and −λ0:02",
    ]
    assert [b["shortcut"] for b in buttons] == ["1", "2", "3"]
    start = page.evaluate(STATE)
    assert (start["t"], start["paused"], start["current"]) == (0, True, 0)  # no autoplay

    page.press("ArrowRight")  # chapter 1 plays to its end and pauses there
    first = page.evaluate(SETTLED)
    # half a frame before the boundary, on chapter 1's last picture; the next → starts chapter 2
    assert first["paused"] and first["t"] == pytest.approx(1.0 - FRAME / 2, abs=1e-3) and first["current"] == 0
    assert "End of chapter 1. The data" in first["status"]
    page.press("ArrowRight")  # paused at chapter 1's end: → plays chapter 2 to its end (chapter 3's start)
    second = page.evaluate(SETTLED)
    assert second["paused"] and second["t"] == pytest.approx(2.0 - FRAME / 2, abs=1e-3)
    assert second["current"] == 1 and "End of chapter 2." in second["status"]
    assert page.evaluate("window.__plays") == 2
    played = page.evaluate(PLAYED)  # it played the whole way, no jump
    assert played[0][0] == pytest.approx(0.0, abs=FRAME) and played[-1][1] >= 2.0 - FRAME
    assert all(b[0] <= a[1] + FRAME for a, b in zip(played, played[1:], strict=False)), played

    page.press("ArrowLeft")  # at chapter 2's end: back to chapter 2's start
    assert page.evaluate(SETTLED) | {"status": ""} == {"t": 1.0, "paused": True, "current": 1, "status": ""}
    page.press("ArrowLeft")  # at chapter 2's start: back to chapter 1's
    assert page.evaluate(SETTLED)["t"] == 0.0
    page.press("3")  # a digit: that chapter's start, paused
    assert page.evaluate(SETTLED) | {"status": ""} == {"t": 2.0, "paused": True, "current": 2, "status": ""}
    page.press("Home")
    assert page.evaluate(SETTLED)["t"] == 0.0
    page.evaluate('document.getElementById("lecture").currentTime = 1.7')
    assert page.evaluate(SETTLED)["current"] == 1
    page.press("ArrowLeft")  # 0.7 s into chapter 2: back to its own start
    assert page.evaluate(SETTLED)["t"] == 1.0
    page.press("3")
    page.press(" ")  # Space plays like →: the last chapter to the end of the video
    last = page.evaluate(SETTLED)
    assert last["paused"] and last["t"] == pytest.approx(3.0 - FRAME / 2, abs=1e-3) and "last chapter" in last["status"]
    page.press("ArrowRight")  # nothing left to play
    assert page.evaluate(SETTLED)["t"] == pytest.approx(3.0 - FRAME / 2, abs=1e-3)
    assert page.evaluate("window.__plays") == 3
    assert page.errors() == []


@BROWSER
def test_presenter_chapter_buttons_click_and_keys_work_with_focus_anywhere(browser, served):
    page = open_presenter(browser, f"{served}/lesson.html")
    page.click("#chapter-list li:nth-child(2) button")  # a real click: chapter 2's start, paused
    clicked = page.evaluate(SETTLED)
    assert (clicked["t"], clicked["paused"], clicked["current"]) == (1.0, True, 1)
    assert page.evaluate("document.activeElement.textContent").startswith("2. ")
    page.press(" ")  # Space on the focused button plays the chapter (and does not click the button again)
    played = page.evaluate(SETTLED)
    assert (round(played["t"], 3), played["paused"], played["current"]) == (2.0 - FRAME / 2, True, 1)
    # with the focus on the video, the keys are still the page's (not the video controls' own seeking)
    assert page.evaluate('document.getElementById("lecture").focus(), document.activeElement.id') == "lecture"
    page.press("1")
    assert page.evaluate(SETTLED)["t"] == 0.0
    page.press("ArrowRight")
    assert page.evaluate(SETTLED)["t"] == pytest.approx(1.0 - FRAME / 2, abs=1e-3)
    page.press("ArrowLeft")
    assert page.evaluate(SETTLED)["t"] == 0.0
    assert page.errors() == []


@BROWSER
def test_presenter_tracks_load_their_cues(browser, served, site):
    _, lesson = site
    page = open_presenter(browser, f"{served}/lesson.html")
    cues = page.evaluate(
        """(async () => {
          const load = (el) => new Promise((resolve, reject) => {
            if (el.readyState === 2) return resolve();
            el.addEventListener("load", resolve);
            el.addEventListener("error", () => reject(new Error("track failed: " + el.src)));
          });
          const out = {};
          for (const el of document.querySelectorAll("#lecture track")) {
            if (el.track.mode === "disabled") el.track.mode = "hidden";
            await load(el);
            out[el.kind] = [...el.track.cues].map(c => ({id: c.id, start: c.startTime, end: c.endTime,
                                                        text: c.getCueAsHTML().textContent}));
          }
          return out;
        })()"""
    )
    assert cues["captions"] == [
        {"id": str(i), "start": x["start"], "end": x["end"], "text": one_line(x["text"])}
        for i, x in enumerate(lesson["lines"], 1)
    ]
    assert cues["chapters"] == [
        {"id": c["key"], "start": c["start"], "end": c["end"], "text": f"{c['number']}. {c['title']}"}
        for c in lesson["chapters"]
    ]
    transcript = browser.page()
    transcript.goto(f"{served}/lesson.transcript.html")
    assert transcript.evaluate("document.querySelectorAll('main h2').length") == 3
    assert transcript.errors() == [] and page.errors() == []


@BROWSER
def test_presenter_page_works_opened_from_a_file(browser, site):
    folder, lesson = site
    page = open_presenter(browser, (folder / "lesson.html").as_uri())
    assert [b["text"].split("0:0")[0] for b in chapter_buttons(page)] == [
        f"{c['number']}. {c['title']}" for c in lesson["chapters"]
    ]
    page.press("2")
    assert page.evaluate(SETTLED) | {"status": ""} == {"t": 1.0, "paused": True, "current": 1, "status": ""}
    page.press("ArrowRight")
    assert page.evaluate(SETTLED)["t"] == pytest.approx(2.0 - FRAME / 2, abs=1e-3)
    # Chromium does not load a <track> from file://; the page builds the captions from its own data then
    shown = page.evaluate(
        """new Promise(resolve => {
          const poll = () => {
            const t = [...document.getElementById("lecture").textTracks]
              .find(t => t.kind === "captions" && t.mode === "showing");
            if (t && t.cues && t.cues.length) resolve([...t.cues].map(c => c.getCueAsHTML().textContent));
            else setTimeout(poll, 20);
          };
          poll();
        })"""
    )
    assert shown == [one_line(x["text"]) for x in lesson["lines"]]
