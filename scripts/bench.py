"""Benchmark the renders: ratios measured in one run, so a noisy shared machine
affects both sides of every ratio alike.

Usage::

    python scripts/bench.py            # all sections
    python scripts/bench.py --only fit --out media/bench.json

Sections
--------
fit       the default FitScene at 480p15, 720p30 and 1080p60: frames, wall
          seconds, frames per second, and the ratio to encoding the same
          frames alone with PyAV at identical settings (target at 1080p60:
          at most 1.25); plus a cold ``descent render -q l`` (target: 5 s).
surface   the default SurfaceScene against FitScene at 720p30 (target: 2×).
cold      a cold ``descent render -q l`` broken into interpreter start, imports,
          training, scene building, frames and encoding (and ``descent --help``).
watch     ``descent watch``: from a save to the new clip in place at 480p15,
          against a cold ``descent render -q l`` of the same config (target: 0.35×).
k         the fit scene at 2160p60: frames per second, ratio to encoding alone.
batch     4 variants at 720p30 with 2 workers against one after another in
          one process (target: 0.75×).
sweep     8 variants (optimizer × lr) at 480p15: the local pool of 2 against one after another
          (target: 0.6×), ``--scheduler local:2`` against the pool (target: 1.15×); the pool's wall
          time for 8, 16 and 32 variants and the cost per variant. One run each, fresh processes.
lesson    the whole lesson at 1080p60 (chapters in 2 worker processes, joined
          without re-encoding) against encoding its frames alone (target: 1.3×),
          and at 480p15 its chapters side by side against one after another.
          One run each (the 1080p60 lesson takes minutes).
voice     what narration adds: lesson chapters 1–2 and a fit clip at 720p30 narrated
          by espeak-ng against the silent render of the same beats (the same
          frames); the faster of two runs each, in turn (target: +15 %).

Each figure is the best of three runs (noise on a shared machine only ever
adds time). Prints a Markdown table for the README and writes every figure
to JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUALITY = {"480p15": "l", "720p30": "m", "1080p60": "h"}


def encode_only_seconds(mp4: Path, preset: str = "veryfast") -> tuple[float, int]:
    """Time encoding the clip's own frames with PyAV at the settings manim used.

    Frames are decoded from the rendered clip and turned back into RGBA arrays
    (as manim hands them over); only building the frames and encoding is timed.
    """
    import av

    with av.open(str(mp4)) as src:
        s = src.streams.video[0]
        width, height, rate = s.width, s.height, s.average_rate
        frames = [f.to_ndarray(format="rgba") for f in src.decode(s)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with av.open(os.path.join(tmp, "x.mp4"), mode="w") as out:
            st = out.add_stream("libx264", rate=Fraction(rate), options={"preset": preset, "crf": "23"})
            st.width, st.height, st.pix_fmt = width, height, "yuv420p"
            for arr in frames:
                for packet in st.encode(av.VideoFrame.from_ndarray(arr, format="rgba")):
                    out.mux(packet)
            for packet in st.encode():
                out.mux(packet)
        return time.perf_counter() - t0, len(frames)


def encode_only_streaming(mp4: Path, preset: str = "veryfast") -> tuple[float, int]:
    """Like :func:`encode_only_seconds` for clips too long to hold in memory: frames are
    decoded one at a time and only the encoder's calls are timed."""
    import av

    with av.open(str(mp4)) as src, tempfile.TemporaryDirectory() as tmp:
        s = src.streams.video[0]
        with av.open(os.path.join(tmp, "x.mp4"), mode="w") as out:
            st = out.add_stream("libx264", rate=Fraction(s.average_rate), options={"preset": preset, "crf": "23"})
            st.width, st.height, st.pix_fmt = s.width, s.height, "yuv420p"
            spent, n = 0.0, 0
            for f in src.decode(s):
                arr = f.to_ndarray(format="rgba")
                t0 = time.perf_counter()
                for packet in st.encode(av.VideoFrame.from_ndarray(arr, format="rgba")):
                    out.mux(packet)
                spent += time.perf_counter() - t0
                n += 1
            t0 = time.perf_counter()
            for packet in st.encode():
                out.mux(packet)
            spent += time.perf_counter() - t0
    return spent, n


