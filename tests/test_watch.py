"""``descent watch``: a save renders again, a bad edit is one line, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from descent.watch import DEBOUNCE_SECONDS, WatchSpec, _Changes, changed_keys

ROOT = Path(__file__).resolve().parents[1]
TINY = ["-q", "l", "--fps", "10", "--duration", "1", "--quiet"]
WAIT = 180  # seconds: a loaded 2-core machine renders slowly; no timing is asserted


class Watcher:
    """``descent watch`` as a subprocess, its output lines collected as they come."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.tmpdir = tmp / "tmp"
        self.tmpdir.mkdir()
        env = {**os.environ, "TMPDIR": str(self.tmpdir), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "descent", "watch", *args],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _read(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def wait_for(self, sink: list[str], needle: str, count: int = 1) -> list[str]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            hits = [line for line in list(sink) if needle in line]
            if len(hits) >= count:
                return hits
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"no {count}× {needle!r}; stdout {self.out}, stderr {self.err}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def save_in_place(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def save_by_rename(path: Path, text: str) -> None:
    """As vim, gedit or VS Code's safe write do: a temporary file renamed over the original."""
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(text)
    os.replace(tmp, path)


def sidecar_lr(out: Path) -> float:
    return json.loads((out / "lab.json").read_text())["config"]["lr"]


def no_leftovers(tmp: Path, out: Path, w: Watcher) -> None:
    names = sorted(os.listdir(out))
    assert not [n for n in names if n.startswith(".descent")], names  # no work folder, no lock
    # Manim's scratch folders are gone (torch keeps a cache of its own there, torchinductor_USER)
    left = [n for n in os.listdir(w.tmpdir) if not n.startswith("torchinductor_")]
    assert left == [], left
    assert not any("Traceback" in line for line in w.err), w.err


@pytest.mark.xdist_group("watch")
def test_watch_renders_each_save_survives_a_bad_edit_and_stops_cleanly(tmp_path):
    cfg, out = tmp_path / "lab.toml", tmp_path / "out"
    cfg.write_text("lr = 0.1\nsteps = 3\n")
    w = Watcher(tmp_path, "lab.toml", *TINY, "--out-dir", "out")
    try:
        w.wait_for(w.out, "rendered lab.mp4")
        assert sidecar_lr(out) == 0.1

        save_in_place(cfg, "lr = 0.2\nsteps = 3\n")
        hit = w.wait_for(w.out, "rendered lab.mp4", 2)[-1]
        assert "changed lr 0.1 → 0.2" in hit
        assert sidecar_lr(out) == 0.2

        save_in_place(cfg, "lr = -1\nsteps = 3\n")  # a bad edit: one line, and the watch goes on
        err = w.wait_for(w.err, "descent: error:")
        assert len(err) == 1 and "lr" in err[0] and "still watching" in err[0]
        assert sidecar_lr(out) == 0.2  # the last good clip stands

        save_by_rename(cfg, "lr = 0.25\nsteps = 3\n")  # the next good one is rendered
        hit = w.wait_for(w.out, "rendered lab.mp4", 3)[-1]
        assert "changed lr 0.2 → 0.25" in hit
        assert sidecar_lr(out) == 0.25
    finally:
        code = w.interrupt()
    assert code in (0, 130), (code, w.err)
    assert "descent: stopped watching" in w.err
    assert sorted(os.listdir(out)) == sorted(p for p in os.listdir(out) if p.startswith("lab."))
    no_leftovers(tmp_path, out, w)


@pytest.mark.xdist_group("watch")
def test_ctrl_c_during_a_render_leaves_the_last_clip_and_no_temporary_file(tmp_path):
    cfg, out = tmp_path / "lab.toml", tmp_path / "out"
    cfg.write_text("lr = 0.1\nsteps = 3\n")
    w = Watcher(tmp_path, "lab.toml", "-q", "l", "--fps", "10", "--duration", "6", "--out-dir", "out", "--frames")
    try:
        w.wait_for(w.out, "rendered 5 key frames")
        before = {n: (out / n).read_bytes() for n in os.listdir(out) if n != ".descent.watch.lock"}  # the claim
        assert sorted(before) == [f"lab_{r}.png" for r in sorted(["start", "third", "two_thirds", "end", "poster"])]
        save_by_rename(cfg, "lr = 0.3\nsteps = 3\n")
        w.wait_for(w.err, "lab")  # the progress bar of the new render: it has started
    finally:
        code = w.interrupt()
    assert code in (0, 130), (code, w.err)
    after = {n: (out / n).read_bytes() for n in os.listdir(out)}
    assert after == before  # the stopped render published nothing
    no_leftovers(tmp_path, out, w)


def test_watch_refuses_bad_arguments(tmp_path):
    from click.testing import CliRunner

    from descent.cli.main import cli

    (tmp_path / "t.toml").write_text("lr = 0.1\n")
    cases = [
        ([], "give a CONFIG.toml"),
        ([str(tmp_path / "missing.toml")], "no file"),
        ([str(tmp_path / "t.toml"), "--scene", "compare"], "several runs"),
    ]
    for args, needle in cases:
        r = CliRunner().invoke(cli, ["watch", *args])
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], r.output


