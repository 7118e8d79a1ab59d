"""What a crash, a kill, a second run, a full disk or a doctored manifest can do to an output folder.

Every test here drives the real thing (the CLI in this process or in a subprocess, real
renders at 480p and 10 fps) and asserts what is on disk afterwards. Subprocess tests use
their own TMPDIR (Manim's scratch folders go there) and are bounded by timeouts; any
process they start is killed on the way out.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from descent.cli.main import cli
from descent.trainer import Config, ConfigError, train

from .test_render import probe

QUICK = ["-q", "l", "--fps", "10", "--duration", "1", "--quiet"]
BATCH = ["batch", "--lr", "0.1", "--lr", "0.2", "--webm", "--jobs", "2", *QUICK]
LINUX = sys.platform.startswith("linux")


# -- helpers ------------------------------------------------------------------------------------
def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every visible regular file in ``folder``."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def linked(index: Path) -> set[str]:
    """Every src, href and poster in a gallery page (but the shared layout's skip link to ``#main`` and its
    empty inline icon ``data:,``, which name no file)."""
    return set(re.findall(r'(?:src|href|poster)="([^"]*)"', index.read_text())) - {"#main", "data:,"}


def scratch_left(tmp: Path) -> list[str]:
    """Folders descent made in a TMPDIR and left (torch may keep caches of its own there)."""
    return [n for n in os.listdir(tmp) if n.startswith(".descent")]


def env_with_tmp(tmp_path: Path, **extra: str) -> dict[str, str]:
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp), **extra}


def descent(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "descent", *args], capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw
    )


def spawn(args: list[str], stderr=subprocess.PIPE, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "descent", *args], stdout=subprocess.PIPE, stderr=stderr, text=True, **kw
    )


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] not in "ZX":
            out.append(int(d.name))
    return out


def alive(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return raw[raw.rindex(")") + 2] not in "ZX"


def wait_for(condition, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds (a bound, not a timing assertion: it fails only when it never holds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _reaped_pid() -> int:
    """The pid of a process that has just exited (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def work_folder(parent: Path, pid: int, token: str) -> Path:
    """A work folder as descent makes it (the marker format is the contract), owned by ``pid``."""
    path = parent / f".descent-work-{token}"
    (path / "new").mkdir(parents=True)
    marker = {"schema": "descent.work/1", "token": token, "pid": pid, "start": None, "host": os.uname().nodename}
    (path / "descent-work.json").write_text(json.dumps(marker))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished batch folder (two variants with WebM, the comparison, the gallery); tests work on copies."""
    out = tmp_path_factory.mktemp("finished") / "out"
    r = CliRunner().invoke(cli, [*BATCH, "--out-dir", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture
def folder(finished, tmp_path):
    out = tmp_path / "o"
    shutil.copytree(finished, out)
    return out


# -- data loss --------------------------------------------------------------------------------
def test_a_failed_rerender_leaves_the_previous_files_manifest_and_gallery(folder):
    before = digests(folder)
    assert {"manifest.json", "index.html", "fit_lr0.1.mp4", "compare_lrs.mp4"} <= set(before)
    r = CliRunner().invoke(cli, [*BATCH, "--gif", "--gif-max-mb", "0.1", "--out-dir", str(folder)])
    assert r.exit_code == 1, r.output
    failed = [line for line in r.output.splitlines() if line.strip().startswith("FAILED")]
    assert len(failed) == 2 and all("GifTooLarge" in f and "previous version is kept" in f for f in failed)
    assert digests(folder) == before  # every file, the manifest and index.html byte for byte
    assert hidden(folder) == []
    assert linked(folder / "index.html") and all((folder / name).is_file() for name in linked(folder / "index.html"))


def test_clean_up_never_touches_the_users_files(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    mine = {".render-cache/data": "cache", ".session.tmp": "s", ".thesis.part.docx": "t", ".render-x/keep": "k"}
    for rel, text in mine.items():
        (out / rel).parent.mkdir(exist_ok=True)
        (out / rel).write_text(text)
    fake = out / ".descent-work-0123456789abcdef"  # our prefix, but no marker: not provably ours
    fake.mkdir()
    (fake / "notes.txt").write_text("n")
    other = out / ".descent-work-x"  # our prefix, a marker with a token that is not its name
    shutil.copytree(work_folder(tmp_path, _reaped_pid(), "aaaaaaaaaaaaaaaa"), other)
    live = work_folder(out, os.getpid(), "1111111111111111")  # a live owner: in use
    dead = work_folder(out, _reaped_pid(), "2222222222222222")  # a dead owner: ours to remove
    r = CliRunner().invoke(cli, ["batch", "--lr", "0.1", "--no-compare", "--out-dir", str(out), *QUICK])
    assert r.exit_code == 0, r.output
    for rel, text in mine.items():
        assert (out / rel).read_text() == text, rel
    assert (fake / "notes.txt").is_file() and other.is_dir() and live.is_dir()
    assert not dead.exists()


SCRIPT_KILLED_BETWEEN_MOVES = """
import os, sys
from descent.outputs.clip import render
from descent.trainer import Config, train

out = sys.argv[1]
render(train(Config(steps=4)), out_dir=out, name="clip", progress=False, fps=10,
       scene_options={"descent_seconds": 1.0})
real = os.replace
def replace(src, dst, *a, **k):
    real(src, dst, *a, **k)
    if str(dst).endswith("clip.mp4"):
        os._exit(9)  # killed right after the first final move
os.replace = replace
render(train(Config(steps=4, lr=0.2)), out_dir=out, name="clip", progress=False, fps=10,
       scene_options={"descent_seconds": 2.0})
"""


def test_a_publication_cut_short_is_completed_by_the_next_render(tmp_path):
    out = tmp_path / "o"
    env = env_with_tmp(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT_KILLED_BETWEEN_MOVES, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 9, proc.stderr[-2000:]
    r = descent(["render", "--steps", "2", "--name", "other", "--out-dir", str(out), *QUICK], env=env)
    assert r.returncode == 0, r.stderr
    # the set is whole again: the mp4, its poster and its sidecar are one version (the second)
    meta = json.loads((out / "clip.json").read_text())
    assert meta["config"]["lr"] == 0.2 and meta["render"]["scene_options"]["descent_seconds"] == 2.0
    assert probe(out / "clip.mp4")["frames"] == meta["video"]["frames"]
    assert hidden(out) == []
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n}.{e}" for n in ("clip", "other") for e in ("mp4", "png", "json", "transcript.html", "transcript.md")
    )
    assert scratch_left(tmp_path / "tmp") == []  # no scratch folder of Manim's left either


# -- concurrency and processes ---------------------------------------------------------------------
@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_one_run_per_folder_others_wait_or_say_who_holds_it(tmp_path):
    out = tmp_path / "o"
    env = env_with_tmp(tmp_path)
    holder = spawn(
        ["batch", "--lr", "0.3", "--no-compare", "--out-dir", str(out), *QUICK],
        env={**env, "DESCENT_BATCH_FAULT": "hang@0.3"},
    )
    started = [holder]
    try:
        wait_for(lambda: (out / ".descent.lock.holder").is_file() and children(holder.pid), 120, "the first run")
        r = descent(["render", "--no-wait", "--steps", "2", "--out-dir", str(out), *QUICK], env=env, timeout=120)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"in use by pid {holder.pid}" in lines[0] and "batch" in lines[0], r.stderr
        # two more runs wait their turn, each saying for whom
        logs = [tmp_path / "w0.err", tmp_path / "w1.err"]
        waiting = []
        for lr, log in zip(("0.1", "0.2"), logs, strict=True):
            with open(log, "w") as fh:
                waiting.append(spawn(["batch", "--lr", lr, "--no-compare", "--out-dir", str(out), *QUICK], fh, env=env))
        started += waiting
        wait_for(
            lambda: all(f"waiting for pid {holder.pid}" in log.read_text() for log in logs), 120, "the waiting notes"
        )
        hung = children(holder.pid)
        holder.send_signal(signal.SIGTERM)
        _, err = holder.communicate(timeout=60)
        assert holder.returncode == 130 and "nothing was published" in err, err
        assert not any(alive(p) for p in hung)
        for w in waiting:
            w.communicate(timeout=300)
            assert w.returncode == 0
    finally:
        kill_all(p.pid for p in started)
        for p in started:
            p.wait(timeout=30)
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["variants"]) == {"fit_lr0.1", "fit_lr0.2"}  # neither run lost the other's entry
    assert hidden(out) == []


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_workers_die_with_the_main_process(tmp_path):
    out = tmp_path / "o"
    env = env_with_tmp(tmp_path, DESCENT_BATCH_FAULT="hang@0.1,hang@0.2")
    main = spawn(["batch", "--lr", "0.1", "--lr", "0.2", "--jobs", "2", "--out-dir", str(out), *QUICK], env=env)
    workers: list[int] = []
    try:
        wait_for(lambda: len(children(main.pid)) >= 2, 120, "two workers")
        workers = children(main.pid)
        main.kill()
        main.wait(timeout=30)
        wait_for(lambda: not any(alive(p) for p in workers), 30, "the workers to die with their parent")
    finally:
        kill_all([main.pid, *workers])
        main.wait(timeout=30)


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_sigterm_stops_the_workers_then_says_what_was_published(tmp_path):
    out = tmp_path / "o"
    env = env_with_tmp(tmp_path, DESCENT_BATCH_FAULT="hang@0.2")
    main = spawn(["batch", "--lr", "0.1", "--lr", "0.2", "--jobs", "2", "--out-dir", str(out), *QUICK], env=env)
    workers: list[int] = []
    try:
        wait_for(lambda: (out / "fit_lr0.1.mp4").is_file(), 240, "the first variant")
        workers = children(main.pid)
        main.send_signal(signal.SIGTERM)
        _, err = main.communicate(timeout=60)
        assert main.returncode == 130, err
        assert not any(alive(p) for p in workers)  # stopped before the message
        line = err.strip().splitlines()[-1]
        assert "published" in line and "fit_lr0.1" in line and "fit_lr0.2" not in line, err
    finally:
        kill_all([main.pid, *workers])
        main.wait(timeout=30)
    assert json.loads((out / "manifest.json").read_text())["variants"].keys() == {"fit_lr0.1"}
    assert not list(out.glob("fit_lr0.2*")) and hidden(out) == []


# -- trusting state --------------------------------------------------------------------------------
def test_a_damaged_file_is_rendered_again(folder):
    mp4 = folder / "fit_lr0.1.mp4"
    mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    (folder / "fit_lr0.2.webm").write_bytes(b"")
    r = CliRunner().invoke(cli, [*BATCH, "--out-dir", str(folder)])
    assert r.exit_code == 0, r.output
    assert "unchanged" not in r.output and "cached" not in r.output
    assert probe(mp4)["frames"] == json.loads((folder / "fit_lr0.1.json").read_text())["video"]["frames"]
    assert probe(folder / "fit_lr0.2.webm")["frames"] > 0
    m = json.loads((folder / "manifest.json").read_text())
    check = m["variants"]["fit_lr0.1"]["checks"]["mp4"]
    assert check == {"size": mp4.stat().st_size, "sha256": hashlib.sha256(mp4.read_bytes()).hexdigest()}


def _doctor(manifest: dict, how: str) -> object:
    v = manifest["variants"]["fit_lr0.1"]
    if how == "entry is a string":
        manifest["variants"]["fit_lr0.1"] = "oops"
    elif how == "files is a list":
        v["files"] = list(v["files"].values())
    elif how == "width is null":
        v["width"] = None
    elif how == "no checks":
        del v["checks"]
    elif how == "parent path":
        v["files"]["mp4"] = "../other/x.mp4"
    elif how == "absolute path":
        v["files"]["json"] = "/etc/hostname"
    elif how == "javascript":
        manifest["compare"]["loss_plot"] = "javascript:alert(1)"
    elif how == "variants is a list":
        manifest["variants"] = [v]
    elif how == "lr is a string":
        v["lr"] = "0.1"
    elif how == "top level is a list":
        return [manifest]
    return manifest


DOCTORED = [
    "entry is a string",
    "files is a list",
    "width is null",
    "no checks",
    "parent path",
    "absolute path",
    "javascript",
    "variants is a list",
    "lr is a string",
    "top level is a list",
]


@pytest.mark.parametrize("how", DOCTORED)
def test_an_invalid_manifest_is_treated_as_absent(finished, tmp_path, how):
    from descent.batch import load_manifest

    out = tmp_path / "o"
    out.mkdir()
    data = _doctor(json.loads((finished / "manifest.json").read_text()), how)
    (out / "manifest.json").write_text(json.dumps(data))
    manifest, problem = load_manifest(out)
    assert manifest["variants"] == {} and "compare" not in manifest
    assert isinstance(problem, str) and "manifest.json" in problem


@pytest.mark.parametrize("raw", [b"{not json", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"])
def test_a_manifest_that_is_not_json_is_treated_as_absent(tmp_path, raw):
    from descent.batch import load_manifest

    (tmp_path / "manifest.json").write_bytes(raw)
    manifest, problem = load_manifest(tmp_path)
    assert manifest["variants"] == {} and problem


def test_a_run_over_an_invalid_manifest_says_so_once_and_renders_again(folder):
    m = json.loads((folder / "manifest.json").read_text())
    m["variants"]["fit_lr0.1"] = "oops"
    m["variants"]["fit_lr0.2"]["files"] = ["fit_lr0.2.mp4"]
    (folder / "manifest.json").write_text(json.dumps(m))
    r = CliRunner().invoke(cli, [*BATCH, "--no-compare", "--out-dir", str(folder)])
    assert r.exit_code == 0, r.output
    notes = [line for line in r.stderr.splitlines() if "manifest.json" in line]
    assert len(notes) == 1 and "rendered again" in notes[0], r.stderr
    assert "Traceback" not in r.output and "unchanged" not in r.output
    m = json.loads((folder / "manifest.json").read_text())
    assert set(m["variants"]) == {"fit_lr0.1", "fit_lr0.2"} and all(v["checks"] for v in m["variants"].values())


def test_paths_in_the_manifest_never_leave_the_folder(folder, tmp_path):
    outside = tmp_path / "other"
    outside.mkdir()
    (outside / "x.mp4").write_bytes(b"not ours")
    m = json.loads((folder / "manifest.json").read_text())
    m["variants"]["fit_lr0.1"]["files"]["mp4"] = "../other/x.mp4"
    m["variants"]["fit_lr0.2"]["files"]["json"] = "/etc/hostname"
    m["compare"]["loss_plot"] = "javascript:alert(1)"
    (folder / "manifest.json").write_text(json.dumps(m))
    r = CliRunner().invoke(cli, [*BATCH, "--out-dir", str(folder)])
    assert r.exit_code == 0, r.output
    links = linked(folder / "index.html")
    assert links and all(re.fullmatch(r"[\w.-]+", name) and (folder / name).is_file() for name in links), links
    m = json.loads((folder / "manifest.json").read_text())
    named = [n for v in m["variants"].values() for n in v["files"].values()] + [m["compare"]["loss_plot"]]
    assert all("/" not in n and ":" not in n for n in named)
    assert (outside / "x.mp4").read_bytes() == b"not ours"


def test_the_gallery_links_only_plain_names_and_real_sizes(tmp_path):
    from descent.publish import write_gallery

    good = {"mp4": "a.mp4", "poster": "a.png", "vtt": "a.vtt"}
    entries = [
        {"name": "a", "title": "A", "files": good, "width": None, "height": None},
        {"name": "b", "title": "B", "files": {"mp4": "../b.mp4", "poster": "b.png"}, "width": 854, "height": 480},
        {"name": "c", "title": "C", "files": {"mp4": "c.mp4", "poster": "/etc/hostname"}, "width": 854, "height": 480},
        {"name": "d", "title": "D", "files": {**good, "webm": "javascript:alert(1)"}, "width": 854, "height": 480},
    ]
    page = write_gallery(tmp_path, entries, "t", "s", loss_plot="javascript:alert(2)").read_text()
    assert 'width="None"' not in page and 'height="None"' not in page
    assert "../" not in page and "/etc/" not in page and "javascript:" not in page
    assert linked(tmp_path / "index.html") <= {"a.mp4", "a.png", "a.vtt"}
    assert 'width="854" height="480"' in page  # card d, with its real size


# -- odd but valid input ----------------------------------------------------------------------------
def test_a_working_directory_and_out_dir_with_quotes_and_newlines(tmp_path):
    """Manim never sees those paths, FFmpeg never reads "c:" as a protocol, and a manim.cfg in the
    working directory changes nothing."""
    from descent.outputs.clip import render

    cwd = tmp_path / "Bob's\ncourse"
    cwd.mkdir()
    (cwd / "manim.cfg").write_text("[CLI]\nframe_height = 4.0\nframe_width = 7.0\n")
    r = descent(["render", "--steps", "3", "--out-dir", "c:lip's\nout", *QUICK], cwd=cwd, env=env_with_tmp(tmp_path))
    assert r.returncode == 0, r.stderr
    out = cwd / "c:lip's\nout"
    meta = json.loads((out / "fit_sgd_lr0.1_steps3.json").read_text())
    assert probe(out / "fit_sgd_lr0.1_steps3.mp4")["frames"] == meta["video"]["frames"] > 0
    ref = render(train(Config(steps=3)), out_dir=tmp_path / "ref", fps=10, progress=False,
                 scene_options={"descent_seconds": 1.0})  # fmt: skip
    assert (out / "fit_sgd_lr0.1_steps3.png").read_bytes() == ref.poster.read_bytes()
    assert scratch_left(tmp_path / "tmp") == []


def _small_disk(path: Path, free: int) -> bool:
    """Mount a small tmpfs at ``path`` with about ``free`` bytes left; False where mounting is not allowed."""
    path.mkdir()
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path)], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    if proc.returncode != 0:
        return False
    st = os.statvfs(path)
    (path / "filler").write_bytes(b"\0" * (st.f_bavail * st.f_frsize - free))
    return True


@pytest.mark.skipif(not LINUX, reason="tmpfs")
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    disk = tmp_path / "disk"
    if not _small_disk(disk, free=96 * 1024):
        pytest.skip("cannot mount a small tmpfs here (needs root); the simulated test below still runs")
    try:
        env = env_with_tmp(tmp_path)
        out = disk / "out"
        r = descent(["render", "--steps", "3", "--out-dir", str(out), *QUICK], env=env)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "no space left in" in lines[0] and str(out) in lines[0], r.stderr
        assert "MB needed" in lines[0] and "Traceback" not in r.stderr
        assert os.listdir(out) == [] and scratch_left(tmp_path / "tmp") == []
        r = descent(["batch", "--lr", "0.1", "--no-compare", "--out-dir", str(out), *QUICK], env=env)
        assert r.returncode == 1, r.stderr
        failed = [line for line in r.stdout.splitlines() if line.strip().startswith("FAILED")]
        assert len(failed) == 1 and "no space left in" in failed[0] and "Traceback" not in r.stderr + r.stdout
        assert os.listdir(out) == [] and scratch_left(tmp_path / "tmp") == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def test_a_full_disk_simulated(tmp_path, monkeypatch):
    """The same without a small disk: the writer fails with ENOSPC (wherever tmpfs cannot be mounted)."""
    import descent.outputs.clip as clip

    def full(src, dst, audio=None):
        Path(dst).write_bytes(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    out = tmp_path / "o"
    (out / "keep").mkdir(parents=True)
    tiny(out, name="clip")  # the previous version, which must stand
    before = contents(out)
    monkeypatch.setattr(clip, "faststart_remux", full)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    r = CliRunner().invoke(cli, ["render", "--steps", "2", "--name", "clip", "--out-dir", str(out), *QUICK])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left in" in lines[0] and str(out) in lines[0], r.stderr
    assert contents(out) == before
    assert scratch_left(tmp_path / "tmp") == []


def test_lr_range_rates_that_collide_are_an_error(tmp_path, monkeypatch):
    from descent.batch import lr_range

    with pytest.raises(ConfigError, match="distinct"):
        lr_range("0.1:0.1000001:5")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["batch", "--lr-range", "0.1:0.1000001:5", "--out-dir", "o", *QUICK])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error:") and "distinct" in lines[0]
    assert os.listdir(tmp_path) == []


def test_a_name_of_100_cjk_characters(tmp_path):
    from descent.batch import BatchOptions, variant_name
    from descent.scenes.helpers import safe_name

    name = "梯度下降" * 25
    cut = safe_name(name)
    assert len(cut.encode()) <= 120 and name.startswith(cut) and cut
    assert len(variant_name(BatchOptions(prefix=name), 0.123456789).encode()) <= 120
    out = tmp_path / "o"
    r = CliRunner().invoke(cli, ["render", "--steps", "2", "--name", name, "--out-dir", str(out), *QUICK])
    assert r.exit_code == 0, r.output
    made = sorted(p.name for p in out.iterdir())
    assert made == sorted(f"{cut}.{e}" for e in ("json", "mp4", "png", "transcript.html", "transcript.md"))


# -- the mechanisms themselves ----------------------------------------------------------------------
def test_publish_undoes_its_moves_when_one_fails(tmp_path, monkeypatch):
    from descent.outputs import files

    out = tmp_path / "o"
    out.mkdir()
    for n in ("a.mp4", "a.png"):
        (out / n).write_text(f"old {n}")
    work = files.make_work_dir(out)
    for n in ("a.mp4", "a.png", "a.json"):
        (files.staging(work) / n).write_text(f"new {n}")
    real, moved = os.replace, []

    def replace(src, dst):
        if str(dst).endswith("a.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)
        moved.append(dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        files.publish(out, work, ["a.mp4", "a.png", "a.json"])
    monkeypatch.setattr(os, "replace", real)
    files.remove_work_dir(work)
    assert {out / "a.mp4", out / "a.png"} <= {Path(d) for d in moved}  # two moves were done, then undone
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.mp4": "old a.mp4", "a.png": "old a.png"}


SCRIPT_PUBLISH_AND_DIE = """
import os, sys
from pathlib import Path
from descent.outputs import files

out = Path(sys.argv[1])
work = files.make_work_dir(out)
for n in ("a.mp4", "a.png"):
    (files.staging(work) / n).write_text("new " + n)
real = os.replace
def replace(src, dst, *a, **k):
    real(src, dst, *a, **k)
    if str(dst).endswith("a.mp4"):
        os._exit(9)
os.replace = replace
files.publish(out, work, ["a.mp4", "a.png"])
"""


@pytest.mark.parametrize("damaged", [False, True])
def test_a_journal_left_by_a_dead_run_is_rolled_forward_or_back(tmp_path, damaged):
    from descent.outputs import files

    out = tmp_path / "o"
    out.mkdir()
    (out / "a.mp4").write_text("old a.mp4")
    proc = subprocess.run([sys.executable, "-c", SCRIPT_PUBLISH_AND_DIE, str(out)], capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    (work,) = [p for p in out.iterdir() if p.name.startswith(".descent-work-")]
    assert (work / files.JOURNAL).is_file() and (out / "a.mp4").read_text() == "new a.mp4"
    if damaged:
        (files.staging(work) / "a.png").write_text("damaged")
    lines = files.sweep_stale(out)
    assert len(lines) == 1 and ("rolled back" if damaged else "completed") in lines[0]
    want = {"a.mp4": "old a.mp4"} if damaged else {"a.mp4": "new a.mp4", "a.png": "new a.png"}
    assert {p.name: p.read_text() for p in out.iterdir()} == want


def test_only_provable_work_folders_count(tmp_path):
    from descent.outputs import files

    work = files.make_work_dir(tmp_path)
    assert files.read_marker(work)["pid"] == os.getpid()
    assert files.sweep_stale(tmp_path) == [] and work.is_dir()  # its owner (this process) is alive
    (tmp_path / ".descent-work-zz").mkdir()
    link = tmp_path / ".descent-work-abcdefabcdefabcd"
    link.symlink_to(work)
    assert files.read_marker(tmp_path / ".descent-work-zz") is None and files.read_marker(link) is None
    files.remove_work_dir(link)
    assert work.is_dir() and link.is_symlink()


@pytest.mark.parametrize(
    "name, ok",
    [
        ("fit_lr0.1.mp4", True),
        ("梯度.png", True),
        ("../x.mp4", False),
        ("/etc/hostname", False),
        ("javascript:alert(1)", False),
        (".hidden", False),
        ("a b.mp4", False),
        ("", False),
        (None, False),
        ("x" * 256, False),
    ],
)
def test_plain_names(name, ok):
    from descent.outputs.files import is_plain_name

    assert is_plain_name(name) is ok


class _Killed(BaseException):
    """Stands for a kill -9 in the middle of removing a folder."""


def test_a_removal_cut_short_leaves_a_folder_still_provably_descents(tmp_path, monkeypatch):
    """Killed at any point while removing a work folder, it is gone, or still holds its marker
    (so a later sweep can finish it), or is empty (killed between the marker and the folder
    itself); never files in a folder nothing may delete."""
    from descent.outputs import files

    real_unlink, real_rmdir = os.unlink, os.rmdir
    for n in range(1, 40):
        work = files.make_work_dir(tmp_path)
        for sub in ("new", "old", "media/videos"):
            (work / sub).mkdir(parents=True, exist_ok=True)
            (work / sub / "clip.mp4").write_text("x")
        calls = [0]

        def dying(real, calls=calls, n=n):
            def call(*args, **kwargs):
                calls[0] += 1
                if calls[0] == n:
                    raise _Killed
                return real(*args, **kwargs)

            return call

        monkeypatch.setattr(os, "unlink", dying(real_unlink))
        monkeypatch.setattr(os, "rmdir", dying(real_rmdir))
        try:
            files.remove_work_dir(work)
        except _Killed:
            pass
        monkeypatch.setattr(os, "unlink", real_unlink)
        monkeypatch.setattr(os, "rmdir", real_rmdir)
        if calls[0] < n:  # the removal needed fewer calls: it ran to the end
            assert not work.exists()
            break
        if files.read_marker(work) is None:
            assert os.listdir(work) == [], f"cut short at call {n}: files left in an unmarked folder"
            work.rmdir()
        files.remove_work_dir(work)  # what a later sweep does
        assert not work.exists()


SCRIPT_LOCK_ONCE = """
import sys
from descent.outputs import files

with files.output_lock(sys.argv[1], wait=False):
    pass
print("held and released")
"""


@pytest.mark.skipif(not LINUX, reason="FIFOs and hard links as on Linux")
def test_a_lock_holder_file_that_is_a_link_or_a_fifo_is_never_written_through(tmp_path):
    """``.descent.lock.holder`` as a hard link to the user's file must not overwrite that file;
    as a FIFO it must not hang the run (nor a waiter reading who holds the lock)."""
    from descent.outputs import files

    linked_out, fifo_out = tmp_path / "linked", tmp_path / "fifo"
    linked_out.mkdir()
    fifo_out.mkdir()
    thesis = linked_out / "thesis.txt"
    thesis.write_text("my thesis")
    os.link(thesis, linked_out / files.HOLDER_NAME)
    with files.output_lock(linked_out, wait=False):
        pass
    assert thesis.read_text() == "my thesis"
    os.mkfifo(fifo_out / files.HOLDER_NAME)
    for _ in range(2):  # taking the lock, and reading who holds it (as a waiter does)
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT_LOCK_ONCE, str(fifo_out)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0 and "held and released" in proc.stdout, proc.stderr
    assert files._read_holder(fifo_out) == "another process"


def test_a_huge_gallery_page_in_the_folder_is_replaced_without_being_read(tmp_path):
    """The gallery is rewritten only when it changed; a huge (sparse) ``index.html`` left in
    the folder must not be read into memory to find out."""
    import tracemalloc

    from descent.publish.gallery import write_gallery

    index = tmp_path / "index.html"
    with open(index, "wb") as fh:  # a page descent wrote (its mark), grown huge
        fh.write(b'<!doctype html>\n<meta name="generator" content="descent">\n')
        fh.truncate(300 << 20)
    tracemalloc.start()
    try:
        write_gallery(tmp_path, [], "title", "subtitle")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20
    page = index.read_text()
    assert page.startswith("<!doctype html>") and "<title>title</title>" in page
    write_gallery(tmp_path, [], "title", "subtitle")  # unchanged: still the same page
    assert index.read_text() == page


def test_an_edited_manifest_cannot_claim_the_users_file(folder):
    """An entry that lists a file descent would not have named so (here the user's own notes,
    with their true SHA-256) is not trusted: re-rendering that variant must not remove it as
    an obsolete file of the previous version."""
    from descent.batch import load_manifest
    from descent.outputs import files

    notes = folder / "notes.txt"
    notes.write_text("the user's own notes")
    m = json.loads((folder / "manifest.json").read_text())
    m["variants"]["fit_lr0.1"]["files"]["vtt"] = "notes.txt"
    m["variants"]["fit_lr0.1"]["checks"]["vtt"] = files.file_check(notes)
    (folder / "manifest.json").write_text(json.dumps(m))
    assert "named after the entry" in load_manifest(folder)[1]
    r = CliRunner().invoke(
        cli, ["batch", "--lr", "0.1", "--webm", "--force", "--no-compare", *QUICK, "--out-dir", str(folder)]
    )
    assert r.exit_code == 0, r.output
    assert notes.read_text() == "the user's own notes"


@pytest.mark.skipif(not LINUX, reason="tmpfs")
def test_a_disk_with_no_space_at_all_is_named_and_keeps_no_lock_note(tmp_path):
    """Not even the work folder's marker fits: the run says "no space left in <folder>" like any
    full disk, and leaves nothing (not even an empty ``.descent.lock.holder``)."""
    disk = tmp_path / "disk"
    if not _small_disk(disk, free=0):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        out = disk / "out"
        out.mkdir()
        r = descent(["render", "--steps", "2", "--out-dir", str(out), *QUICK], env=env_with_tmp(tmp_path))
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "no space left in" in lines[0] and str(out) in lines[0], r.stderr
        assert os.listdir(out) == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def test_a_forged_marker_with_an_impossible_pid_is_left_alone_without_a_crash(tmp_path):
    """A work folder whose marker names a pid no process can have (here 2**40) is not provably
    descent's: it is kept, and the sweep (run by every render, also in the shared TMPDIR) goes on."""
    from descent.outputs import files

    forged = work_folder(tmp_path, 2**40, "f" * 16)
    dead = work_folder(tmp_path, _reaped_pid(), "e" * 16)
    assert files.sweep_stale(tmp_path) == []
    assert forged.is_dir() and not dead.exists()


SCRIPT_SWEEP = """
import sys
from descent.outputs import files

print(files.sweep_stale(sys.argv[1]))
"""


@pytest.mark.skipif(not LINUX, reason="FIFOs")
def test_a_marker_that_is_a_fifo_does_not_hang_the_sweep(tmp_path):
    """Anyone can put a ``.descent-work-<token>/descent-work.json`` FIFO in a shared TMPDIR: the
    sweep every render runs there must not wait on it forever (and must keep the folder)."""
    forged = tmp_path / (".descent-work-" + "a" * 16)
    forged.mkdir()
    os.mkfifo(forged / "descent-work.json")
    proc = subprocess.run([sys.executable, "-c", SCRIPT_SWEEP, str(tmp_path)], capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == b"[]", proc.stderr
    assert forged.is_dir()


# -- a render replaces only what descent can prove it wrote ---------------------------------------
FAST = {"descent_seconds": 1.0, "intro_seconds": 0.4, "hold_seconds": 0.4}
FRAMES = ["lab_start.png", "lab_third.png", "lab_two_thirds.png", "lab_end.png", "lab_poster.png"]


def contents(folder: Path) -> dict[str, bytes]:
    """Every entry of ``folder`` (hidden ones too) with its bytes: what a refused run must leave as it was."""
    return {p.name: p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(folder.iterdir())}


def tiny(out: Path, name: str = "lab", frames: bool = False, lr: float = 0.1, **kw):
    from descent.outputs.clip import render, render_frames

    fn = render_frames if frames else render
    return fn(train(Config(steps=3, lr=lr)), out_dir=out, name=name, fps=10, progress=False, scene_options=FAST, **kw)


def refused(out: Path, *args: str) -> str:
    """``descent render ARGS`` into ``out``: exit 2, one line, the folder exactly as it was; the line."""
    before = contents(out)
    r = CliRunner().invoke(cli, ["render", "--steps", "2", *args, "--out-dir", str(out), *QUICK])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error: "), r.output
    assert contents(out) == before  # nothing written, nothing deleted, byte for byte
    return lines[0]


def a_png(path: Path, colour: str = "#c04080") -> None:
    from PIL import Image

    Image.new("RGB", (32, 24), colour).save(path)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A folder holding a clip ``lab`` and its key frames, as descent wrote them; tests work on copies."""
    out = tmp_path_factory.mktemp("made") / "out"
    tiny(out)
    tiny(out, frames=True)
    return out


@pytest.fixture
def own(made, tmp_path):
    out = tmp_path / "o"
    shutil.copytree(made, out)
    return out


@pytest.mark.parametrize(
    "name", ["lab.png", "lab.mp4", "lab.json", "lab.transcript.md", "lab_start.png", "lab_poster.png"]
)
def test_a_users_file_of_the_sets_name_is_refused_and_kept(tmp_path, name):
    """A photo ``lab.png``, a video ``lab.mp4``, notes ``lab.json``, a picture ``lab_start.png``: no
    descent record says they are descent's, so rendering the name ``lab`` over them is refused."""
    out = tmp_path / "o"
    out.mkdir()
    mine = out / name
    if name.endswith(".png"):
        a_png(mine)
    else:
        mine.write_bytes(b'{"my": "notes"}\n' if name.endswith(".json") else b"the user's own bytes")
    (out / "notes.txt").write_text("mine\n")
    frames = name.startswith("lab_")
    line = refused(out, "--name", "lab", *(["--frames"] if frames else []))
    assert repr(str(mine)) in line and "--name" in line and "--out-dir" in line and "move the file" in line, line


def test_rendering_the_same_name_again_replaces_descents_own_set(tmp_path):
    """The edit-and-see loop: the clip and the key frames of one name, rendered again and again. Each set
    records what proves its files are its own: the sidecar lists every other file's size and SHA-256 and
    seals itself; each key frame carries its own mark."""
    from descent.outputs import files

    out = tmp_path / "o"
    for lr in (0.1, 0.2, 0.3):
        res = tiny(out, lr=lr)
        tiny(out, frames=True, lr=lr)
        meta, sealed = files.read_record(res.sidecar)
        assert sealed is True and meta["config"]["lr"] == lr
        others = sorted(p.name for p in res.paths if p != res.sidecar)
        assert sorted(meta["checks"]) == others
        assert all(files.verify(out, n, meta["checks"][n]) for n in others)
        for role, n in zip(["start", "third", "two_thirds", "end", "poster"], FRAMES, strict=True):
            assert files.png_mark(out / n) == {"schema": "descent.frame/1", "name": "lab", "role": role}
    assert sorted(os.listdir(out)) == sorted([*(p.name for p in res.paths), *FRAMES])


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("lab.png", lambda p: p.write_bytes(p.read_bytes() + b"\0")),
        ("lab.transcript.html", lambda p: p.write_text(p.read_text().replace("</body>", "<p>my notes</p></body>"))),
        ("lab.json", lambda p: p.write_text(p.read_text().replace('"theme": "dark"', '"theme": "mine"'))),
        ("lab_end.png", lambda p: a_png(p, "#102030")),
    ],
)
def test_a_descent_file_edited_since_is_the_users_and_refused(own, name, edit):
    was = (own / name).read_bytes()
    edit(own / name)
    assert (own / name).read_bytes() != was
    line = refused(own, "--name", "lab", *(["--frames"] if name.startswith("lab_") else []))
    assert name in line and "changed since" in line, line