REPEATS = 3  # each figure is the best of this many: noise on a shared machine only ever adds time


def best_of(fn, repeats: int | None = None):
    """Run ``fn`` (returning (seconds, extra)) several times; keep the fastest."""
    runs = [fn() for _ in range(repeats or REPEATS)]
    return min(runs, key=lambda r: r[0])


def bench_fit(tmp: Path) -> dict:
    from descent.outputs.clip import render
    from descent.trainer import Config, train

    trace = train(Config())
    rows = []
    for label, q in QUALITY.items():

        def once(q=q, label=label):
            t0 = time.perf_counter()
            res = render(trace, "fit", quality=q, out_dir=tmp / label, progress=False)
            return time.perf_counter() - t0, res

        wall, res = best_of(once)
        enc, frames = best_of(lambda res=res: encode_only_seconds(res.mp4))
        rows.append(
            {
                "clip": f"fit {label}",
                "frames": frames,
                "wall_s": round(wall, 3),
                "fps": round(frames / wall, 1),
                "encode_only_s": round(enc, 3),
                "ratio": round(wall / enc, 3),
            }
        )
        print(
            f"  fit {label}: {frames} frames in {wall:.2f} s ({frames / wall:.0f} fps); encode alone "
            f"{enc:.2f} s; ratio {wall / enc:.2f}",
            flush=True,
        )

    # cold: a fresh process, as a user runs it
    def cold_once():
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "descent", "render", "-q", "l", "--quiet", "--out-dir", str(tmp / "cold")],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - t0, None

    cold, _ = best_of(cold_once)
    print(f"  cold `descent render -q l`: {cold:.2f} s", flush=True)
    return {"rows": rows, "cold_render_480p15_s": round(cold, 3), "target_ratio_1080p60": 1.25, "target_cold_s": 5.0}


def bench_surface(tmp: Path) -> dict:
    from descent.outputs.clip import render
    from descent.trainer import Config, train

    trace = train(Config())
    out = {}
    for scene in ("fit", "surface"):

        def once(scene=scene):
            t0 = time.perf_counter()
            res = render(trace, scene, quality="m", out_dir=tmp / f"s-{scene}", progress=False)
            return time.perf_counter() - t0, res

        wall, res = best_of(once)
        out[scene] = {"wall_s": round(wall, 3), "frames": res.frames}
        print(f"  {scene} 720p30: {out[scene]['frames']} frames in {out[scene]['wall_s']:.2f} s", flush=True)
    out["ratio"] = round(out["surface"]["wall_s"] / out["fit"]["wall_s"], 3)
    out["target_ratio"] = 2.0
    print(f"  surface / fit: {out['ratio']:.2f}", flush=True)
    return out