def test_a_burst_of_events_is_one_change_and_renames_count(tmp_path):
    """The debouncer: a rename onto the file is a change; a burst settles into one; other files are ignored."""
    target = tmp_path / "lab.toml"
    changes = _Changes([target])

    class Event:
        def __init__(self, kind, src, dest=None):
            self.event_type, self.src_path, self.dest_path = kind, str(src), str(dest) if dest else ""

    changes.dispatch(Event("modified", tmp_path / "other.toml"))
    assert changes.wait(0.05) is None
    changes.dispatch(Event("created", tmp_path / ".lab.toml.swp"))
    changes.dispatch(Event("moved", tmp_path / ".lab.toml.swp", target))
    for _ in range(3):
        changes.dispatch(Event("modified", target))
    began = changes.wait(1.0)
    assert began is not None and time.monotonic() - began >= DEBOUNCE_SECONDS
    assert changes.wait(0.05) is None  # the burst was one change


def test_changed_keys_and_names():
    assert changed_keys(None, {"lr": 0.1}) == []
    assert changed_keys({"lr": 0.1, "steps": 15, "batch_size": None}, {"lr": 0.1, "steps": 20, "batch_size": 8}) == [
        "steps 15 → 20",
        "batch_size none → 8",
    ]
    assert WatchSpec(config_file=Path("my lab.toml")).out_name == "my_lab"


def test_kept_text_outlines_are_the_texts_own():
    """Kept outlines (the watcher, batch and Dask workers) give each Text exactly what parsing its SVG gives, and no
    two Texts share an array (run in a child: the change is to that process's Manim)."""
    script = r"""
import tempfile
import numpy as np
from manim import Text, tempconfig
from descent.outputs.warm import keep_text_outlines

def build(s):
    t = Text(s, font="DejaVu Sans", font_size=30, color="#FF8800")
    return [(m.points.copy(), m.fill_rgbas.copy()) for m in t.family_members_with_points()], t

with tempconfig({"media_dir": tempfile.mkdtemp()}):
    plain, _ = build("w = −1.5  loss 0.12")
    keep_text_outlines()
    first, a = build("w = −1.5  loss 0.12")
    again, b = build("w = −1.5  loss 0.12")
    for got in (first, again):
        assert len(got) == len(plain)
        for (p, c), (q, d) in zip(got, plain):
            assert np.array_equal(p, q) and np.array_equal(c, d)
    a.shift([1, 0, 0]).set_color("#00FF00")  # changing one copy leaves the next alone
    third, _ = build("w = −1.5  loss 0.12")
    assert all(np.array_equal(p, q) and np.array_equal(c, d) for (p, c), (q, d) in zip(third, plain))
    other, _ = build("b = 2")
    assert len(other) != len(plain)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr


@pytest.mark.xdist_group("watch")
def test_a_symlinked_config_is_rendered_again_when_the_file_it_points_to_is_edited(tmp_path):
    """``lab.toml -> elsewhere/real.toml``: the save happens in the other folder, and is seen."""
    (tmp_path / "elsewhere").mkdir()
    real, out = tmp_path / "elsewhere" / "real.toml", tmp_path / "out"
    real.write_text("lr = 0.1\nsteps = 3\n")
    (tmp_path / "lab.toml").symlink_to(Path("elsewhere") / "real.toml")
    w = Watcher(tmp_path, "lab.toml", *TINY, "--out-dir", "out")
    try:
        w.wait_for(w.out, "rendered lab.mp4")
        save_in_place(real, "lr = 0.2\nsteps = 3\n")
        hit = w.wait_for(w.out, "rendered lab.mp4", 2)[-1]
        assert "changed lr 0.1 → 0.2" in hit
        assert sidecar_lr(out) == 0.2
    finally:
        code = w.interrupt()
    assert code in (0, 130), (code, w.err)
    no_leftovers(tmp_path, out, w)


def test_watch_refuses_to_render_over_the_file_it_watches(tmp_path):
    """A render's outputs never replace the watched file (``lab.json`` and its sidecar, a trace and its frames)."""
    from click.testing import CliRunner

    from descent.cli.main import cli

    cfg = tmp_path / "lab.json"  # TOML, whatever its name: the clip's sidecar would be lab.json too
    cfg.write_text("lr = 0.1\nsteps = 3\n")
    odd = tmp_path / "run_poster.png"  # a trace named like a key frame of the set named run
    odd.write_text("{}")
    cases = [
        [str(cfg), "--out-dir", str(tmp_path)],
        ["--trace", str(odd), "--name", "run", "--frames", "--out-dir", str(tmp_path)],
    ]
    for args in cases:
        r = CliRunner().invoke(cli, ["watch", *args])
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and "the watched file itself" in lines[0], r.output
    assert cfg.read_text() == "lr = 0.1\nsteps = 3\n" and odd.read_text() == "{}"