def test_a_clip_from_before_the_records_is_still_replaced_and_then_recorded(own):
    """A sidecar written before the records (no ``checks``, no seal) still vouches for its set: the
    next render replaces it and records its own."""
    from descent.outputs import files

    side = own / "lab.json"
    meta = json.loads(side.read_text())
    old = {k: v for k, v in meta.items() if k not in ("checks", "self_sha256")}
    side.write_text(json.dumps(old, indent=1, allow_nan=False) + "\n")  # as the earlier code wrote it
    assert files.read_record(side) == (old, None)
    tiny(own, lr=0.3)
    meta, sealed = files.read_record(side)
    assert sealed is True and meta["config"]["lr"] == 0.3 and "lab.mp4" in meta["checks"]


def test_an_extra_file_goes_with_its_set_and_a_users_one_is_refused(tmp_path):
    """``NAME.vtt`` (the captions of a narrated clip) is the set's while its record lists it: a render
    without it removes it; a user's ``NAME.vtt`` is not replaced by a render that would write one."""
    from descent.outputs.clip import RenderError

    def captions(staged):
        vtt = staged.mp4.with_suffix(".vtt")
        vtt.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
        return [vtt.name]

    out = tmp_path / "o"
    res = tiny(out, extras=captions)
    assert (out / "lab.vtt").is_file() and out / "lab.vtt" in res.paths
    tiny(out)  # the same clip, no captions: the previous set's captions go
    assert not (out / "lab.vtt").exists()
    (out / "lab.vtt").write_text("WEBVTT\n\nthe user's own captions\n")
    before = contents(out)
    with pytest.raises(RenderError, match="lab.vtt"):
        tiny(out, extras=captions)
    assert contents(out) == before