def bench_batch(tmp: Path) -> dict:
    from descent.batch import run_batch, serial_baseline

    lrs = [0.05, 0.1, 0.2, 0.3]

    def serial_once():
        t0 = time.perf_counter()
        serial_baseline(lrs, quality="m", out_dir=tmp / "serial")
        return time.perf_counter() - t0, None

    def parallel_once():
        t0 = time.perf_counter()
        run_batch(lrs, quality="m", out_dir=tmp / "parallel", jobs=2, compare=False, force=True, progress=False)
        return time.perf_counter() - t0, None

    serial, _ = best_of(serial_once)
    parallel, _ = best_of(parallel_once)
    print(
        f"  batch of 4 at 720p30: one process {serial:.2f} s, 2 workers {parallel:.2f} s, "
        f"ratio {parallel / serial:.2f}",
        flush=True,
    )
    return {
        "variants": len(lrs),
        "serial_s": round(serial, 3),
        "parallel_s": round(parallel, 3),
        "ratio": round(parallel / serial, 3),
        "target_ratio": 0.75,
    }


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bench_sweep(tmp: Path) -> dict:
    """Sweeps at 480p15 (fit, 15 steps): 8 variants one after another (``--jobs 1``: one worker), with the
    local pool of 2 workers and through ``--scheduler local:2``; then the pool's wall time for 8, 16 and 32 variants.
    Each is a fresh ``descent batch`` process (imports, cluster start-up and all); one run each.

    Beside each wall time, the cores it kept busy (CPU seconds / wall seconds). The serial run already keeps
    ``c`` cores busy (x264's threads encode while Python paints), so on a machine of ``N`` cores a pool of 2
    doing the same CPU work cannot beat max(1/2, c/N) of it: that bound is printed with the ratio."""
    optimizers = "optimizer=sgd,momentum,nesterov,adam"
    cores = os.cpu_count() or 1

    def timed(args: list[str]) -> tuple[float, float]:
        cpu0, t0 = _children_cpu(), time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        return wall, (_children_cpu() - cpu0) / wall

    def batch(out: str, lrs: list[float], *extra: str) -> tuple[float, float]:
        args = [sys.executable, "-m", "descent", "batch", "--sweep", optimizers, "-q", "l", "--quiet", "--no-compare"]
        return timed([*args, *(f"--lr={lr}" for lr in lrs), "--force", "--out-dir", str(tmp / out), *extra])

    serial, serial_cores = batch("sweep_serial", [0.05, 0.1], "--jobs", "1")  # the same command, one worker
    pool, pool_cores = batch("sweep_pool", [0.05, 0.1], "--jobs", "2")
    dask, dask_cores = batch("sweep_dask", [0.05, 0.1], "--scheduler", "local:2")
    # two workers can each keep as many cores busy as the serial run did, if the machine has them: the best
    # a pool of 2 can do is half the serial's time, or its cores over the machine's (same CPU seconds assumed)
    bound = max(0.5, min(1.0, serial_cores / cores))
    print(
        f"  8 variants 480p15: serial {serial:.1f} s ({serial_cores:.2f} cores busy), "
        f"pool of 2 {pool:.1f} s ({pool / serial:.2f}×, {pool_cores:.2f} cores; on {cores} cores no pool of 2 "
        f"beats {bound:.2f}×), local:2 {dask:.1f} s ({dask / pool:.2f}× the pool, {dask_cores:.2f} cores)",
        flush=True,
    )
    scaling = {8: pool}
    for n, lrs in ((16, [0.02, 0.05, 0.1, 0.2]), (32, [0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2])):
        scaling[n] = batch(f"sweep_pool_{n}", lrs, "--jobs", "2")[0]
    for n, wall in scaling.items():
        print(f"  {n} variants, pool of 2: {wall:.1f} s, {wall / n:.2f} s per variant", flush=True)
    return {
        "serial_8_s": round(serial, 2),
        "pool_8_s": round(pool, 2),
        "dask_local2_8_s": round(dask, 2),
        "cores_busy": {"serial": round(serial_cores, 2), "pool": round(pool_cores, 2), "dask": round(dask_cores, 2)},
        "pool_ratio": round(pool / serial, 3),
        "pool_ratio_bound": round(bound, 3),
        "dask_ratio": round(dask / pool, 3),
        "scaling": {str(n): {"wall_s": round(w, 2), "per_variant_s": round(w / n, 3)} for n, w in scaling.items()},
        "targets": {"pool_ratio": 0.6, "dask_ratio": 1.15},
    }