@pytest.mark.xdist_group("watch")
def test_a_config_replaced_by_a_directory_is_said_so_and_its_return_is_rendered(tmp_path):
    cfg, out = tmp_path / "lab.toml", tmp_path / "out"
    cfg.write_text("lr = 0.1\nsteps = 3\n")
    w = Watcher(tmp_path, "lab.toml", *TINY, "--out-dir", "out", "--frames")
    try:
        w.wait_for(w.out, "rendered 5 key frames")
        cfg.unlink()
        cfg.mkdir()
        err = w.wait_for(w.err, "lab.toml")[-1]
        assert "is a directory" in err, w.err  # not 'waiting for it to exist': it does
        cfg.rmdir()
        cfg.write_text("lr = 0.2\nsteps = 3\n")
        w.wait_for(w.out, "rendered 5 key frames", 2)
    finally:
        code = w.interrupt()
    assert code in (0, 130), (code, w.err)
    no_leftovers(tmp_path, out, w)


@pytest.mark.xdist_group("watch")
def test_a_second_watcher_of_the_folder_is_refused_and_a_killed_one_blocks_nothing(tmp_path):
    """One writer per output folder: while a watcher runs, a second one (another config, the same
    --out-dir) exits 2 with one line naming it, and the first goes on; once the first is killed
    (kill -9: no clean-up), the next watcher starts as usual."""
    out = tmp_path / "out"
    for d in ("a", "b", "c"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "lab.toml").write_text("lr = 0.1\nsteps = 3\n")
    first = Watcher(tmp_path / "a", "lab.toml", *TINY, "--out-dir", str(out))
    try:
        first.wait_for(first.out, "rendered lab.mp4")
        second = Watcher(tmp_path / "b", "lab.toml", *TINY, "--out-dir", str(out), "--name", "other")
        try:
            code = second.proc.wait(timeout=WAIT)
        finally:
            if second.proc.poll() is None:
                second.proc.kill()
        deadline = time.monotonic() + 30  # the reader threads get the last lines (a bound, not a timing)
        while not second.err and time.monotonic() < deadline:
            time.sleep(0.05)
        assert code == 2 and second.out == [], (code, second.out, second.err)
        assert len(second.err) == 1 and f"already watched by pid {first.proc.pid}" in second.err[0], second.err
        assert not (out / "other.mp4").exists()
        save_in_place(tmp_path / "a" / "lab.toml", "lr = 0.2\nsteps = 3\n")  # the first keeps watching
        assert "changed lr 0.1 → 0.2" in first.wait_for(first.out, "rendered lab.mp4", 2)[-1]
    finally:
        first.proc.kill()  # kill -9: the claim is not released by the watcher itself
        first.proc.wait(timeout=60)
    third = Watcher(tmp_path / "c", "lab.toml", *TINY, "--out-dir", str(out))
    try:
        third.wait_for(third.out, "rendered lab.mp4")
    finally:
        code = third.interrupt()
    assert code in (0, 130), (code, third.err)
    no_leftovers(tmp_path / "c", out, third)
