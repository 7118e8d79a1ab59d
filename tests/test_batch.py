"""descent batch: a parallel sweep, resumable, fault-isolated, with a comparison and a gallery."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import pytest
from click.testing import CliRunner

from descent.batch import FAULT_ENV, lr_range
from descent.cli.main import cli

from .test_render import probe

QUICK = ["-q", "l", "--fps", "10", "--duration", "1", "--quiet"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One real sweep (two workers), reused by the tests below and by the browser test."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    r = CliRunner().invoke(
        cli,
        [
            "batch",
            "--lr",
            "0.1",
            "--lr",
            "0.2",
            "--lr",
            "0.5",
            "--steps",
            "12",
            "--webm",
            "--gif",
            "--gif-max-mb",
            "2",
            "--jobs",
            "2",
            "--out-dir",
            str(out),
            *QUICK,
        ],
    )
    assert r.exit_code == 0, r.output
    return out, r.output


def test_sweep_writes_every_file(sweep):
    out, output = sweep
    for stem in ("fit_lr0.1", "fit_lr0.2", "fit_lr0.5", "compare_lrs"):
        for ext in ("mp4", "png", "json", "vtt", "webm", "gif"):
            assert (out / f"{stem}.{ext}").is_file(), f"{stem}.{ext}"
        mp4 = probe(out / f"{stem}.mp4")
        assert mp4["fps"] == 10
        # the WebM and the GIF last as long as the mp4
        for ext in ("webm", "gif"):
            with av.open(str(out / f"{stem}.{ext}")) as c:
                assert c.duration / 1e6 == pytest.approx(mp4["frames"] / 10, abs=0.2), ext
        assert (out / f"{stem}.gif").stat().st_size <= 2_000_000
    assert (out / "compare_lrs_loss.png").is_file() and (out / "index.html").is_file()
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    # the summary table: a row per lr
    rows = [line.split() for line in output.splitlines() if line.strip().startswith(("0.1 ", "0.2 ", "0.5 "))]
    assert [r[0] for r in rows] == ["0.1", "0.2", "0.5"] and all(r[1] == "12" for r in rows)
    assert "gallery:" in output


def test_manifest_records_each_variant(sweep):
    out, _ = sweep
    m = json.loads((out / "manifest.json").read_text())
    assert m["schema"] == "descent.batch/1"
    assert set(m["variants"]) == {"fit_lr0.1", "fit_lr0.2", "fit_lr0.5"}
    v = m["variants"]["fit_lr0.2"]
    assert v["config"]["lr"] == 0.2 and v["config"]["steps"] == 12
    assert len(v["digest"]) == 20 and set(v["versions"]) >= {"descent", "manim", "torch"}
    assert set(v["files"]) >= {"mp4", "poster", "json", "vtt", "webm", "gif"}
    # lr 0.5 > lr_max: the loss grows (it diverges after step 12, so no divergence is recorded yet)
    assert m["variants"]["fit_lr0.5"]["final_loss"] > 1e3 and m["variants"]["fit_lr0.5"]["diverged_at"] is None
    assert m["compare"]["lrs"] == [0.1, 0.2, 0.5]


def test_vtt_has_one_cue_per_step(sweep):
    out, _ = sweep
    text = (out / "fit_lr0.1.vtt").read_text()
    assert text.startswith("WEBVTT")
    cues = [line for line in text.splitlines() if line.startswith("Step ")]
    assert len(cues) == 13 and cues[3].startswith("Step 3: w = ")


def test_rerun_renders_nothing(sweep):
    out, _ = sweep
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = CliRunner().invoke(
        cli,
        [
            "batch",
            "--lr",
            "0.1",
            "--lr",
            "0.2",
            "--lr",
            "0.5",
            "--steps",
            "12",
            "--webm",
            "--gif",
            "--gif-max-mb",
            "2",
            "--jobs",
            "2",
            "--out-dir",
            str(out),
            *QUICK,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "3 unchanged variant(s)" in r.output
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    changed = {n for n in after if after[n] != before.get(n)}
    assert changed <= {"index.html", "manifest.json"}  # no clip rendered again


def test_changed_variant_only_is_rendered(tmp_path):
    out = tmp_path / "o"
    args = ["batch", "--lr", "0.1", "--lr", "0.2", "--no-compare", "--jobs", "2", "--out-dir", str(out), *QUICK]
    assert CliRunner().invoke(cli, args).exit_code == 0
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
    r = CliRunner().invoke(
        cli, ["batch", "--lr", "0.1", "--lr", "0.3", "--no-compare", "--jobs", "2", "--out-dir", str(out), *QUICK]
    )
    assert r.exit_code == 0, r.output
    assert (out / "fit_lr0.1.mp4").stat().st_mtime_ns == mtimes["fit_lr0.1.mp4"]
    assert (out / "fit_lr0.3.mp4").is_file()
    r = CliRunner().invoke(cli, ["batch", "--lr", "0.1", "--force", "--no-compare", "--out-dir", str(out), *QUICK])
    assert r.exit_code == 0 and (out / "fit_lr0.1.mp4").stat().st_mtime_ns != mtimes["fit_lr0.1.mp4"]


@pytest.mark.parametrize("fault", ["raise", "kill"])
def test_a_failing_variant_does_not_stop_the_others(tmp_path, monkeypatch, fault):
    monkeypatch.setenv(FAULT_ENV, f"{fault}@0.2")
    out = tmp_path / "o"
    r = CliRunner().invoke(
        cli, ["batch", "--lr", "0.1", "--lr", "0.2", "--lr", "0.3", "--jobs", "2", "--out-dir", str(out), *QUICK]
    )
    assert r.exit_code == 1, r.output
    assert "FAILED" in r.output and "fit_lr0.2" in r.output
    assert ("injected failure" if fault == "raise" else "worker died") in r.output
    for ok in ("fit_lr0.1", "fit_lr0.3"):
        assert (out / f"{ok}.mp4").is_file()
    assert not list(out.glob("fit_lr0.2*"))  # nothing of the failed variant under a final name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["variants"]) == {"fit_lr0.1", "fit_lr0.3"}
    # the comparison is made of the variants that succeeded
    assert m["compare"]["lrs"] == [0.1, 0.3]
    # the gallery names only what it shows: the failed lr is neither a card nor in the title
    page = (out / "index.html").read_text()
    header = page[page.index("<header>") : page.index("</header>")]
    assert "lr = 0.1, 0.3" in header and "0.2" not in header and "fit_lr0.2" not in page


def test_names_cannot_escape_the_out_dir(tmp_path):
    out = tmp_path / "o"
    r = CliRunner().invoke(
        cli, ["batch", "--lr", "1e-3", "--name", "../../evil", "--no-compare", "--out-dir", str(out), *QUICK]
    )
    assert r.exit_code == 0, r.output
    names = [p.name for p in out.iterdir()]
    assert "evil_lr0.001.mp4" in names or any(n.endswith("_lr0.001.mp4") for n in names)
    assert all(p.resolve().parent == out.resolve() for p in out.iterdir())
    assert not (tmp_path / "evil_lr0.001.mp4").exists() and not list(tmp_path.parent.glob("evil*"))


def test_lr_range():
    assert lr_range("0.01:0.5:8")[0] == 0.01 and lr_range("0.01:0.5:8")[-1] == 0.5
    assert len(lr_range("0.01:0.5:8")) == 8


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--lr-range", "0.1:0.5"], "lo:hi:n"),
        (["--lr-range", "a:b:3"], "numbers"),
        (["--lr-range", "0.5:0.1:3"], "lo < hi"),
        (["--lr-range", "0:1:3"], "positive"),
        (["--lr", "0.1", "--lr-range", "0.1:1:3"], "not both"),
        (["--lr", "-0.1"], "--lr"),
        (["--lr", "nan"], "finite"),
        (["--jobs", "0"], "--jobs"),
        (["--scene", "compare"], "--scene"),
        (["--gif-max-mb", "0"], "--gif-max-mb"),
        (["--out-dir", "afile"], "is a file"),
    ],
)
def test_batch_bad_input(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")
    r = CliRunner().invoke(cli, ["batch", *args])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error:") and needle in lines[0], r.output
    assert sorted(os.listdir(".")) == ["afile"]


def test_long_prefix_and_close_rates_keep_their_own_files(tmp_path):
    out = tmp_path / "o"
    r = CliRunner().invoke(
        cli, ["batch", "--name", "a" * 125, "--lr", "0.1", "--lr", "0.1000001", "--out-dir", str(out), *QUICK]
    )
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    assert len(m["variants"]) == 2 and m["compare"]["name"] not in m["variants"]
    assert len({v["files"]["mp4"] for v in m["variants"].values()} | {m["compare"]["files"]["mp4"]}) == 3


def test_a_variant_whose_gif_fails_leaves_no_file(tmp_path):
    out = tmp_path / "o"
    r = CliRunner().invoke(
        cli, ["batch", "--lr", "0.1", "--gif", "--gif-max-mb", "0.1", "--no-compare", "--out-dir", str(out), *QUICK]
    )
    assert r.exit_code == 1 and "GifTooLarge" in r.output
    assert not list(out.glob("fit_lr0.1*"))


def test_a_batch_writes_nothing_in_the_working_folder(tmp_path):
    """The comparison's loss plot draws Text: Manim caches its glyphs under media_dir, which was the cwd's media/.
    A process of its own: the tests' session fixture points Manim's media_dir elsewhere."""
    import subprocess
    import sys

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = tmp_path / "out"
    args = ["batch", "--lr", "0.1", "--lr", "0.3", "--steps", "6", "--jobs", "1", "--out-dir", str(out), *QUICK]
    r = subprocess.run(
        [sys.executable, "-m", "descent.cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (out / "compare_lrs_loss.png").is_file()
    assert os.listdir(cwd) == []


# -- a file descent cannot prove it wrote is never replaced ------------------------------------------
TINY = ["-q", "l", "--fps", "10", "--duration", "1", "--steps", "4", "--quiet"]


def everything(folder: Path) -> dict[str, bytes]:
    """Every entry of ``folder``, hidden ones too, with its bytes: what a refused run must leave as it was."""
    return {p.name: p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(folder.iterdir())}


def refused(args: list[str], out: Path) -> str:
    """``descent ARGS --out-dir OUT``: exit 2, one line on stderr, the folder byte for byte as it was; the line."""
    before = everything(out)
    r = CliRunner().invoke(cli, [*args, "--out-dir", str(out)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error: "), r.stderr
    assert len(r.stdout.strip().splitlines()) <= 1 and "Traceback" not in r.output  # the run's header at most
    assert everything(out) == before
    return lines[0]


def a_png(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (32, 24), "#c04080").save(path)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("fit_lr0.1.mp4", b"the user's own video"),
        ("fit_lr0.2.png", None),
        ("fit_lr0.1.json", b'{"my": "notes"}\n'),
        ("compare_lrs_loss.png", None),
        ("manifest.json", b"my shopping list\n"),
        ("manifest.json", b'{"variants": {}, "compares": []}\n'),
    ],
)
def test_a_users_file_of_a_batchs_names_is_refused_and_kept(tmp_path, name, data):
    """A picture named like a variant's poster, notes named like its sidecar, a manifest.json of the user's
    (not JSON, or JSON without descent's schema): no descent record proves they are descent's, so the batch
    refuses before rendering, and the folder stays as it was (its hidden files too)."""
    out = tmp_path / "o"
    out.mkdir()
    if data is None:
        a_png(out / name)
    else:
        (out / name).write_bytes(data)
    (out / ".mine").write_text("hidden\n")
    line = refused(["batch", "--lr", "0.1", "--lr", "0.2", *TINY], out)
    assert repr(str(out / name)) in line and "--out-dir" in line and "move the file" in line, line


def test_a_users_pages_are_refused_before_rendering(tmp_path):
    """The user's index.html is never replaced (the gallery goes to gallery.html); when gallery.html is the
    user's too, the batch refuses before rendering anything (it used to render, then fail on the page)."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "index.html").write_text("<p>my site</p>\n")
    r = CliRunner().invoke(cli, ["batch", "--lr", "0.1", "--no-compare", *TINY, "--out-dir", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "index.html").read_text() == "<p>my site</p>\n" and (out / "gallery.html").is_file()
    other = tmp_path / "p"
    other.mkdir()
    for page in ("index.html", "gallery.html"):
        (other / page).write_text(f"<p>my {page}</p>\n")
    line = refused(["batch", "--lr", "0.1", "--no-compare", *TINY], other)
    assert "index.html and gallery.html" in line and "--out-dir" in line, line


def test_a_worker_pool_leaves_the_callers_collector_as_it_was():
    # the workers start with what was imported frozen out of the collector's sight; the caller's own
    # process (a notebook's) keeps collecting everything, its garbage from before included
    import gc
    import weakref

    from descent.batch import WorkerPool

    class Cycle:
        pass

    a = Cycle()
    a.me = a  # garbage once dropped, but only the collector frees a cycle
    gone = weakref.ref(a)
    del a
    frozen_before = gc.get_freeze_count()
    pool = WorkerPool(1, target=dict)  # a job returns itself
    try:
        pool.run([{"name": "x"}], lambda status, name, payload: None)
    finally:
        pool.stop()
    assert gc.get_freeze_count() == frozen_before
    gc.collect()
    assert gone() is None