def bench_lesson(tmp: Path) -> dict:
    from descent.lesson import lesson_runs, render_lesson

    runs = lesson_runs()

    def once(quality: str, jobs: int, out: str) -> tuple[float, object]:
        t0 = time.perf_counter()
        res = render_lesson(runs, quality=quality, out_dir=tmp / out, jobs=jobs, progress=False)
        return time.perf_counter() - t0, res

    wall, res = once("h", 2, "lesson-h")
    enc, frames = encode_only_streaming(res.mp4)
    print(
        f"  lesson 1080p60: {frames} frames ({res.duration:.0f} s) in {wall:.1f} s; encode alone {enc:.1f} s; "
        f"ratio {wall / enc:.2f}",
        flush=True,
    )
    serial, _ = once("l", 1, "lesson-l1")
    parallel, _ = once("l", 2, "lesson-l2")
    print(f"  lesson 480p15: chapters one after another {serial:.1f} s, 2 workers {parallel:.1f} s", flush=True)
    return {
        "frames_1080p60": frames,
        "wall_1080p60_s": round(wall, 3),
        "encode_only_1080p60_s": round(enc, 3),
        "ratio_1080p60": round(wall / enc, 3),
        "target_ratio": 1.3,
        "serial_480p15_s": round(serial, 3),
        "parallel_480p15_s": round(parallel, 3),
        "parallel_ratio": round(parallel / serial, 3),
    }


def bench_voice(tmp: Path, runs=None) -> dict:
    """What the voice adds: a narrated render against the silent render of the same clip (the same
    beats, so the same frames), each the faster of two runs taken in turn."""
    from descent import render, render_lesson
    from descent.lesson import lesson_runs
    from descent.narrate import prepare_narration, render_narrated
    from descent.trainer import Config, train

    runs = runs or lesson_runs()
    first = render_lesson(runs, quality="m", chapters="1,2", out_dir=tmp / "v0", voice="espeak", progress=False)
    timed_script = json.loads(first.sidecar.read_text())["script"]  # the beats as long as the voice made them

    import descent.lesson as lesson_module
    from descent.scenes.script import Script

    timed = Script.from_dict(timed_script)
    own_script = lesson_module._script_for

    def lesson(voiced: bool, k: int) -> float:
        # silent: the voiced lesson's beats exactly (an edited script could only lengthen them)
        lesson_module._script_for = own_script if voiced else (lambda _runs, _edited: timed)
        try:
            t0 = time.perf_counter()
            res = render_lesson(
                runs,
                quality="m",
                chapters="1,2",
                out_dir=tmp / f"lv{k}{voiced}",
                progress=False,
                voice="espeak" if voiced else None,
            )
            seconds = time.perf_counter() - t0
        finally:
            lesson_module._script_for = own_script
        assert res.frames == first.frames, "the silent lesson must have the voiced lesson's frames"
        return seconds

    trace = train(Config())
    options = prepare_narration([trace], "fit", voice="espeak").options

    def fit(voiced: bool, k: int) -> float:
        t0 = time.perf_counter()
        if voiced:
            render_narrated(trace, "fit", voice="espeak", quality="m", out_dir=tmp / f"fv{k}", progress=False)
        else:
            render(trace, "fit", scene_options=options, quality="m", out_dir=tmp / f"fs{k}", progress=False)
        return time.perf_counter() - t0

    out = {}
    for label, fn in (("lesson ch. 1-2", lesson), ("fit", fit)):
        silent = voiced = math.inf
        for k in range(2):
            silent = min(silent, fn(False, k))
            voiced = min(voiced, fn(True, k))
        share = voiced / silent - 1
        key = "voice" if label.startswith("lesson") else "fit_voice"
        out.update(
            {f"{key}_silent_s": round(silent, 3), f"{key}_voiced_s": round(voiced, 3), f"{key}_share": round(share, 3)}
        )
        print(
            f"  {label} 720p30: silent {silent:.1f} s, narrated by espeak {voiced:.1f} s: +{100 * share:.0f} %",
            flush=True,
        )
    out["target_voice_share"] = 0.15
    return out


