"""Learning-rate sweeps: render every variant in parallel, resumably, then publish.

The Python API behind ``descent batch``. Each variant (one learning rate) is
trained and rendered in a worker process — Manim's configuration is global to
a process — from a pool of long-lived workers that import torch and Manim
once and use one torch thread each. Each render works in its own temporary
media directory inside the output directory and moves finished files into
place, so nothing half-written ever stands under a final name.

``<out>/manifest.json`` records every finished variant with a hash of
everything that determines its files (config, scene, render options,
versions); a rerun renders only what is new or changed.

Examples
--------
>>> from descent.batch import lr_range
>>> lr_range("0.01:1:3")
[0.01, 0.1, 1.0]
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import os
import queue
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from descent.trainer import Config, ConfigError, Trace, atomic_write

__all__ = [
    "BatchOptions",
    "Variant",
    "BatchResult",
    "run_batch",
    "lr_range",
    "plan_variants",
    "serial_baseline",
    "MANIFEST",
    "FAULT_ENV",
]

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "descent.batch/1"
#: Test-only fault injection: "raise@LR" makes the worker raise, "kill@LR" kills it (comma-separated).
FAULT_ENV = "DESCENT_BATCH_FAULT"


def lr_range(spec: str) -> list[float]:
    """``"lo:hi:n"`` → n learning rates spaced evenly on a log scale from lo to hi."""
    parts = spec.split(":")
    if len(parts) != 3:
        raise ConfigError(f"--lr-range takes lo:hi:n, e.g. 0.01:0.5:8 (got {spec!r})")
    try:
        lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise ConfigError(f"--lr-range takes lo:hi:n with numbers, e.g. 0.01:0.5:8 (got {spec!r})") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= 0:
        raise ConfigError(f"--lr-range needs positive finite bounds (got {spec!r})")
    if not 1 <= n <= 64:
        raise ConfigError(f"--lr-range takes between 1 and 64 learning rates (got {n})")
    if hi < lo or (n > 1 and hi == lo):
        raise ConfigError(f"--lr-range needs lo < hi (got {spec!r})")
    if n == 1:
        return [lo]
    ratio = (hi / lo) ** (1 / (n - 1))
    return [float(f"{lo * ratio**i:.6g}") for i in range(n)]


@dataclass(frozen=True)
class BatchOptions:
    """Everything but the learning rate: shared by every variant."""

    base: Config = field(default_factory=Config)
    scene: str = "fit"
    quality: str = "l"
    fps: float | None = None
    theme: str = "dark"
    preset: str = "veryfast"
    scene_options: tuple = ()  # (key, value) pairs
    webm: bool = False
    gif: bool = False
    gif_max_bytes: int = 8_000_000
    prefix: str | None = None

    def render_dict(self) -> dict:
        return {
            "scene": self.scene,
            "quality": self.quality,
            "fps": self.fps,
            "theme": self.theme,
            "preset": self.preset,
            "scene_options": dict(self.scene_options),
            "webm": self.webm,
            "gif": self.gif,
            "gif_max_bytes": self.gif_max_bytes if self.gif else None,
        }


@dataclass(frozen=True)
class Variant:
    name: str
    config: Config
    options: BatchOptions
    digest: str

    def job(self, out_dir: Path) -> dict:
        return {
            "name": self.name,
            "config": self.config.to_dict(),
            "render": self.options.render_dict(),
            "out_dir": str(out_dir),
            "digest": self.digest,
        }


@dataclass
class BatchResult:
    out_dir: Path
    rows: list[dict]  # one per variant: name, lr, steps, final_loss, diverged_at, seconds, files, status
    failures: list[dict]
    compare: dict | None
    gallery: Path | None
    skipped: int

    @property
    def ok(self) -> bool:
        return not self.failures


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("descent", "manim", "torch", "numpy", "av"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def variant_name(options: BatchOptions, lr: float) -> str:
    from descent.scenes.helpers import safe_name

    stem = safe_name(options.prefix or options.scene)[:80]  # the lr part is never cut off
    return safe_name(f"{stem}_lr{lr:.10g}")


def plan_variants(lrs: Sequence[float], options: BatchOptions) -> list[Variant]:
    """One variant per distinct learning rate, with its name and the hash of what it depends on."""
    versions = _versions()
    out, seen = [], {}
    for lr in lrs:
        config = options.base.replace(lr=float(lr))
        name = variant_name(options, config.lr)
        if name in seen:
            if seen[name] == config.lr:
                continue  # the same lr twice: one variant
            raise ConfigError(f"learning rates {seen[name]!r} and {config.lr!r} would share the file name {name!r}")
        seen[name] = config.lr
        digest = _digest({"config": config.to_dict(), "render": options.render_dict(), "versions": versions})
        out.append(Variant(name, config, options, digest))
    return out


# -- the worker side ---------------------------------------------------------------------
def _preload() -> None:
    """Import torch and Manim (and nothing runs yet: no thread pools start on import)."""
    import manim  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (torch.optim's first step imports it: about 0.8 s)

    import descent.outputs.clip  # noqa: F401


def _worker_init() -> None:
    _preload()  # once per worker, not once per job (a no-op after a fork)
    import torch

    torch.set_num_threads(1)


def _inject_fault(lr: float) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    for item in filter(None, spec.split(",")):
        kind, _, at = item.partition("@")
        if at and math.isclose(float(at), lr, rel_tol=1e-9):
            if kind == "raise":
                raise RuntimeError(f"injected failure for lr {lr:g}")
            if kind == "kill":
                os._exit(9)


def render_variant(job: dict) -> dict:
    """Train and render one variant, with its extras. Runs in a worker (or in-process)."""
    from descent.outputs.clip import render
    from descent.publish import make_gif, transcode_webm, vtt_cues, write_vtt
    from descent.trainer import train

    t0 = time.perf_counter()
    config = Config.from_mapping(job["config"])
    _inject_fault(config.lr)
    r = job["render"]
    out = Path(job["out_dir"])
    trace = train(config)
    res = render(
        trace,
        r["scene"],
        quality=r["quality"],
        fps=r["fps"],
        theme=r["theme"],
        out_dir=out,
        name=job["name"],
        preset=r["preset"],
        progress=False,
        scene_options=r["scene_options"],
        encoder_threads=job.get("encoder_threads"),
    )
    files = {"mp4": res.mp4.name, "poster": res.poster.name, "json": res.sidecar.name}
    try:
        vtt = write_vtt(out / f"{job['name']}.vtt", vtt_cues(r["scene"], [trace], r["scene_options"]))
        files["vtt"] = vtt.name
        if r["webm"]:
            files["webm"] = transcode_webm(res.mp4, out / f"{job['name']}.webm").name
        if r["gif"]:
            files["gif"] = make_gif(res.mp4, out / f"{job['name']}.gif", r["gif_max_bytes"]).name
    except BaseException:
        for f in files.values():  # a variant is published whole or not at all
            (out / f).unlink(missing_ok=True)
        raise
    return {
        "name": job["name"],
        "lr": config.lr,
        "steps": trace.last_k,
        "final_loss": float(trace.loss[-1]),
        "diverged_at": trace.diverged_at,
        "seconds": round(time.perf_counter() - t0, 3),
        "files": files,
        "width": res.width,
        "height": res.height,
        "frames": res.frames,
        "fps": res.fps,
    }


def _worker_main(tasks, results) -> None:
    _worker_init()
    while True:
        job = tasks.get()
        if job is None:
            return
        try:
            results.put(("ok", job["name"], render_variant(job)))
        except BaseException as exc:  # report, never die silently: the batch goes on
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            results.put(
                (
                    "error",
                    job["name"],
                    {"reason": f"{type(exc).__name__}: {msg}", "traceback": traceback.format_exc(limit=6)},
                )
            )


class WorkerPool:
    """Long-lived worker processes, one job each at a time; a worker that dies is replaced
    and its job reported as failed, while the others go on."""

    def __init__(self, jobs: int) -> None:
        if sys.platform == "linux":
            # import torch and Manim once, here, and fork: the workers start at once,
            # sharing those pages, instead of each importing them again
            _preload()
            import gc

            gc.freeze()  # what was imported is never collected: keep the collector (and copy-on-write) off it
            self.ctx = mp.get_context("fork")
        else:  # pragma: no cover - fork is unsafe on macOS
            self.ctx = mp.get_context("spawn")
        self.results = self.ctx.Queue()
        self.workers: list[dict] = []
        for _ in range(jobs):
            self.workers.append(self._spawn())

    def _spawn(self) -> dict:
        tasks = self.ctx.Queue()
        proc = self.ctx.Process(target=_worker_main, args=(tasks, self.results), daemon=True)
        proc.start()
        return {"proc": proc, "tasks": tasks, "job": None}

    def run(self, jobs: Sequence[dict], on_done: Callable[[str, str, dict], None]) -> None:
        pending = list(jobs)
        busy = 0
        while pending or busy:
            for w in self.workers:
                if w["job"] is None and pending:
                    w["job"] = pending.pop(0)
                    w["tasks"].put(w["job"])
                    busy += 1
            try:
                status, name, payload = self.results.get(timeout=0.5)
            except queue.Empty:
                for i, w in enumerate(self.workers):
                    if w["job"] is not None and not w["proc"].is_alive():
                        code = w["proc"].exitcode
                        job = w["job"]
                        self.workers[i] = self._spawn()
                        busy -= 1
                        on_done("error", job["name"], {"reason": f"worker died (exit code {code})"})
                continue
            for w in self.workers:
                if w["job"] is not None and w["job"]["name"] == name:
                    w["job"] = None
                    break
            busy -= 1
            on_done(status, name, payload)

    def close(self) -> None:
        for w in self.workers:
            if w["proc"].is_alive():
                w["tasks"].put(None)
        for w in self.workers:
            w["proc"].join(timeout=5)
            if w["proc"].is_alive():
                w["proc"].kill()


def _sweep_stale(out: Path) -> None:
    """Remove render work folders and staged files left by a process that was killed."""
    import shutil

    for p in out.glob(".render-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in out.glob(".*.part.*"):
        p.unlink(missing_ok=True)
    for p in out.glob(".*.tmp"):
        p.unlink(missing_ok=True)


# -- the manifest ------------------------------------------------------------------------
def load_manifest(out_dir: Path) -> dict:
    p = out_dir / MANIFEST
    if not p.exists():
        return {"schema": MANIFEST_SCHEMA, "variants": {}}
    try:
        data = json.loads(p.read_text())
        if data.get("schema") != MANIFEST_SCHEMA or not isinstance(data.get("variants"), dict):
            raise ValueError
        return data
    except (ValueError, OSError):
        return {"schema": MANIFEST_SCHEMA, "variants": {}}  # unreadable: render everything again


def save_manifest(out_dir: Path, manifest: dict) -> None:
    atomic_write(out_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _files_exist(out_dir: Path, entry: dict) -> bool:
    return all((out_dir / f).is_file() for f in entry.get("files", {}).values())


# -- the batch ---------------------------------------------------------------------------
def run_batch(
    lrs: Sequence[float],
    options: BatchOptions | None = None,
    *,
    out_dir: str | os.PathLike = "media/batch",
    jobs: int | None = None,
    compare: bool = True,
    force: bool = False,
    progress: bool | Callable[[str, dict], None] = True,
    quality: str | None = None,
) -> BatchResult:
    """Render a variant per learning rate (in parallel), the comparison, captions and the gallery."""
    from descent.outputs.clip import check_out_dir

    options = options or BatchOptions()
    if quality is not None:
        options = BatchOptions(**{**options.__dict__, "quality": quality})
    out = check_out_dir(out_dir)
    variants = plan_variants(lrs, options)
    if not variants:
        raise ConfigError("no learning rate to render")
    manifest = load_manifest(out)
    todo = [
        v
        for v in variants
        if force
        or not (
            manifest["variants"].get(v.name, {}).get("digest") == v.digest
            and _files_exist(out, manifest["variants"][v.name])
        )
    ]
    skipped = len(variants) - len(todo)
    rows: dict[str, dict] = {}
    failures: list[dict] = []
    report = progress if callable(progress) else None
    bar = None
    if progress is True and todo:
        import click

        bar = click.progressbar(
            length=len(todo), label="  rendering", show_eta=True, show_pos=True, width=28, file=None
        )
        bar.__enter__()

    def done(status: str, name: str, payload: dict) -> None:
        if status == "ok":
            v = next(v for v in variants if v.name == name)
            entry = {
                **payload,
                "digest": v.digest,
                "config": v.config.to_dict(),
                "render": options.render_dict(),
                "versions": _versions(),
                "status": "rendered",
            }
            manifest["variants"][name] = entry
            save_manifest(out, manifest)  # after every variant: an interrupted batch resumes
            rows[name] = entry
            line = f"  done   {name}: loss {payload['final_loss']:.4g} in {payload['seconds']:.1f} s"
        else:
            failures.append({"name": name, **payload})
            manifest["variants"].pop(name, None)
            save_manifest(out, manifest)
            line = f"  FAILED {name}: {payload['reason']}"
        if bar is not None:
            import click

            click.echo(f"\r{line}".ljust(78))
            bar.update(1)
        if report is not None:
            report(status, {"name": name, **payload})

    n_workers = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    # side by side, each render's encoder gets a fair share of the cores, not all of them
    threads = max(1, (os.cpu_count() or 1) // n_workers) if n_workers > 1 else None
    t_jobs = [{**v.job(out), "encoder_threads": threads} for v in todo]
    _sweep_stale(out)
    try:
        if t_jobs:
            pool = WorkerPool(n_workers)
            try:
                pool.run(t_jobs, done)
            finally:
                pool.close()
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
        _sweep_stale(out)  # a worker that died mid-render could not clean up after itself
    for v in variants:
        if v.name not in rows and v.name in manifest["variants"] and v not in todo:
            rows[v.name] = {**manifest["variants"][v.name], "status": "unchanged"}

    ok_variants = [v for v in variants if v.name in rows]
    compare_entry = None
    loss_plot = None
    if compare and len(ok_variants) >= 1:
        compare_entry, loss_plot = _compare(out, ok_variants, options, manifest, force)
        save_manifest(out, manifest)
    gallery = _gallery(out, variants, rows, compare_entry, loss_plot, options) if rows else None
    ordered = [rows[v.name] for v in variants if v.name in rows]
    return BatchResult(out, ordered, failures, compare_entry, gallery, skipped)


def _compare(
    out: Path, variants: Sequence[Variant], options: BatchOptions, manifest: dict, force: bool
) -> tuple[dict, str]:
    """The comparison clip and the loss plot, from the variants' own traces (no retraining)."""
    from descent.outputs.clip import render
    from descent.publish import make_gif, render_loss_plot, transcode_webm, vtt_cues, write_vtt
    from descent.scenes.helpers import safe_name

    traces = [
        Trace.from_dict(json.loads((out / manifest["variants"][v.name]["files"]["json"]).read_text())["trace"])
        for v in variants
    ]
    name = safe_name(f"{safe_name(options.prefix or 'compare')[:80]}_lrs")
    digest = _digest(
        {"variants": [manifest["variants"][v.name]["digest"] for v in variants], "render": options.render_dict()}
    )
    old = manifest.get("compare")
    if not force and old and old.get("digest") == digest and _files_exist(out, old):
        return old, old["loss_plot"]
    r = options.render_dict()
    res = render(
        traces,
        "compare",
        quality=r["quality"],
        fps=r["fps"],
        theme=r["theme"],
        out_dir=out,
        name=name,
        preset=r["preset"],
        progress=False,
        scene_options=r["scene_options"],
    )
    files = {"mp4": res.mp4.name, "poster": res.poster.name, "json": res.sidecar.name}
    files["vtt"] = write_vtt(out / f"{name}.vtt", vtt_cues("compare", traces, r["scene_options"])).name
    if r["webm"]:
        files["webm"] = transcode_webm(res.mp4, out / f"{name}.webm").name
    if r["gif"]:
        files["gif"] = make_gif(res.mp4, out / f"{name}.gif", r["gif_max_bytes"]).name
    plot = render_loss_plot(traces, out / f"{name}_loss.png", theme=r["theme"])
    entry = {
        "name": name,
        "digest": digest,
        "files": files,
        "loss_plot": plot.name,
        "width": res.width,
        "height": res.height,
        "lrs": [t.config.lr for t in traces],
    }
    manifest["compare"] = entry
    return entry, plot.name


