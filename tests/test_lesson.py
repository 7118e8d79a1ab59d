"""The lesson end to end: the narration script against numbers computed here with numpy, the real lesson rendered
once (every chapter, its clips, the joined video, captions, chapter marks, the presenter page in headless Chromium
driven by real key presses), ``--chapters`` and ``--script`` through the CLI, bad input, an interrupted render, and
the frame grid faststart_remux puts the timestamps on.

The whole lesson is rendered once per test run, at 480p and 5 fps (about 1000 frames), and the CLI's two-chapter
render once: under ``pytest -n 2`` the first worker to need one builds it under a file lock and the other reuses it.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from descent.cli.main import cli
from descent.lesson import chapter_file, lesson_files, lesson_runs, render_lesson
from descent.outputs.encode import faststart_remux
from descent.outputs.files import read_marker
from descent.scenes.helpers import fmt_num
from descent.scenes.lesson import CHAPTER_SCENES, chapter_frames
from descent.scenes.script import CHAPTERS, Script, beat_frames, lesson_script, reading_seconds, select_chapters
from descent.trainer import Config, Trace, train

from .cdp import Browser, chromium
from .test_lesson_pages import PLAYED, READY, RECORD, SETTLED, STATE, RangeHandler, parse_vtt
from .test_reliability_files import alive, children, digests, env_with_tmp, hidden, kill_all, spawn, wait_for
from .test_reliability_input import run_cli

FPS = 5
# The tests of the two renders (the whole lesson, the CLI's --chapters 1,4 --script) form one xdist group. With
# pytest 9 and pytest-xdist 3.8 the group is not honoured (xdist sets item._nodeid, which pytest 9 no longer reads),
# so each render is also built once per run under a file lock and shared by the workers (see built_once).
RENDER = CLI = pytest.mark.xdist_group("lesson-render")
KEYS = [c.key for c in CHAPTERS]
NUMBER = re.compile(r"−?\d+(?:\.\d+)?(?:e−?\d+)?")


# -- helpers ------------------------------------------------------------------------------------------------
def video_packets(path: Path) -> tuple[list[tuple[int, int, int]], Fraction]:
    """(pts, dts, duration) of every video packet of ``path``, in file order, and the stream's time base."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        packets = [(p.pts, p.dts, p.duration) for p in c.demux(s) if p.dts is not None and p.size]
        return packets, s.time_base


def measured(path: Path) -> tuple[int, float]:
    """Frames and duration (seconds) of ``path``'s video, from its packets as PyAV reads them."""
    packets, tb = video_packets(path)
    start = min(p[0] for p in packets)
    end = max(p[0] + p[2] for p in packets)
    return len(packets), float((end - start) * tb)


def vtt(path: Path) -> list[dict]:
    """The cues of a WebVTT file, each payload joined and unescaped as a player shows it."""
    cues = parse_vtt(path.read_text(encoding="utf-8"))
    for cue in cues:
        cue["text"] = html.unescape(" ".join(cue["payload"]))
    return cues


def one_error_line(r) -> str:
    """The single line a refused command printed (exit 2, no traceback)."""
    err = r.stderr  # a CompletedProcess (text) or a CliRunner result
    code = r.returncode if isinstance(r, subprocess.CompletedProcess) else r.exit_code
    assert code == 2, (code, err, getattr(r, "exception", None))
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error: "), err
    assert "Traceback" not in err
    return lines[0]


def beat_starts(script: Script, keys: list[str], fps: float) -> list[float]:
    """Each line's start in the video of ``keys`` joined: the frames of the beats before it, over fps."""
    out, frames = [], 0
    for key in keys:
        for line in script.chapter(key):
            out.append(frames / fps)
            frames += beat_frames(line.seconds, fps)
    return out


def snapshot(folder: Path) -> tuple[dict, list[str]]:
    return digests(folder), hidden(folder)