# -- the cold path, watch, 2160p60 -------------------------------------------------------
COLD_DRIVER = r"""
import json, sys, time
marks = [("interpreter start", time.time())]
import numpy  # noqa: F401
marks.append(("import numpy", time.time()))
import torch  # noqa: F401
marks.append(("import torch", time.time()))
import manim  # noqa: F401
marks.append(("import manim", time.time()))
import descent.cli.main  # noqa: F401
from descent.scenes import scene_class
import descent.outputs.clip as clip
from manim.renderer.cairo_renderer import CairoRenderer
m = sys.modules["descent.cli.main"]
scene = scene_class(sys.argv[1])
marks.append(("import descent", time.time()))
spans = []
def timed(owner, attr, label):
    fn = getattr(owner, attr)
    def wrapper(*a, **k):
        t = time.time()
        try:
            return fn(*a, **k)
        finally:
            spans.append((label, t, time.time()))
    setattr(owner, attr, wrapper)
timed(m, "train", "training")
timed(scene, "setup", "scene building")
timed(scene, "construct", "frames (encoded alongside)")
timed(CairoRenderer, "scene_finished", "encoding: finish")
timed(clip, "faststart_remux", "remux, poster, sidecar, publish")
t = time.time()
m.cli.main(sys.argv[2:], standalone_mode=False)
marks.append(("render", time.time()))
print(json.dumps({"marks": marks, "spans": spans}))
"""


def bench_cold(tmp: Path) -> dict:
    """A cold ``descent render -q l`` broken into its parts.

    The real command is timed as a user runs it (best of three); one more run goes through
    a driver that imports numpy, torch, Manim and descent one after another, then calls the same command line with
    timestamps around training, scene building, the frames (the encoder runs alongside,
    in Manim's thread) and the rest; ``python -c pass`` gives the interpreter's start.
    In the real command Manim is imported in a thread while torch imports and trains, so
    the parts add up to more than the whole.
    """
    cfg = tmp / "cold.toml"
    cfg.write_text("lr = 0.1\n")

    def cold_once():
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "descent", "render", "-q", "l", "--quiet", "--config", str(cfg)]
            + ["--out-dir", str(tmp / "cold")],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - t0, None

    def bare_once():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        return time.perf_counter() - t0, None

    def help_once():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "descent", "--help"], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0, None

    cold, _ = best_of(cold_once)
    bare, _ = best_of(bare_once)
    helped, _ = best_of(help_once)
    parts = []
    driver = tmp / "cold_driver.py"
    driver.write_text(COLD_DRIVER)
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, str(driver), "fit", "render", "-q", "l", "--quiet", "--config", str(cfg)]
        + ["--out-dir", str(tmp / "cold-driver")],
        cwd=tmp,
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    prev = t0
    for label, at in data["marks"]:
        if label == "render":
            break
        parts.append({"part": label, "s": round(at - prev, 3)})
        prev = at
    spans = {}
    for label, a, b in data["spans"]:
        spans[label] = spans.get(label, 0.0) + (b - a)
    for label, secs in spans.items():
        parts.append({"part": label, "s": round(secs, 3)})
    for p in parts:
        print(f"  cold path: {p['part']:<32} {p['s']:6.2f} s", flush=True)
    print(
        f"  cold `descent render -q l`: {cold:.2f} s; `python -c pass` {bare:.2f} s; `descent --help` {helped:.2f} s",
        flush=True,
    )
    return {
        "cold_render_480p15_s": round(cold, 3),
        "python_start_s": round(bare, 3),
        "help_s": round(helped, 3),
        "parts": parts,
    }