def test_a_lesson_file_edited_since_is_refused(tmp_path):
    out = tmp_path / "o"
    args = ["render", "lesson", "--chapters", "1", "-q", "l", "--fps", "10", "--quiet", "--out-dir", str(out)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    notes = out / "lesson.transcript.md"
    notes.write_text(notes.read_text() + "\nmy own notes\n")
    before = contents(out)
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "lesson.transcript.md" in lines[0] and "changed since" in lines[0], r.output
    assert contents(out) == before


# -- a batch replaces only what descent provably wrote ------------------------------------------------------
def test_a_batchs_sidecars_are_sealed_so_a_render_over_them_is_strict(folder):
    """Each variant's and comparison's sidecar records every other file of its set (size and SHA-256) and
    seals itself, as a render's does: a render of a batch clip's name over a file edited since is refused."""
    from descent.outputs import files

    m = json.loads((folder / "manifest.json").read_text())
    for entry in [*m["variants"].values(), *m["compares"]]:
        side = entry["files"]["json"]
        meta, sealed = files.read_record(folder / side)
        assert sealed is True, side
        others = sorted({*entry["files"].values(), *([entry["loss_plot"]] if "loss_plot" in entry else [])} - {side})
        assert sorted(meta["checks"]) == others and all(files.verify(folder, n, meta["checks"][n]) for n in others)
    poster = folder / "fit_lr0.1.png"
    poster.write_bytes(poster.read_bytes() + b"\0")
    line = refused(folder, "--name", "fit_lr0.1")
    assert "fit_lr0.1.png" in line and "changed since" in line, line


def test_a_file_no_valid_entry_lists_and_no_sidecar_vouches_for_is_refused(folder):
    """A doctored manifest (descent's schema, an entry gone bad) is still descent's: every variant is rendered
    again, and a file a still-valid entry lists may be replaced (fit_lr0.2's truncated mp4). But a file of the
    bad entry's names that its sealed sidecar no longer vouches for (a picture of the user's) is refused."""
    m = json.loads((folder / "manifest.json").read_text())
    m["variants"]["fit_lr0.1"] = "oops"
    (folder / "manifest.json").write_text(json.dumps(m))
    mp4 = folder / "fit_lr0.2.mp4"
    mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    poster = folder / "fit_lr0.1.png"
    was = poster.read_bytes()
    a_png(poster)
    before = contents(folder)
    r = CliRunner().invoke(cli, [*BATCH, "--out-dir", str(folder)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and repr(str(poster)) in lines[0] and "move the file" in lines[0], r.stderr
    assert contents(folder) == before
    poster.write_bytes(was)  # descent's own poster again: its sidecar vouches for it
    r = CliRunner().invoke(cli, [*BATCH, "--out-dir", str(folder)])
    assert r.exit_code == 0, r.output
    assert probe(mp4)["frames"] == json.loads((folder / "fit_lr0.2.json").read_text())["video"]["frames"]
    assert set(json.loads((folder / "manifest.json").read_text())["variants"]) == {"fit_lr0.1", "fit_lr0.2"}


# -- a file of the set's name that appears while the set renders, or that an old sidecar cannot vouch for ----
@pytest.mark.parametrize(("frames", "name"), [(False, "lab.png"), (False, "lab.transcript.md"), (True, "lab_end.png")])
def test_a_users_file_that_appears_while_rendering_is_refused_and_kept(tmp_path, monkeypatch, frames, name):
    """The folder is checked before rendering and again just before publishing: a photo the user saves as
    ``lab.png`` while the clip renders (the folder's lock binds descent runs, not the user) is not replaced."""
    from descent.outputs import clip
    from descent.outputs.clip import NotOurs

    out = tmp_path / "o"
    out.mkdir()
    stage = "stage_frames" if frames else "stage_clip"
    real = getattr(clip, stage)

    saved = {}

    def then_the_user_saves(*args, **kw):
        staged = real(*args, **kw)
        a_png(out / name) if name.endswith(".png") else (out / name).write_text("my own notes\n")
        saved[name] = (out / name).read_bytes(), (out / name).stat().st_mtime_ns
        return staged

    monkeypatch.setattr(clip, stage, then_the_user_saves)
    with pytest.raises(NotOurs, match=re.escape(name)):
        tiny(out, frames=frames)
    assert sorted(os.listdir(out)) == [name]
    assert saved[name] == ((out / name).read_bytes(), (out / name).stat().st_mtime_ns)


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_an_old_sidecar_vouches_for_no_link_or_fifo(own, tmp_path, kind):
    """A sidecar from before the records vouches for the regular files of its set's names, never for a
    symlink ``lab.png`` to the user's photo elsewhere (descent publishes regular files only) or a FIFO."""
    side = own / "lab.json"
    meta = json.loads(side.read_text())
    side.write_text(json.dumps({k: v for k, v in meta.items() if k not in ("checks", "self_sha256")}, indent=1))
    photo = tmp_path / "photo.png"
    a_png(photo)
    (own / "lab.png").unlink()
    if kind == "symlink":
        (own / "lab.png").symlink_to(photo)
    else:
        os.mkfifo(own / "lab.png")
    before = {p.name: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in own.iterdir()}
    r = CliRunner().invoke(cli, ["render", "--steps", "2", "--name", "lab", "--out-dir", str(own), *QUICK])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and repr(str(own / "lab.png")) in lines[0], r.output
    assert {p.name: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in own.iterdir()} == before
    assert (own / "lab.png").is_symlink() == (kind == "symlink")


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_batch_replaces_no_link_or_fifo_of_a_listed_name(folder, tmp_path, kind):
    """The manifest lists fit_lr0.1.png, but what is there now is a symlink to the user's photo elsewhere (or
    a FIFO): descent published a regular file, so this one is the user's: refused, the folder as it was."""
    photo = tmp_path / "photo.png"
    a_png(photo)
    (folder / "fit_lr0.1.png").unlink()
    if kind == "symlink":
        (folder / "fit_lr0.1.png").symlink_to(photo)
    else:
        os.mkfifo(folder / "fit_lr0.1.png")
    before = {p.name: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in folder.iterdir()}
    r = CliRunner().invoke(cli, [*BATCH, "--out-dir", str(folder)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and repr(str(folder / "fit_lr0.1.png")) in lines[0] and "move it" in lines[0], r.stderr
    assert {p.name: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in folder.iterdir()} == before
    assert (folder / "fit_lr0.1.png").is_symlink() == (kind == "symlink")


def test_a_users_file_saved_while_a_batch_renders_is_kept(tmp_path, monkeypatch):
    # proven free before rendering, taken by the user meanwhile: that clip is not published, the rest is
    import descent.batch as batch

    real = batch.render_variant

    def render_while_the_user_saves(job):  # the worker is forked: it runs this
        if job["name"] == "fit_lr0.1":
            (Path(job["work"]).parent / "fit_lr0.2.png").write_bytes(b"the user's own picture")
        return real(job)

    monkeypatch.setattr(batch, "render_variant", render_while_the_user_saves)
    fast = {"descent_seconds": 1.0, "intro_seconds": 0.4, "hold_seconds": 0.4}
    options = batch.BatchOptions(base=Config(steps=4), quality="l", fps=10, scene_options=fast)
    out = tmp_path / "out"
    res = batch.run_batch([0.1, 0.2], options, out_dir=out, jobs=1, compare=False, progress=False)
    assert (out / "fit_lr0.2.png").read_bytes() == b"the user's own picture"
    assert not (out / "fit_lr0.2.mp4").exists()  # none of that clip's set
    assert (out / "fit_lr0.1.mp4").exists()
    [failed] = res.failures
    assert failed["name"] == "fit_lr0.2" and "while the batch rendered" in failed["reason"], failed