def built_once(tmp_path_factory, name: str, build: Callable[[Path], dict]) -> tuple[Path, dict]:
    """``build(folder)`` run once per test run, its folder and returned dict shared by the xdist workers.

    Under xdist the folder is in the run's base folder (shared by its workers only) and a file lock makes the
    others wait for the first; without xdist it is this session's own. A build that failed is not tried again.
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, done = root / f"built-{name}", root / f"built-{name}.json"
    fd = os.open(root / f"built-{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not done.is_file():
            folder.mkdir()
            try:
                info = build(folder)
            except BaseException as exc:
                done.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
                raise
            done.write_text(json.dumps(info))
    finally:
        os.close(fd)
    info = json.loads(done.read_text())
    if "error" in info:
        pytest.fail(f"building {name} failed in another worker: {info['error']}")
    return folder, info


# -- 1. the script builder, against numbers computed here ------------------------------------------------------
def mse(trace: Trace, k: int) -> float:
    return float(np.mean((trace.w[k] * trace.x + trace.b[k] - trace.y) ** 2))


def independent(config: Config) -> dict:
    """What the script must say for ``config``: the runs trained, every number recomputed here with numpy."""
    runs = lesson_runs(config)
    t, fast, wild = runs.traces
    x, y = t.x, t.y
    hessian = 2 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    lam = float(np.linalg.eigvalsh(hessian).max())
    (w_opt, b_opt), *_ = np.linalg.lstsq(np.c_[x, np.ones_like(x)], y, rcond=None)
    l_opt = float(np.mean((w_opt * x + b_opt - y) ** 2))
    return {"runs": runs, "lam": lam, "lr_max": 2 / lam, "opt": (float(w_opt), float(b_opt), l_opt)}


def compare_numbers(t: Trace, other: Trace, l_opt: float, k: int) -> list[str]:
    """rates.compare: the steps each run takes to come within 10 % of the lowest cost, or where each is."""
    level = 1.1 * l_opt
    first = [next((i for i in range(tr.n_states) if mse(tr, i) <= level), None) for tr in (t, other)]
    if None not in first:
        return ["10", str(first[1]), str(first[0])]
    if first != [None, None]:
        near, far = (other, t) if first[1] is not None else (t, other)
        return [str(k), f"{near.config.lr:g}", "10", fmt_num(mse(near, k)), f"{far.config.lr:g}", fmt_num(mse(far, k))]
    return [str(k), f"{other.config.lr:g}", fmt_num(mse(other, k)), fmt_num(mse(t, k)), f"{t.config.lr:g}"]


def expected_numbers(ind: dict) -> dict[str, list[str]]:
    """Every number each line must show, in order, formatted as the lesson formats numbers (fmt_num; lr as :g)."""
    runs = ind["runs"]
    t, fast, wild = runs.traces
    c, f = t.config, fmt_num
    K, n = t.last_k, t.x.size
    w_opt, b_opt, l_opt = ind["opt"]
    k_cmp = min(K, fast.last_k)
    end = [f(t.w[K]), f(t.b[K])]
    diverge = (
        [f"{wild.config.lr:g}", str(wild.diverged_at)]
        if wild.diverged
        else [f"{wild.config.lr:g}", str(wild.last_k), f(mse(wild, 0)), f(mse(wild, wild.last_k))]
    )
    return {
        "data.truth": [f(c.slope), f(abs(c.bias)), f(c.slope), f(c.bias)],
        "data.noise": [str(n), f(float(t.x.min())), f(float(t.x.max())), f(c.noise)],
        "data.task": [],
        "model.guess": [f(t.w[0]), f(t.b[0])],
        "model.residuals": [],
        "model.squares": [],
        "model.mse": [f(mse(t, 0))],
        "surface.every": [],
        "surface.start": [f(mse(t, 0))],
        "surface.bottom": [f(w_opt), f(b_opt), f(l_opt, 3)],
        "surface.map": [],
        "training.gradient": [],
        "training.rule": [f"{c.lr:g}"],
        "training.first": [f(mse(t, 0)), f(mse(t, 1))],
        "training.early": [str(min(3, K)), f(mse(t, 0)), f(mse(t, min(3, K)))],
        "training.end": [str(K), *end, f(mse(t, K))],
        "rates.faster": [f"{fast.config.lr:g}", f"{c.lr:g}"],
        "rates.compare": compare_numbers(t, fast, l_opt, k_cmp),
        "rates.limit": [f(ind["lam"]), "2", f(ind["lr_max"], 3)],
        "rates.diverge": diverge,
        "summary.fit": [f"{c.lr:g}", str(K), *end, f(w_opt), f(b_opt)],
        "summary.learned": ["2"],
    }


@pytest.fixture(scope="module")
def lab() -> dict:
    return independent(Config())


@pytest.fixture(scope="module")
def other() -> dict:
    return independent(Config(lr=0.05, slope=2.0))


@pytest.mark.parametrize("which", ["lab", "other"])
def test_every_number_of_the_script_is_the_runs_own(which, request):
    ind = request.getfixturevalue(which)
    script = lesson_script(ind["runs"])
    want = expected_numbers(ind)
    assert script.ids == list(want)  # every beat, in order, and no other
    for line in script.lines:
        assert NUMBER.findall(line.text) == want[line.id], line
        assert line.chapter == line.id.partition(".")[0] and line.seconds == reading_seconds(line.text)
    assert [ln.chapter for ln in script.lines] == sorted((ln.chapter for ln in script.lines), key=KEYS.index)


def test_the_script_says_the_labs_story(lab):
    """The sentences the lab's numbers sit in (the issue's own example among them)."""
    script = lesson_script(lab["runs"])
    t = lab["runs"].main
    l0, l3 = fmt_num(mse(t, 0)), fmt_num(mse(t, 3))
    assert script.line("training.early").text == f"After 3 steps the loss has fallen from {l0} to {l3}."
    assert f"lr_max = 2 / λ_max = {fmt_num(lab['lr_max'], 3)}" in script.line("rates.limit").text
    assert "learning rate of 0.2 instead of 0.1" in script.line("rates.faster").text


def test_the_three_runs_share_one_config_only_lr_varying(lab, other):
    for ind, faster in ((lab, 0.2), (other, 0.1)):
        main, fast, wild = ind["runs"].traces
        assert fast.config.lr == pytest.approx(2 * main.config.lr) and fast.config.lr == faster
        assert wild.config.lr > ind["lr_max"] > fast.config.lr > main.config.lr
        for t in (fast, wild):
            assert t.config.replace(lr=main.config.lr) == main.config
            np.testing.assert_array_equal(t.x, main.x)
            np.testing.assert_array_equal(t.y, main.y)
            assert (t.w[0], t.b[0]) == (main.w[0], main.b[0])
        assert main.lr_max == pytest.approx(ind["lr_max"], rel=1e-12)


def test_another_config_changes_the_numbers_and_keeps_the_ids(lab, other):
    a, b = lesson_script(lab["runs"]), lesson_script(other["runs"])
    assert a.ids == b.ids and len(set(a.ids)) == len(a.ids)
    assert a.line("data.truth").text != b.line("data.truth").text
    assert "f(x) = 2·x − 1" in b.line("data.truth").text and "learning rate, 0.05," in b.line("training.rule").text
    assert a.line("model.mse").text != b.line("model.mse").text  # other data, another first cost
    assert lesson_script(lab["runs"]) == a  # the same runs, the same script


def test_one_step_is_said_in_the_singular():
    """With --steps 1 every line says "1 step" (rates.compare and rates.diverge once said "1 steps")."""
    script = lesson_script(lesson_runs(Config(steps=1)))
    assert "After 1 step, w = " in script.line("training.end").text  # the lines that get it right
    assert [ln.id for ln in script.lines if re.search(r"\b1 steps\b", ln.text)] == []


def test_script_command_prints_the_builders_script():
    runner = CliRunner()
    r = runner.invoke(cli, ["script", "lesson", "--lr", "0.05", "--slope", "2", "--chapters", "1,training"])
    assert r.exit_code == 0, r.output
    printed = json.loads(r.stdout)
    full = lesson_script(lesson_runs(Config(lr=0.05, slope=2.0)))
    assert printed["lines"] == [ln.to_dict() for ln in full.lines if ln.chapter in ("data", "training")]
    md = runner.invoke(cli, ["script", "lesson", "--format", "md"])
    assert md.exit_code == 0
    headings = [row for row in md.stdout.splitlines() if row.startswith("## ")]
    assert headings == [f"## {c.number}. {c.title}" for c in CHAPTERS]
    assert all(ln.text in md.stdout for ln in lesson_script(lesson_runs()).lines)


# -- the whole lesson, rendered once ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def lesson(tmp_path_factory) -> dict:
    """The whole lesson, rendered with the Python API (the lab's config)."""

    def build(out: Path) -> dict:
        result = render_lesson(None, quality="l", fps=FPS, out_dir=out, jobs=2, progress=False)
        return {"paths": [str(p) for p in result.paths], "frames": result.frames}

    out, info = built_once(tmp_path_factory, "lesson", build)
    meta = json.loads((out / "lesson.json").read_text(encoding="utf-8"))
    return {"out": out, "result": info, "meta": meta, "script": lesson_script(lesson_runs())}


@RENDER
def test_the_set_is_complete_and_nothing_else_is_left(lesson):
    out = lesson["out"]
    names = lesson_files("lesson", CHAPTERS)
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no work folder, no lock note, nothing else
    assert all((out / n).stat().st_size > 0 for n in names)
    assert [Path(p).name for p in lesson["result"]["paths"]] == names
    assert all(Path(p).parent == out for p in lesson["result"]["paths"])
    assert lesson["result"]["frames"] == lesson["meta"]["video"]["frames"]
    assert lesson["meta"]["script"] == lesson["script"].to_dict()


@RENDER
@pytest.mark.parametrize("key", KEYS)
def test_each_chapter_clip_has_its_beats_frames(lesson, key):
    chapter = next(c for c in CHAPTERS if c.key == key)
    frames, _ = measured(lesson["out"] / f"{chapter_file('lesson', chapter)}.mp4")
    assert frames == sum(chapter_frames(lesson["script"], key, FPS))
    scene = type("Probe", (CHAPTER_SCENES[key],), {"runs": lesson_runs()})
    assert scene.planned_frames(fps=FPS) == frames


@RENDER
def test_chapters_are_the_clips_cumulative_durations(lesson):
    out, meta = lesson["out"], lesson["meta"]
    clips = [measured(out / f"{chapter_file('lesson', c)}.mp4") for c in CHAPTERS]
    joined_frames, joined_seconds = measured(out / "lesson.mp4")
    assert joined_frames == sum(f for f, _ in clips) == meta["video"]["frames"]
    bounds = np.cumsum([0.0] + [s for _, s in clips])
    chapters = meta["lesson"]["chapters"]
    assert [(c["number"], c["key"], c["title"], c["file"]) for c in chapters] == [
        (c.number, c.key, c.title, f"{chapter_file('lesson', c)}.mp4") for c in CHAPTERS
    ]
    for ch, start, end in zip(chapters, bounds[:-1], bounds[1:], strict=True):
        assert ch["start"] == pytest.approx(start, abs=1e-6) and ch["end"] == pytest.approx(end, abs=1e-6), ch
    assert chapters[-1]["end"] == pytest.approx(joined_seconds, abs=1 / FPS)
    assert meta["lesson"]["video"]["duration"] == pytest.approx(joined_seconds, abs=1 / FPS)
    # the chapters track says the same
    cues = vtt(out / "lesson.chapters.vtt")
    assert [(c["id"], c["text"]) for c in cues] == [(c.key, f"{c.number}. {c.title}") for c in CHAPTERS]
    for cue, ch in zip(cues, chapters, strict=True):
        assert (cue["start"], cue["end"]) == (pytest.approx(ch["start"], abs=5e-4), pytest.approx(ch["end"], abs=5e-4))


@RENDER
def test_mp4_chapter_marks_match_the_chapters_track(lesson):
    out = lesson["out"]
    cues = vtt(out / "lesson.chapters.vtt")
    with av.open(str(out / "lesson.mp4")) as c:
        marks = c.chapters()
    assert [m["metadata"]["title"] for m in marks] == [cue["text"] for cue in cues]
    for mark, cue, ch in zip(marks, cues, lesson["meta"]["lesson"]["chapters"], strict=True):
        start, end = float(mark["start"] * mark["time_base"]), float(mark["end"] * mark["time_base"])
        # rounded up to the millisecond: inside the chapter's first frame, never in the frame before
        assert 0 <= start - cue["start"] <= 1e-3 and ch["start"] <= start < ch["start"] + 1 / FPS, (mark, cue)
        assert abs(end - cue["end"]) <= 1e-3, (mark, cue)


@RENDER
def test_captions_are_the_script_one_cue_per_line_timed_to_the_beats(lesson):
    out, script = lesson["out"], lesson["script"]
    cues = vtt(out / "lesson.vtt")
    assert [c["text"] for c in cues] == [ln.text for ln in script.lines]
    starts = beat_starts(script, KEYS, FPS)
    _, duration = measured(out / "lesson.mp4")
    chapters = {c["key"]: c for c in lesson["meta"]["lesson"]["chapters"]}
    for i, (cue, line, start) in enumerate(zip(cues, script.lines, starts, strict=True)):
        assert cue["start"] == pytest.approx(start, abs=5e-4), line.id
        assert cue["end"] == pytest.approx(start + beat_frames(line.seconds, FPS) / FPS, abs=5e-4), line.id
        assert 0 <= cue["start"] < cue["end"] <= duration + 5e-4
        ch = chapters[line.chapter]
        assert ch["start"] - 5e-4 <= cue["start"] and cue["end"] <= ch["end"] + 5e-4, line.id
        if i:
            assert cue["start"] >= cues[i - 1]["end"] - 5e-4  # in order, never overlapping
    lines = lesson["meta"]["lesson"]["lines"]
    assert [(x["id"], x["text"]) for x in lines] == [(ln.id, ln.text) for ln in script.lines]


# -- the presenter page of the real lesson, in headless Chromium -----------------------------------------------
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = chromium()
    if executable is None:
        pytest.fail("Chromium is not installed: `make test` installs it (Debian package chromium)")
    with Browser(executable, tmp_path_factory.mktemp("profile")) as b:
        yield b


@pytest.fixture(scope="module")
def served(lesson):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(lesson["out"])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


CUES = """(async () => {
  const el = document.getElementById("captions");
  if (el.track.mode === "disabled") el.track.mode = "hidden";
  if (el.readyState !== 2) await new Promise((resolve, reject) => {
    el.addEventListener("load", resolve);
    el.addEventListener("error", () => reject(new Error("captions failed to load")));
  });
  return [...el.track.cues].map(c => c.getCueAsHTML().textContent);
})()"""


@RENDER
def test_presenter_page_of_the_real_lesson_with_real_keys(lesson, browser, served):
    chapters = lesson["meta"]["lesson"]["chapters"]
    page = browser.page()
    page.goto(f"{served}/lesson.html")
    assert page.evaluate(READY) == pytest.approx(chapters[-1]["end"], abs=1 / FPS)
    titles = page.evaluate('[...document.querySelectorAll("#chapter-list button .title")].map(b => b.textContent)')
    assert titles == [f"{c['number']}. {c['title']}" for c in chapters]
    assert page.evaluate(CUES) == [ln.text for ln in lesson["script"].lines]
    start = page.evaluate(STATE)
    assert (start["t"], start["paused"]) == (0, True)
    # the chapters are 30 s long: play them 16 times faster (the page's stop at a chapter's end is what is tested)
    page.evaluate(RECORD)
    page.evaluate('document.getElementById("lecture").playbackRate = 16')
    page.press("ArrowRight")
    first = page.evaluate(SETTLED)
    assert first["paused"] and first["t"] == pytest.approx(chapters[1]["start"], abs=1 / FPS), first
    page.press("ArrowRight")
    second = page.evaluate(SETTLED)
    assert second["paused"] and second["t"] == pytest.approx(chapters[2]["start"], abs=1 / FPS), second
    # half a frame before chapter 3 starts: on chapter 2's last picture (not chapter 3's dark first one)
    assert second["t"] == pytest.approx(chapters[1]["end"] - 0.5 / FPS, abs=1e-3), second
    assert second["current"] == 1 and "End of chapter 2." in second["status"]
    assert page.evaluate("window.__plays") == 2  # each → played its chapter
    # and played them through, no jump: at 16 times the speed the video may stop up to a screen refresh (16 ms, a
    # quarter of a second of video) before the chapter's end, then the page seeks to that end exactly
    played = page.evaluate(PLAYED)
    assert played[0][0] == pytest.approx(0.0, abs=1 / FPS)
    assert all(b[0] <= a[1] + 0.5 for a, b in zip(played, played[1:], strict=False)), played
    assert played[-1][1] >= chapters[2]["start"] - 0.5, played
    page.press("6")
    assert page.evaluate(SETTLED)["t"] == pytest.approx(chapters[5]["start"], abs=1 / FPS)
    assert page.errors() == []


# -- --chapters and --script through the CLI --------------------------------------------------------------------
LONGER = (
    "Only these points are shown to the learner, never the line itself: from them alone it must find w and b "
    "again, as close as the noise of 0.1 allows — “close” meaning a cost <near> the lowest & no lower."
)


@pytest.fixture(scope="session")
def edited_script(tmp_path_factory) -> tuple[Path, Script]:
    """The lab's script as `descent script lesson` prints it, with the line data.task reworded, longer."""
    r = CliRunner().invoke(cli, ["script", "lesson"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    (task,) = [x for x in d["lines"] if x["id"] == "data.task"]
    task["text"] = LONGER
    path = tmp_path_factory.mktemp("script") / "edited script.json"
    path.write_text(json.dumps(d, ensure_ascii=False, indent=1), encoding="utf-8")
    return path, Script.load(path)


@pytest.fixture(scope="session")
def two_chapters(tmp_path_factory, edited_script) -> dict:
    """`descent render lesson --chapters 1,4 --script FILE --name talk` in its own process."""

    def build(out: Path) -> dict:
        args = ["render", "lesson", "-q", "l", "--fps", str(FPS), "--chapters", "1,4", "--jobs", "2", "--quiet"]
        args += ["--script", str(edited_script[0]), "--name", "talk", "--out-dir", str(out / "site")]
        r = subprocess.run([sys.executable, "-m", "descent", *args], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        return {"stdout": r.stdout}

    out, info = built_once(tmp_path_factory, "two-chapters", build)
    meta = json.loads((out / "site" / "talk.json").read_text(encoding="utf-8"))
    script = lesson_script(lesson_runs()).reworded(edited_script[1])
    return {"out": out / "site", "meta": meta, "script": script, "stdout": info["stdout"]}


@CLI
def test_chapters_1_4_publish_only_those(two_chapters):
    out, meta, script = two_chapters["out"], two_chapters["meta"], two_chapters["script"]
    chosen = select_chapters("1,4")
    assert sorted(p.name for p in out.iterdir()) == sorted(lesson_files("talk", chosen))
    assert [p.name for p in out.glob("talk_*.mp4")] and sorted(p.name for p in out.glob("talk_*.mp4")) == [
        "talk_01_data.mp4",
        "talk_04_training.mp4",
    ]
    clips = [measured(out / f"talk_{n}.mp4") for n in ("01_data", "04_training")]
    assert [f for f, _ in clips] == [sum(chapter_frames(script, k, FPS)) for k in ("data", "training")]
    frames, duration = measured(out / "talk.mp4")
    assert frames == sum(f for f, _ in clips) == meta["video"]["frames"]
    cues = vtt(out / "talk.chapters.vtt")
    assert [(c["id"], c["text"]) for c in cues] == [("data", "1. The data"), ("training", "4. Training")]
    assert [c["start"] for c in cues] == [0.0, pytest.approx(clips[0][1], abs=5e-4)]
    assert cues[-1]["end"] == pytest.approx(duration, abs=1 / FPS)
    assert [c["number"] for c in meta["lesson"]["chapters"]] == [1, 4] and meta["render"]["chapters"] == [1, 4]
    printed = [row.removeprefix("wrote ") for row in two_chapters["stdout"].splitlines() if row.startswith("wrote ")]
    assert sorted(Path(p).name for p in printed) == sorted(lesson_files("talk", chosen))


@RENDER
def test_a_chapter_rendered_alone_is_the_same_chapter(two_chapters, lesson):
    """Chapter 4 alone (its script unchanged) shows the pictures it shows in the whole lesson."""

    def pictures(path: Path) -> np.ndarray:
        with av.open(str(path)) as c:
            return np.stack([f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)])

    alone = pictures(two_chapters["out"] / "talk_04_training.mp4")
    whole = pictures(lesson["out"] / "lesson_04_training.mp4")
    assert alone.shape == whole.shape
    assert np.abs(alone - whole).mean() < 1.0


def chapter_frame(key: str, runs, theme: str, index: int, folder: Path) -> np.ndarray:
    """Frame ``index`` (negative: from the end) of chapter ``key`` at 480p and 2 fps, the only one drawn (RGB).

    (Not smaller: Manim typesets a Text on a canvas of the frame's pixel size, and a narrower one cuts
    off the end of a long text, such as the glyph probe of :mod:`descent.scenes.glyphs`.)"""
    from manim import tempconfig

    from descent.outputs.clip import _manim_defaults
    from descent.outputs.renderer import ProgressRenderer
    from descent.scenes.theme import THEMES

    base = CHAPTER_SCENES[key]
    cls = type(base.__name__, (base,), {"runs": runs, "theme": theme})
    settings = {
        "media_dir": str(folder / "media"),
        "pixel_width": 854,
        "pixel_height": 480,
        "frame_rate": 2,
        "disable_caching": True,
        "progress_bar": "none",
        "verbosity": "ERROR",
        "write_to_movie": False,
        "format": "none",
        "background_color": THEMES[theme].background,
    }
    with tempconfig(_manim_defaults()), tempconfig(settings):
        total = cls.planned_frames(None, 2)
        at = index % total
        renderer = ProgressRenderer(
            total_frames=total, progress=False, camera_class=getattr(cls, "CAMERA_CLASS", None), keep={at}
        )
        try:
            cls(renderer=renderer).render()
        finally:
            renderer.close()
        return renderer.kept[at][..., :3].astype(np.int16)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_the_surface_chapter_ends_on_the_picture_the_training_chapter_opens_on(theme, tmp_path):
    """The 3-D chapter turns to look straight down and fades into chapter 4's contour map (its colours,
    labels, contours): its last frame is chapter 4's first, so the seam reads as one picture."""
    from descent.scenes.fit import fit_layout

    runs = lesson_runs()
    last = chapter_frame("surface", runs, theme, -1, tmp_path)
    first = chapter_frame("training", runs, theme, 0, tmp_path)
    # the map's area, in pixels (854×480 for a 14.22×8 frame)
    box = fit_layout()["contour"]
    x0, x1 = (int((x / (8 * 854 / 480) + 0.5) * 854) for x in (box.left, box.right))
    y0, y1 = (int((0.5 - y / 8) * 480) for y in (box.top, box.bottom))
    area = first[y0:y1, x0:x1]
    drawn = float((np.abs(area - first[0, 0]).max(axis=2) > 8).mean())
    assert drawn > 0.1, f"chapter 4 opens without its map ({drawn:.0%} of its area drawn)"
    on_map = float(np.abs(last[y0:y1, x0:x1] - area).mean())
    assert on_map < 2.0, f"the map's area differs by {on_map:.1f} levels across the seam"  # the same colours
    anywhere = float(np.abs(last - first).mean())
    assert anywhere < 1.0, f"the frames differ by {anywhere:.1f} levels across the seam"  # and nothing else


@CLI
def test_the_reworded_line_is_shown_and_its_beat_is_longer(two_chapters, edited_script):
    out, script = two_chapters["out"], two_chapters["script"]
    lab = lesson_script(lesson_runs())
    cues = vtt(out / "talk.vtt")
    wanted = [ln for ln in script.lines if ln.chapter in ("data", "training")]
    assert [c["text"] for c in cues] == [ln.text for ln in wanted]
    i = [ln.id for ln in wanted].index("data.task")
    assert cues[i]["text"] == LONGER
    old, new = lab.line("data.task"), script.line("data.task")
    assert new.seconds == max(old.seconds, reading_seconds(LONGER)) > old.seconds
    assert beat_frames(new.seconds, FPS) > beat_frames(old.seconds, FPS)
    length = cues[i]["end"] - cues[i]["start"]
    assert length == pytest.approx(beat_frames(new.seconds, FPS) / FPS, abs=1e-3)
    assert length > beat_frames(old.seconds, FPS) / FPS
    assert [c["start"] for c in cues] == [
        pytest.approx(s, abs=5e-4) for s in beat_starts(script, ["data", "training"], FPS)
    ]
    assert LONGER in (out / "talk.transcript.md").read_text(encoding="utf-8").replace("\\", "")
    assert two_chapters["meta"]["script"]["lines"][2]["text"] == LONGER


# -- refused input: one line, exit 2, nothing written -------------------------------------------------------
@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """An output folder holding a user's file, as the working directory."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    return out


def refused(folder: Path, args: list[str], needle: str) -> None:
    before = snapshot(folder)
    r = CliRunner().invoke(cli, [*args, "--out-dir", str(folder), "-q", "l", "--fps", str(FPS)])
    assert needle in one_error_line(r)
    assert snapshot(folder) == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["out"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--chapters", "9"], "unknown chapter '9'"),
        (["--chapters", "foo"], "unknown chapter 'foo'"),
        (["--chapters", "0"], "unknown chapter '0'"),
        (["--chapters", ","], "no chapter"),
        (["--lr", "0.5"], "lr_max"),
        (["--lr", "0.34"], "lr_max"),
        (["--optimizer", "adam"], "plain full-batch"),
        (["--batch-size", "4"], "plain full-batch"),
        (["--show", "gradient"], "--show"),
        (["--trace", "x.json"], "--trace"),
        (["--lr", "0.1", "--lr", "0.2"], "one --lr"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_bad_lesson_input_is_one_line_and_writes_nothing(folder, args, needle):
    refused(folder, ["render", "lesson", *args], needle)


def test_chapters_is_not_an_option_of_fit(folder):
    refused(folder, ["render", "fit", "--chapters", "1"], "--chapters")


@pytest.fixture
def scripts(tmp_path) -> dict[str, Path]:
    """Script files that must be refused, next to the output folder."""
    good = lesson_script(lesson_runs()).to_dict()
    d = tmp_path / "scripts"
    d.mkdir()

    def write(name: str, data) -> Path:
        path = d / name
        path.write_bytes(data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode())
        return path

    unknown = json.loads(json.dumps(good))
    unknown["lines"][1]["id"] = "data.nonsense"
    twice = json.loads(json.dumps(good))
    twice["lines"].insert(2, twice["lines"][1])
    latin = json.dumps(good, ensure_ascii=False).replace("Everything", "Évery").encode("latin-1", "replace")
    return {
        "unknown id": write("unknown.json", unknown),
        "duplicated id": write("twice.json", twice),
        "bad JSON": write("bad.json", b'{"lines": [{"id": "data.task", '),
        "not UTF-8": write("latin.json", latin),
        "a directory": d,
        "/dev/zero": Path("/dev/zero"),
    }


@pytest.mark.parametrize(
    ("which", "needle"),
    [
        ("unknown id", "unknown line id 'data.nonsense'"),
        ("duplicated id", "'data.noise' appears twice"),
        ("bad JSON", "not JSON"),
        ("not UTF-8", "not UTF-8"),
        ("a directory", "directory"),
        ("/dev/zero", "/dev/zero"),
    ],
)
def test_a_bad_script_file_is_one_line_and_writes_nothing(folder, scripts, which, needle):
    before = snapshot(folder)
    args = ["render", "lesson", "-q", "l", "--fps", str(FPS), "--chapters", "1", "--script", str(scripts[which])]
    if which == "/dev/zero":  # its own process, its memory capped: a regression reading it whole fails, not hangs
        r = run_cli([*args, "--out-dir", str(folder)], cwd=folder.parent, timeout=120)
    else:
        r = CliRunner().invoke(cli, [*args, "--out-dir", str(folder)])
    assert needle in one_error_line(r)
    assert snapshot(folder) == before


# -- an interrupted render ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_an_interrupted_lesson_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    before = snapshot(out)
    env = env_with_tmp(tmp_path)
    main = spawn(["render", "lesson", "-q", "l", "--fps", str(FPS), "--jobs", "2", "--out-dir", str(out)], env=env)
    workers: list[int] = []
    seen: list[str] = []
    try:
        for row in main.stderr:  # the first chapter is done; five are still rendering
            seen.append(row)
            if row.strip().startswith("chapter "):
                break
        assert seen and seen[-1].strip().startswith("chapter lesson_"), seen
        workers = children(main.pid)
        main.send_signal(signal.SIGINT)
        stdout, err = main.communicate(timeout=120)
        assert main.returncode == 130, (seen, err)
        assert err.strip().splitlines()[-1] == (
            "descent: interrupted; nothing was published and nothing was left under a final name"
        )
        assert "wrote" not in stdout
        wait_for(lambda: not any(alive(p) for p in workers), 30, "the chapter workers to stop")
    finally:
        kill_all([main.pid, *workers])
        main.wait(timeout=30)
    assert snapshot(out) == before  # no new final-named file, no work folder, no lock note
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    # the workers are stopped by SIGTERM, so Manim's scratch folders may stay in TMPDIR: each must be provably
    # descent's and its owner gone, so that the next render's sweep removes it
    for scratch in (tmp_path / "tmp").glob(".descent-work-*"):
        marker = read_marker(scratch)
        if marker is None:  # a worker killed between creating the folder and writing its marker (a known limit):
            # nothing of a render can be in it yet, and descent leaves it, as it cannot prove it is its own
            assert all(f.is_file() and f.stat().st_size == 0 for f in scratch.iterdir()), list(scratch.iterdir())
            continue
        assert not alive(marker["pid"]), scratch


# -- faststart_remux puts every frame on the grid ---------------------------------------------------------------
def jittered_clip(path: Path, frames: int = 24, fps: int = 10, gap: int = 5) -> tuple[int, list[np.ndarray]]:
    """An H.264 mp4 (libx264, B-frames) whose frames from the middle on come ``gap`` ticks early, as at a seam
    Manim's concat leaves; returns the ticks per frame and the pictures encoded."""
    tb = Fraction(1, 10240)
    step = int(1 / (fps * tb))
    pictures = []
    with av.open(str(path), "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23"}
        s.time_base = tb
        packets = []
        for i in range(frames):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:, : 2 + 2 * i] = (200, 40 + 8 * i, 90)  # a bar that grows: every frame is another picture
            pictures.append(img)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            packets += s.encode(frame)
        packets += s.encode()
        mid = frames // 2

        def ticks(t: int) -> int:  # t in the stream's time base as the encoder gave it
            k = round(t / step)
            return k * step - (gap if k >= mid else 0)

        for p in packets:
            p.pts, p.dts = ticks(round(p.pts * p.time_base / tb)), ticks(round(p.dts * p.time_base / tb))
            p.time_base = tb
            out.mux(p)
    return step, pictures


def decoded_pictures(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_faststart_remux_puts_a_seams_jitter_back_on_the_frame_grid(tmp_path):
    src, dst = tmp_path / "jitter.mp4", tmp_path / "grid.mp4"
    step, _ = jittered_clip(src)
    packets, tb = video_packets(src)
    assert tb == Fraction(1, 10240)
    steps = np.diff(sorted(p[0] for p in packets))
    assert set(steps.tolist()) == {step, step - 5}  # the jitter is there to begin with
    faststart_remux(src, dst)
    out, out_tb = video_packets(dst)
    assert len(out) == len(packets) == 24
    assert set(np.diff(sorted(p[0] for p in out)).tolist()) == {round(step * tb / out_tb)}
    assert all(dts <= pts for pts, dts, _ in out) and all(b[1] > a[1] for a, b in zip(out, out[1:], strict=False))
    before, after = decoded_pictures(src), decoded_pictures(dst)
    assert len(after) == len(before) == 24
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_near_lr_max_the_lesson_compares_with_half_the_rate():
    """Twice a rate near lr_max would oscillate or diverge: the comparison halves it instead (it was
    (lr + lr_max) / 2 = 0.331505 against 0.33, printed to six digits, and called "the larger rate")."""
    ind = independent(Config(lr=0.33))
    t, other, wild = ind["runs"].traces
    assert 2 * 0.33 >= 0.95 * ind["lr_max"] and other.config.lr == pytest.approx(0.165)
    script = lesson_script(ind["runs"])
    assert "learning rate of 0.165 instead of 0.33" in script.line("rates.faster").text
    want = compare_numbers(t, other, ind["opt"][2], min(t.last_k, other.last_k))
    assert NUMBER.findall(script.line("rates.compare").text) == want
    assert wild.config.lr > ind["lr_max"]


def test_the_run_above_lr_max_is_told_by_its_own_numbers():
    """From a start near the minimum the run above lr_max first falls, then grows: the line said
    "the cost grows from 80.8 to 4.471" (a fall) before it read the numbers."""
    runs = lesson_runs(Config(w0=1.01, b0=-10, steps=5))
    wild = runs.diverging
    text = lesson_script(runs).line("rates.diverge").text
    k_low = int(np.argmin([mse(wild, k) for k in range(wild.n_states)]))
    assert 0 < k_low < wild.last_k
    assert f"falls to {fmt_num(mse(wild, k_low))} at step {k_low}" in text
    assert f"grows to {fmt_num(mse(wild, wild.last_k))} by step {wild.last_k}" in text


def test_runs_given_as_traces_must_bear_out_what_the_lesson_says():
    from descent.scenes.script import LessonRuns, ScriptError

    main, fast, _wild = lesson_runs(Config()).traces
    below = train(Config(lr=0.3))  # a "diverging" run below lr_max would be narrated "above that limit"
    with pytest.raises(ScriptError, match="one above it"):
        LessonRuns.from_traces([main, fast, below])
    with pytest.raises(ScriptError, match="three traces"):
        LessonRuns.from_traces([main, fast])


def test_short_runs_do_not_tell_the_same_step_twice():
    for steps in (1, 3):
        ids = lesson_script(lesson_runs(Config(steps=steps))).ids
        assert "training.early" not in ids and {"training.first", "training.end"} <= set(ids)
    assert "training.early" in lesson_script(lesson_runs(Config(steps=4))).ids


def _texts(*mobjects) -> list[str]:
    """The text of every Text in the families of ``mobjects`` (what the viewer reads)."""
    out = []
    for mob in mobjects:
        for m in mob.get_family():
            text = getattr(m, "original_text", None)
            if isinstance(text, str):
                out.append(text.replace("\u2009", " "))
    return out


def test_the_numbers_on_screen_are_the_runs_own(lab):
    """What each chapter writes on screen (beside the panels, which have their own tests) against numpy:
    the first guess and its MSE, the callouts on the surface, lr_max = 2/λ_max, the summary table."""
    from descent.scenes.lesson import ModelChapter, RatesChapter, SummaryChapter, SurfaceChapter

    runs = lab["runs"]
    t, fast, wild = runs.traces
    w_opt, b_opt, l_opt = lab["opt"]
    f = fmt_num

    def built(cls):
        scene = type("Probe", (cls,), {"runs": runs, "script": lesson_script(runs)})()
        scene.setup()
        return scene

    model = built(ModelChapter)
    assert NUMBER.findall(" ".join(_texts(model.fit_label))) == [f(t.w[0]), f(t.b[0])]
    assert f"MSE = {f(mse(t, 0))}" in _texts(model.mean_label)
    # the bars are the squared residuals at the first guess, and the dashed line their mean
    heights = [bar.height for bar in model.bars]
    want = (t.w[0] * t.x + t.b[0] - t.y) ** 2
    unit = model.bar_ax.c2p(0, 1.0)[1] - model.bar_ax.c2p(0, 0.0)[1]  # screen height of 1 on the bar axis
    assert np.allclose(heights, want * unit, rtol=1e-6, atol=1e-3)  # a bar of ~0 is drawn 0.001 tall
    assert model.mean_line.get_center()[1] == pytest.approx(model.bar_ax.c2p(0, mse(t, 0))[1], abs=1e-9)

    surface = built(SurfaceChapter)
    assert f"first guess  L = {f(mse(t, 0))}" in _texts(surface.start_label)
    assert NUMBER.findall(" ".join(_texts(surface.best_label))) == [f(w_opt), f(b_opt), f(l_opt, 3)]

    rates = built(RatesChapter)
    shown = " ".join(_texts(rates.limit))
    assert f"λ_max = {f(lab['lam'])}" in shown and f"lr_max = {f(lab['lr_max'], 3)}" in shown
    assert all(f"lr {r.config.lr:g}" in shown for r in runs.traces)

    summary = built(SummaryChapter)
    table = " ".join(_texts(summary.table))
    for r in runs.traces:
        k = r.last_k
        assert f"lr {r.config.lr:g}" in table
        for v in (f(r.w[k]), f(r.b[k]), f(mse(r, k))):
            assert v in table, (v, table)
    for v in (f(w_opt), f(b_opt), f(l_opt, 3), f(lab["lr_max"], 3)):
        assert v in table


def test_a_smaller_set_removes_the_previous_sets_other_chapters_and_names_are_not_taken_over(tmp_path):
    """--chapters 1,6 then --chapters 1 into one folder: the second set's files, and no stale chapter 6
    (it was left under its final name, describing another set); a lesson never takes over another kind
    of set's files, nor a clip a lesson's."""
    out = tmp_path / "out"
    base = ["render", "lesson", "-q", "l", "--fps", str(FPS), "--out-dir", str(out), "--quiet"]
    r = CliRunner().invoke(cli, [*base, "--chapters", "1,6"])
    assert r.exit_code == 0, r.stderr
    assert (out / "lesson_06_summary.mp4").exists()
    r = CliRunner().invoke(cli, [*base, "--chapters", "1"])
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        lesson_files("lesson", select_chapters("1"))
    )
    # a file the user keeps, a clip, the batch's names: refused before anything is rendered
    (out / "notes.html").write_text("<p>mine</p>")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for name in ("notes", "index", "manifest"):
        r = CliRunner().invoke(cli, [*base, "--chapters", "1", "--name", name])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
    r = CliRunner().invoke(cli, ["render", "fit", "-q", "l", "--fps", "5", "--out-dir", str(out), "--name", "lesson"])
    assert r.exit_code == 2 and "descent.lesson/1" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_odd_chapter_and_script_input_is_one_line(tmp_path):
    from descent.scenes.script import Script, ScriptError

    for spec in ("²", "١", "1.5", "-1"):
        with pytest.raises(ScriptError, match="unknown chapter"):
            select_chapters(spec)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ScriptError, match="not a script"):
        Script.load(deep)
    # a script printed for one config does not narrate another
    lab = lesson_script(lesson_runs(Config()))
    other = lesson_script(lesson_runs(Config(lr=0.05)))
    with pytest.raises(ScriptError, match="lr = 0.1"):
        other.reworded(Script.from_dict(lab.to_dict()))