def bench_watch(tmp: Path, edits: int = 3) -> dict:
    """``descent watch``: from a save to the new clip in place, against a cold ``descent render``.

    The watcher runs the lab config at 480p15; each edit changes lr in place and the clock
    stops when the clip's sidecar (published with the mp4 and the poster as one set) holds
    the new value. The best of ``edits`` saves against the best of three cold renders of the
    same config (target: 0.35×).
    """
    cfg = tmp / "lab.toml"
    cfg.write_text("lr = 0.1\n")
    out = tmp / "watch"

    def cold_once():
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "descent", "render", "-q", "l", "--quiet", "--config", str(cfg)]
            + ["--out-dir", str(tmp / "watch-cold"), "--name", "lab"],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - t0, None

    cold, _ = best_of(cold_once)
    proc = subprocess.Popen(
        [sys.executable, "-m", "descent", "watch", str(cfg), "-q", "l", "--quiet", "--out-dir", str(out)],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    sidecar = out / "lab.json"

    def lr_now() -> float | None:
        try:
            return json.loads(sidecar.read_text())["config"]["lr"]
        except (OSError, ValueError, KeyError):
            return None

    times = []
    try:
        proc.stdout.readline()  # watching …
        proc.stdout.readline()  # the first render
        for i in range(edits):
            lr = round(0.11 + 0.01 * i, 3)
            time.sleep(3.0)  # between saves, as a person looks at the clip (the watcher prepares meanwhile)
            t0 = time.perf_counter()
            cfg.write_text(f"lr = {lr}\n")
            while lr_now() != lr:
                if time.perf_counter() - t0 > 120:
                    raise RuntimeError("the watcher did not render the edit")
                time.sleep(0.005)
            times.append(time.perf_counter() - t0)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    best = min(times)
    print(
        f"  watch, save → new clip at 480p15: {best:.2f} s (saves: {', '.join(f'{t:.2f}' for t in times)}); "
        f"cold render {cold:.2f} s; ratio {best / cold:.2f}",
        flush=True,
    )
    return {
        "watch_s": round(best, 3),
        "watch_runs_s": [round(t, 3) for t in times],
        "cold_s": round(cold, 3),
        "ratio": round(best / cold, 3),
        "target_ratio": 0.35,
    }


def bench_k(tmp: Path) -> dict:
    """The fit scene at 2160p60: frames per second, and the ratio to encoding its frames alone."""
    from descent.outputs.clip import render
    from descent.trainer import Config, train

    trace = train(Config())

    def once():
        t0 = time.perf_counter()
        res = render(trace, "fit", quality="k", out_dir=tmp / "k", progress=False)
        return time.perf_counter() - t0, res

    wall, res = best_of(once, 1)  # one run: a 2160p60 clip takes minutes on 2 cores
    enc, frames = encode_only_streaming(res.mp4)
    print(
        f"  fit 2160p60: {frames} frames in {wall:.1f} s ({frames / wall:.1f} fps); encode alone {enc:.1f} s; "
        f"ratio {wall / enc:.2f}",
        flush=True,
    )
    return {
        "clip": "fit 2160p60",
        "frames": frames,
        "wall_s": round(wall, 3),
        "fps": round(frames / wall, 2),
        "encode_only_s": round(enc, 3),
        "ratio": round(wall / enc, 3),
    }


def markdown(results: dict) -> str:
    lines = ["| clip | frames | wall s | fps | encode-only s | ratio | target |", "|---|---:|---:|---:|---:|---:|---|"]
    fit = results.get("fit")
    if fit:
        for r in fit["rows"]:
            target = "≤ 1.25" if r["clip"].endswith("1080p60") else ""
            lines.append(
                f"| {r['clip']} | {r['frames']} | {r['wall_s']:.2f} | {r['fps']:.0f} | "
                f"{r['encode_only_s']:.2f} | {r['ratio']:.2f} | {target} |"
            )
        lines.append(f"| cold `descent render -q l` | | {fit['cold_render_480p15_s']:.2f} | | | | ≤ 5 s |")
    k = results.get("k")
    if k:
        lines.append(
            f"| {k['clip']} | {k['frames']} | {k['wall_s']:.1f} | {k['fps']:.1f} | {k['encode_only_s']:.1f} | "
            f"{k['ratio']:.2f} | |"
        )
    cold = results.get("cold")
    if cold:
        for p in cold["parts"]:
            lines.append(f"| cold path: {p['part']} | | {p['s']:.2f} | | | | |")
        lines.append(f"| cold `descent --help` | | {cold['help_s']:.2f} | | | | |")
    wat = results.get("watch")
    if wat:
        lines.append(
            f"| `descent watch`: save → new clip, 480p15 | | {wat['watch_s']:.2f} | | "
            f"{wat['cold_s']:.2f} (cold render) | {wat['ratio']:.2f} | ≤ 0.35 |"
        )
    sur = results.get("surface")
    if sur:
        lines.append(
            f"| surface 720p30 vs fit 720p30 | {sur['surface']['frames']} | {sur['surface']['wall_s']:.2f} "
            f"| | | {sur['ratio']:.2f} × fit | ≤ 2 × |"
        )
    bat = results.get("batch")
    if bat:
        lines.append(
            f"| batch 4 × 720p30, 2 workers vs serial | | {bat['parallel_s']:.2f} | | "
            f"{bat['serial_s']:.2f} (serial) | {bat['ratio']:.2f} | ≤ 0.75 |"
        )
    swp = results.get("sweep")
    if swp:
        lines.append(
            f"| sweep 8 × 480p15, pool of 2 vs serial | | {swp['pool_8_s']:.1f} | | "
            f"{swp['serial_8_s']:.1f} (serial) | {swp['pool_ratio']:.2f} | ≤ 0.6 |"
        )
        lines.append(
            f"| sweep 8 × 480p15, `--scheduler local:2` vs pool | | {swp['dask_local2_8_s']:.1f} | | "
            f"{swp['pool_8_s']:.1f} (pool) | {swp['dask_ratio']:.2f} | ≤ 1.15 |"
        )
        for n, row in swp["scaling"].items():
            per = f"{row['per_variant_s']:.2f} s/variant"
            lines.append(f"| sweep {n} × 480p15, pool of 2 | | {row['wall_s']:.1f} | | | {per} | |")
    les = results.get("lesson")
    if les:
        lines.append(
            f"| lesson 1080p60 (6 chapters, 2 workers) | {les['frames_1080p60']} | {les['wall_1080p60_s']:.1f} | "
            f"{les['frames_1080p60'] / les['wall_1080p60_s']:.0f} | {les['encode_only_1080p60_s']:.1f} | "
            f"{les['ratio_1080p60']:.2f} | ≤ 1.3 |"
        )
        lines.append(
            f"| lesson 480p15, 2 workers vs chapters in turn | | {les['parallel_480p15_s']:.1f} | | "
            f"{les['serial_480p15_s']:.1f} (serial) | {les['parallel_ratio']:.2f} | |"
        )
    voi = results.get("voice")
    if voi:
        lines.append(
            f"| lesson ch. 1–2 720p30 narrated by espeak, against silent | | {voi['voice_voiced_s']:.1f} | | "
            f"{voi['voice_silent_s']:.1f} (silent) | +{100 * voi['voice_share']:.0f} % | ≤ +15 % |"
        )
        lines.append(
            f"| fit 720p30 narrated by espeak, against silent | | {voi['fit_voice_voiced_s']:.1f} | | "
            f"{voi['fit_voice_silent_s']:.1f} (silent) | +{100 * voi['fit_voice_share']:.0f} % | ≤ +15 % |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--only",
        choices=["fit", "surface", "batch", "sweep", "lesson", "voice", "cold", "watch", "k"],
        action="append",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "media" / "bench.json")
    args = ap.parse_args()
    sections = args.only or ["fit", "surface", "batch", "lesson", "voice"]
    results: dict = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in sections:
            print(f"{name}:", flush=True)
            results[name] = globals()[f"bench_{name}"](Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print()
    print(f"{results['date']}, {results['machine']['cpus']} cores, {results['machine']['platform']}")
    print(markdown(results))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