def _gallery(
    out: Path, variants, rows: dict, compare_entry: dict | None, loss_plot: str | None, options: BatchOptions
) -> Path:
    from descent.publish import write_gallery

    c = options.base
    entries = []
    if compare_entry:
        entries.append(
            {
                "name": compare_entry["name"],
                "title": "All learning rates, one clip",
                "files": compare_entry["files"],
                "width": compare_entry["width"],
                "height": compare_entry["height"],
                "wide": True,
                "params": {
                    "learning rates": ", ".join(f"{lr:g}" for lr in compare_entry["lrs"]),
                    "optimizer": c.optimizer,
                    "steps": c.steps,
                },
            }
        )
    for v in variants:
        row = rows.get(v.name)
        if not row:
            continue
        note = f"Diverged at step {row['diverged_at']}" if row.get("diverged_at") is not None else ""
        entries.append(
            {
                "name": v.name,
                "title": f"lr = {v.config.lr:g}",
                "files": row["files"],
                "width": row["width"],
                "height": row["height"],
                "note": note,
                "params": {
                    "learning rate": f"{v.config.lr:g}",
                    "optimizer": v.config.optimizer,
                    "start (w0, b0)": f"({v.config.w0:g}, {v.config.b0:g})",
                    "steps run": row["steps"],
                    "final loss": f"{row['final_loss']:.4g}",
                    "scene": options.scene,
                    "data": f"y = {c.slope:g}x {c.bias:+g} + {c.noise:g}·N(0,1), seed {c.seed}",
                },
            }
        )
    lrs = ", ".join(f"{v.config.lr:g}" for v in variants)
    return write_gallery(
        out,
        entries,
        title="Gradient descent: learning rates compared",
        subtitle=f"1-D linear regression by gradient descent, lr = {lrs}",
        loss_plot=loss_plot,
    )


def serial_baseline(lrs: Sequence[float], quality: str = "m", out_dir: str | os.PathLike = "media/serial") -> float:
    """Render the variants one after another in this process (the benchmark's baseline)."""
    from descent.outputs.clip import check_out_dir, render
    from descent.trainer import train

    out = check_out_dir(out_dir)
    t0 = time.perf_counter()
    for lr in lrs:
        render(train(Config(lr=lr)), "fit", quality=quality, out_dir=out, name=f"fit_lr{lr:g}", progress=False)
    return time.perf_counter() - t0
