"""descent batch --scheduler: the same variants rendered on a Dask cluster, published by the same code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from descent.batch import FAULT_ENV, FAULT_MARK_ENV
from descent.cli.main import cli

pytest.importorskip("distributed")

QUICK = ["-q", "l", "--fps", "10", "--duration", "1", "--quiet"]
SWEEP = ["batch", "--lr", "0.1", "--lr", "0.2", "--steps", "4", "--no-compare"]


def _run(args):
    return CliRunner().invoke(cli, [*args, *QUICK])


def test_local_cluster_writes_the_same_bytes_as_the_local_pool(tmp_path):
    pool, dask = tmp_path / "pool", tmp_path / "dask"
    r = _run([*SWEEP, "--jobs", "2", "--out-dir", str(pool)])
    assert r.exit_code == 0, r.output
    r = _run([*SWEEP, "--scheduler", "local:2", "--out-dir", str(dask)])
    assert r.exit_code == 0, r.output
    for stem in ("fit_lr0.1", "fit_lr0.2"):
        assert (dask / f"{stem}.mp4").read_bytes() == (pool / f"{stem}.mp4").read_bytes(), stem
    a = json.loads((pool / "manifest.json").read_text())["variants"]
    b = json.loads((dask / "manifest.json").read_text())["variants"]
    assert a.keys() == b.keys()
    for name in a:
        assert a[name]["digest"] == b[name]["digest"] and a[name]["checks"]["mp4"] == b[name]["checks"]["mp4"]
    assert not [p for p in dask.iterdir() if p.name.startswith(".")]  # no work folder left behind
    # a rerun through the cluster renders nothing: the same resume
    r = _run([*SWEEP, "--scheduler", "local:2", "--out-dir", str(dask)])
    assert r.exit_code == 0 and "2 unchanged variant(s)" in r.output, r.output


def test_a_killed_worker_is_reported_and_the_sweep_goes_on(tmp_path):
    # lr 0.2 kills its worker every time: tried twice (the first try and one retry), then reported; the
    # other variants render. In a process of its own, as a user runs it (a pytest-xdist worker's Dask nannies
    # do not restart workers). Two deaths, not more: Dask's nanny was seen not to restart a worker that died
    # a third time within seconds, which no user's sweep does (the "no worker left" limit reports that case).
    deaths = tmp_path / "deaths"
    env = {**os.environ, FAULT_ENV: "kill@0.2", FAULT_MARK_ENV: str(deaths)}
    out = tmp_path / "o"
    args = ["batch", "--lr", "0.1", "--lr", "0.2", "--lr", "0.3", "--steps", "4", "--scheduler", "local:2"]
    r = subprocess.run(
        [sys.executable, "-m", "descent", *args, "--out-dir", str(out), *QUICK],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = r.stdout + r.stderr
    assert r.returncode == 1, output
    assert "FAILED" in output and "fit_lr0.2" in output and "worker died" in output
    assert deaths.read_text().split() == ["0.2", "0.2"]  # retried once, not more
    assert (out / "fit_lr0.1.mp4").is_file() and (out / "fit_lr0.3.mp4").is_file(), output
    assert not list(out.glob("fit_lr0.2*"))
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["variants"]) == {"fit_lr0.1", "fit_lr0.3"}
    assert m["compares"][0]["lrs"] == [0.1, 0.3]  # the comparison of the variants that rendered
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_and_nothing_written(tmp_path, monkeypatch):
    import descent.executors

    monkeypatch.setattr(descent.executors, "CONNECT_TIMEOUT", 2.0)
    monkeypatch.chdir(tmp_path)
    r = _run([*SWEEP, "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--out-dir", "out"])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error: cannot reach the Dask scheduler"), r.output
    assert os.listdir(".") == []


def test_workers_of_another_version_are_refused(tmp_path, monkeypatch):
    """Simulated: this machine claims another descent; the workers report the installed one."""
    import descent.executors

    real = descent.executors.versions()
    monkeypatch.setattr(descent.executors, "versions", lambda: {**real, "descent": "0.0.0-other"})
    monkeypatch.chdir(tmp_path)
    r = _run([*SWEEP, "--scheduler", "local:1", "--out-dir", "out"])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    assert "has descent " + real["descent"] in lines[0] and "this machine has descent 0.0.0-other" in lines[0]
    assert os.listdir(".") == []


_FAULTS = """
import resource, sys
import numpy as np
from descent.executors import _restore_malloc
if sys.argv[1] == "restore":
    _restore_malloc()
np.ones(1 << 17).sum()  # numpy's own first-use pages
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):  # a 1 MiB buffer made and freed, as a frame is (above malloc's mmap threshold, below huge pages)
    np.ones(1 << 17).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_dask_worker_reuses_its_frame_buffers_despite_the_nannys_malloc_setting():
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536; glibc then maps and unmaps every large
    # buffer again (page faults on every frame). dask_setup undoes that in each worker.
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    faults = {}
    for mode in ("as-dask-sets-it", "restore"):
        out = subprocess.run([sys.executable, "-c", _FAULTS, mode], env=env, capture_output=True, text=True, check=True)
        faults[mode] = int(out.stdout)
    assert faults["as-dask-sets-it"] > 50 * 200  # 256 pages a buffer, faulted in each time
    assert faults["restore"] < faults["as-dask-sets-it"] / 10, faults
