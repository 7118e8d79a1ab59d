"""Learning-rate sweeps: render every variant in parallel, resumably, then publish.

The Python API behind ``descent batch``. Each variant (one learning rate) is
trained and rendered in a worker process — Manim's configuration is global to
a process — from a pool of long-lived workers that import torch and Manim
once and use one torch thread each, and die with the main process. A worker
only stages: it writes a variant's files (mp4, poster, sidecar, captions,
WebM, GIF) into a work folder; the main process, which holds the output
folder's lock for the whole run, publishes each variant as one set together
with the updated manifest (see :mod:`descent.outputs.files`). A variant that
fails leaves its previous files, manifest entry and gallery card as they were.

``<out>/manifest.json`` records every finished variant with a hash of
everything that determines its files (config, scene, render options,
versions) and each file's size and SHA-256; a rerun renders only what is new,
changed, or whose files no longer match. A manifest that is not valid is
treated as absent.

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
import signal
import stat
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from descent._version import versions
from descent.outputs import files as fs
from descent.outputs.files import Interrupted, RenderError, is_plain_name
from descent.scenes import SCENES
from descent.trainer import Config, ConfigError, Trace

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
#: Test-only fault injection: "raise@LR" makes the worker raise, "kill@LR" kills it, "hang@LR" never
#: returns (comma-separated).
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
    rates = [float(f"{lo * ratio**i:.6g}") for i in range(n)]
    if len(set(rates)) < n:
        raise ConfigError(
            f"--lr-range {spec} gives only {len(set(rates))} distinct learning rate(s) of {n} at 6 significant "
            "digits; widen the range or ask for fewer rates"
        )
    return rates


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
    voice: str | None = None  # "espeak": each variant's clip narrated (the comparison stays silent)
    voice_name: str = "en-us"
    voice_rate: int = 160

    def render_dict(self) -> dict:
        # unvoiced batches keep their digests
        voiced = (
            {"voice": self.voice, "voice_name": self.voice_name, "voice_rate": self.voice_rate} if self.voice else {}
        )
        return {
            **voiced,
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
    failures: list[dict]  # name, reason, kept (whether its previous version is still published)
    compare: dict | None
    gallery: Path | None
    skipped: int
    published: list[str] = field(default_factory=list)  # the variants (and comparison) published by this run

    @property
    def ok(self) -> bool:
        return not self.failures


def _compare_scene() -> str:
    """The registered scene that draws several runs: the batch's comparison clip."""
    return next(name for name, spec in SCENES.items() if spec.many_runs and not spec.lesson)


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def variant_name(options: BatchOptions, lr: float) -> str:
    from descent.scenes.helpers import safe_name

    stem = safe_name(options.prefix or options.scene, max_bytes=80)  # the lr part is never cut off
    return safe_name(f"{stem}_lr{lr:.10g}")


def plan_variants(lrs: Sequence[float], options: BatchOptions) -> list[Variant]:
    """One variant per distinct learning rate, with its name and the hash of what it depends on."""
    used = versions()
    out, seen = [], {}
    for lr in lrs:
        config = options.base.replace(lr=float(lr))
        name = variant_name(options, config.lr)
        if name in seen:
            if seen[name] == config.lr:
                continue  # the same lr twice: one variant
            raise ConfigError(f"learning rates {seen[name]!r} and {config.lr!r} would share the file name {name!r}")
        seen[name] = config.lr
        digest = _digest({"config": config.to_dict(), "render": options.render_dict(), "versions": used})
        out.append(Variant(name, config, options, digest))
    return out


# -- the worker side ---------------------------------------------------------------------
def _preload() -> None:
    """Import torch and Manim (and nothing runs yet: no thread pools start on import)."""
    import manim  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (torch.optim's first step imports it: about 0.8 s)

    import descent.outputs.clip  # noqa: F401


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this worker when the main process dies (Linux), and leave at
    once if it already has."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the loop's check remains
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _worker_init(parent_pid: int | None = None) -> None:
    if parent_pid is not None:
        _die_with_parent(parent_pid)
        # Ctrl-C reaches the whole process group: the main process decides, and stops the workers
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
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
            if kind == "hang":
                while True:
                    time.sleep(60)


def render_variant(job: dict) -> dict:
    """Train and render one variant with its extras, staged in the work folder ``job["work"]``.

    Runs in a worker (or in-process); publishes nothing. Returns the row of the variant,
    with ``files`` (kind → file name, staged in ``<work>/new``).
    """
    from descent.outputs.clip import stage_clip
    from descent.publish import make_gif, transcode_webm, vtt_cues, write_vtt
    from descent.publish.transcript import stage_clip_transcript
    from descent.trainer import train

    t0 = time.perf_counter()
    config = Config.from_mapping(job["config"])
    _inject_fault(config.lr)
    r = job["render"]
    work = Path(job["work"])
    new = fs.staging(work)
    name = job["name"]
    trace = train(config)
    narration = None
    scene_options = r["scene_options"]
    if r.get("voice"):
        from descent.narrate import prepare_narration

        narration = prepare_narration(
            [trace],
            r["scene"],
            voice=r["voice"],
            voice_name=r.get("voice_name", "en-us"),
            voice_rate=r.get("voice_rate", 160),
            scene_options=scene_options,
        )
        scene_options = narration.options
    res = stage_clip(
        trace,
        r["scene"],
        work=work,
        name=name,
        quality=r["quality"],
        fps=r["fps"],
        theme=r["theme"],
        preset=r["preset"],
        progress=False,
        scene_options=scene_options,
        encoder_threads=job.get("encoder_threads"),
        audio=narration.sound([trace], r["scene"]) if narration is not None else None,
    )
    names = {"mp4": res.mp4.name, "poster": res.poster.name, "json": res.sidecar.name}
    extras = (1.0 if r["webm"] else 0.0) + (1.0 if r["gif"] else 0.0)
    need = fs.space_needed(res.frames, res.width, res.height, res.fps, extras)
    with fs.disk_guard([work.parent], {work.parent: need}):
        if narration is not None:
            from descent.narrate import narrate_staged

            names["vtt"] = narrate_staged(narration, res, [trace], r["scene"])[0]  # the spoken lines' captions
        else:
            names["vtt"] = write_vtt(new / f"{name}.vtt", vtt_cues(r["scene"], [trace], r["scene_options"])).name
        names["transcript"], names["transcript_md"] = stage_clip_transcript(res.sidecar)
        if r["webm"]:
            names["webm"] = transcode_webm(res.mp4, new / f"{name}.webm").name
            if narration is not None:
                from descent.outputs.voice import mux_audio

                silent = new / f".silent-{name}.webm"
                os.replace(new / names["webm"], silent)
                mux_audio(silent, narration.track, new / names["webm"], codec="opus")
                silent.unlink()
        if r["gif"]:
            names["gif"] = make_gif(res.mp4, new / f"{name}.gif", r["gif_max_bytes"]).name
    return {
        "name": name,
        "lr": config.lr,
        "steps": trace.last_k,
        "final_loss": float(trace.loss[-1]),
        "diverged_at": trace.diverged_at,
        "seconds": round(time.perf_counter() - t0, 3),
        "files": names,
        "width": res.width,
        "height": res.height,
        "frames": res.frames,
        "fps": res.fps,
        "voiced": narration is not None,
    }


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return fs.printable(f"{type(exc).__name__}: {msg}")


def _worker_main(tasks, results, parent_pid: int | None = None, target: Callable[[dict], dict] | None = None) -> None:
    _worker_init(parent_pid)
    work = target or render_variant
    while True:
        try:
            job = tasks.get(timeout=1.0)
        except queue.Empty:
            if parent_pid is not None and os.getppid() != parent_pid:
                os._exit(1)  # the main process is gone: nobody would publish this work
            continue
        if job is None:
            return
        try:
            results.put(("ok", job["name"], work(job)))
        except BaseException as exc:  # report, never die silently: the batch goes on
            results.put(("error", job["name"], {"reason": _reason(exc), "traceback": traceback.format_exc(limit=6)}))


class WorkerPool:
    """Long-lived worker processes, one job each at a time; a worker that dies is replaced
    and its job reported as failed, while the others go on. Workers die with the main process.

    ``target`` does one job (a dict with a unique ``"name"``) and returns a dict;
    default: :func:`render_variant`. It must be a module-level function.
    """

    def __init__(self, jobs: int, target: Callable[[dict], dict] | None = None) -> None:
        self.target = target
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
        proc = self.ctx.Process(target=_worker_main, args=(tasks, self.results, os.getpid(), self.target), daemon=True)
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

    def stop(self) -> None:
        """Stop every worker now (SIGTERM, then SIGKILL) and wait for each to be gone."""
        for w in self.workers:
            if w["proc"].is_alive():
                w["proc"].terminate()
        for w in self.workers:
            w["proc"].join(timeout=5)
            if w["proc"].is_alive():
                w["proc"].kill()
                w["proc"].join(timeout=5)


# -- the manifest ------------------------------------------------------------------------
#: The files a clip entry may list, by kind.
KINDS = ("mp4", "poster", "json", "vtt", "webm", "gif", "transcript", "transcript_md")
#: How descent names each kind of file of an entry: ``<name><suffix>``.
_SUFFIXES = {
    "mp4": ".mp4",
    "poster": ".png",
    "json": ".json",
    "vtt": ".vtt",
    "webm": ".webm",
    "gif": ".gif",
    "transcript": ".transcript.html",
    "transcript_md": ".transcript.md",
    "loss_plot": "_loss.png",
}
_MANIFEST_MAX_BYTES = 32 << 20


def _empty_manifest() -> dict:
    return {"schema": MANIFEST_SCHEMA, "variants": {}}


def _is_int(v: object, lo: int = 0) -> bool:
    return type(v) is int and v >= lo


def _is_num(v: object, positive: bool = False) -> bool:
    return type(v) in (int, float) and math.isfinite(v) and (v > 0 if positive else True)


def _files_problem(e: dict, extra: tuple[str, ...] = ()) -> str | None:
    names = e.get("files")
    if not isinstance(names, dict) or not {"mp4", "poster", "json"} <= set(names) <= set(KINDS):
        return "files must map mp4, poster, json (and vtt, webm, gif) to file names"
    named = [*names.values(), *(e.get(k) for k in extra)]
    if not all(is_plain_name(n) for n in named) or len(set(named)) != len(named):
        return "files must be distinct plain file names inside the folder"
    stem = e.get("name")
    kinds = {**names, **{k: e.get(k) for k in extra}}
    if any(name != f"{stem}{_SUFFIXES[kind]}" for kind, name in kinds.items()):
        # only the names descent gives this entry's files: an edited entry cannot claim (and later
        # remove as obsolete) another variant's file or one of the user's own
        return f"files must be named after the entry ({stem}.mp4, {stem}.png, …)"
    checks = e.get("checks")
    if not isinstance(checks, dict) or set(checks) != set(names) | set(extra):
        return "checks must give the size and SHA-256 of every file"
    if not all(fs.valid_check(c) for c in checks.values()):
        return "checks must give the size and SHA-256 of every file"
    if not (_is_int(e.get("width"), 1) and _is_int(e.get("height"), 1)):
        return "width and height must be positive integers"
    if not isinstance(e.get("digest"), str):
        return "digest must be a string"
    return None


def _variant_problem(key: object, e: object) -> str | None:
    if not is_plain_name(key):
        return "variant names must be plain file names"
    if not isinstance(e, dict):
        return f"the entry of {key} is not an object"
    if e.get("name") != key:
        return f"the entry of {key} names another variant"
    problem = _files_problem(e)
    if problem:
        return f"{key}: {problem}"
    if not (
        _is_num(e.get("lr"), positive=True)
        and _is_int(e.get("steps"))
        and _is_num(e.get("final_loss"))
        and (e.get("diverged_at") is None or _is_int(e.get("diverged_at")))
        and _is_num(e.get("seconds"))
        and _is_int(e.get("frames"))
        and _is_num(e.get("fps"), positive=True)
    ):
        return f"{key}: lr, steps, final_loss, diverged_at, seconds, frames or fps has the wrong type"
    if not all(isinstance(e.get(k), dict) for k in ("config", "render", "versions")):
        return f"{key}: config, render and versions must be objects"
    try:
        Config.from_mapping(e["config"])
    except (ConfigError, TypeError, ValueError):
        return f"{key}: config is not a valid config"
    return None


def _compare_problem(e: object) -> str | None:
    if not isinstance(e, dict):
        return "compare is not an object"
    if not is_plain_name(e.get("name")):
        return "compare's name is not a plain file name"
    problem = _files_problem(e, extra=("loss_plot",))
    if problem:
        return f"compare: {problem}"
    lrs = e.get("lrs")
    if not isinstance(lrs, list) or not lrs or not all(_is_num(v, positive=True) for v in lrs):
        return "compare: lrs must be a list of learning rates"
    return None


def manifest_problem(data: object) -> str | None:
    """What is wrong with a manifest (None if it is a valid ``descent.batch/1`` manifest)."""
    if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
        return f"not a {MANIFEST_SCHEMA} manifest"
    variants = data.get("variants")
    if not isinstance(variants, dict):
        return "variants is not an object"
    for key, entry in variants.items():
        problem = _variant_problem(key, entry)
        if problem:
            return problem
    if data.get("compare") is not None:
        return _compare_problem(data["compare"])
    return None


def load_manifest(out_dir: Path) -> tuple[dict, str | None]:
    """The folder's manifest and None, or an empty manifest and a line saying why the file was not used.

    Only a regular file that is a valid ``descent.batch/1`` manifest is trusted; anything
    else (bad JSON, a wrong type anywhere, a path that is not a plain file name) is
    treated as absent: every variant is rendered again.
    """
    p = Path(out_dir) / MANIFEST
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return _empty_manifest(), None
    except OSError as exc:
        return _empty_manifest(), f"{MANIFEST} cannot be read ({exc.strerror or exc}); it is ignored"
    try:
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return _empty_manifest(), f"{MANIFEST} is not a regular file; it is ignored"
            raw = fh.read(_MANIFEST_MAX_BYTES + 1)
        if len(raw) > _MANIFEST_MAX_BYTES:
            raise ValueError("too large")
        data = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return _empty_manifest(), f"{MANIFEST} is not valid JSON; it is ignored"
    problem = manifest_problem(data)
    if problem:
        return _empty_manifest(), f"{MANIFEST} is not a valid {MANIFEST_SCHEMA} manifest ({problem}); it is ignored"
    out = {"schema": MANIFEST_SCHEMA, "variants": data["variants"]}
    if data.get("compare") is not None:
        out["compare"] = data["compare"]
    return out, None


def _manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def _entry_ok(out: Path, entry: dict | None, digest: str | None = None) -> bool:
    """Whether ``entry``'s files are all there, exactly as recorded (and its digest is ``digest``)."""
    if not entry or (digest is not None and entry.get("digest") != digest):
        return False
    checks = entry["checks"]
    named = {**entry["files"], **({"loss_plot": entry["loss_plot"]} if "loss_plot" in entry else {})}
    return all(fs.verify(out, name, checks[kind]) for kind, name in named.items())


def _publish_entry(
    out: Path, work: Path, manifest: dict, entry: dict, key: str | None, published: list[str], label: str
) -> dict:
    """Publish the files staged in ``work`` for ``entry`` with the manifest that lists them, as one set.

    ``key`` is the variant's name (None: the comparison). The files of the entry it replaces
    that the new one no longer has go too (when they still match their checks).
    """
    new = fs.staging(work)
    named = {**entry["files"], **({"loss_plot": entry["loss_plot"]} if "loss_plot" in entry else {})}
    entry["checks"] = {kind: fs.file_check(new / name) for kind, name in named.items()}
    old = manifest["variants"].get(key) if key is not None else manifest.get("compare")
    obsolete = {}
    if old:
        old_named = {**old["files"], **({"loss_plot": old["loss_plot"]} if "loss_plot" in old else {})}
        obsolete = {name: old["checks"][kind] for kind, name in old_named.items() if name not in named.values()}
    updated = {**manifest, "variants": dict(manifest["variants"])}
    if key is None:
        updated["compare"] = entry
    else:
        updated["variants"][key] = entry
    (new / MANIFEST).write_bytes(_manifest_bytes(updated))
    need = sum(c["size"] for c in entry["checks"].values())
    with fs.disk_guard([out], {out: need}), fs.signals_deferred():
        fs.publish(out, work, [*named.values(), MANIFEST], obsolete)
        manifest.clear()
        manifest.update(updated)
        published.append(label)
    return entry


# -- the batch ---------------------------------------------------------------------------
def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _check_voice(options: BatchOptions) -> None:
    """The batch's voice can speak (espeak-ng there, the voice and rate known): one short line tried."""
    from descent.outputs.voice import VoiceError, speak

    if options.voice != "espeak":
        raise RenderError(f"a batch's voice is espeak (got {str(options.voice)!r})")
    try:
        speak([("voice.check", "Ready.")], "espeak", voice_name=options.voice_name, voice_rate=options.voice_rate)
    except VoiceError as exc:
        raise RenderError(str(exc)) from None


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
    wait: bool = True,
    notify: Callable[[str], None] | None = None,
) -> BatchResult:
    """Render a variant per learning rate (in parallel), the comparison, captions and the gallery.

    The whole run holds the output folder's lock (``wait``: wait for another run, or raise
    :class:`~descent.outputs.files.FolderBusy`). ``notify`` receives one-line notes (default:
    stderr). Ctrl-C or SIGTERM stops the workers, removes this run's work folders and raises
    :class:`~descent.outputs.files.Interrupted` naming what was published.
    """
    from descent.outputs.clip import check_out_dir

    options = options or BatchOptions()
    if quality is not None:
        options = BatchOptions(**{**options.__dict__, "quality": quality})
    if options.voice is not None:
        _check_voice(options)  # before any variant trains: one line for the whole batch
    out = check_out_dir(out_dir)
    variants = plan_variants(lrs, options)
    if not variants:
        raise ConfigError("no learning rate to render")
    for fixed in (MANIFEST, "index.html"):
        if (out / fixed).is_dir() and not (out / fixed).is_symlink():
            raise RenderError(f"cannot write {str(out / fixed)!r}: a directory has that name")
    say = notify or _say
    published: list[str] = []
    try:
        with fs.output_lock(out, wait=wait, notify=say):
            return _run_locked(out, variants, options, jobs, compare, force, progress, say, published)
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(published) from None


def _run_locked(
    out: Path,
    variants: list[Variant],
    options: BatchOptions,
    jobs: int | None,
    compare: bool,
    force: bool,
    progress: bool | Callable[[str, dict], None],
    say: Callable[[str], None],
    published: list[str],
) -> BatchResult:
    for line in fs.sweep_stale(out):
        say(line)
    manifest, problem = load_manifest(out)
    if problem:
        say(f"descent: {problem}: every variant is rendered again")
    verified = {v.name for v in variants if _entry_ok(out, manifest["variants"].get(v.name))}
    todo = [
        v for v in variants if force or v.name not in verified or manifest["variants"][v.name]["digest"] != v.digest
    ]
    skipped = len(variants) - len(todo)
    by_name = {v.name: v for v in variants}
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

    def emit(line: str, status: str, payload: dict) -> None:
        if bar is not None:
            import click

            click.echo(f"\r{line}".ljust(78))
            bar.update(1)
        if report is not None:
            report(status, payload)

    works: dict[str, Path] = {}

    def done(status: str, name: str, payload: dict) -> None:
        v = by_name[name]
        work = works.pop(name)
        try:
            if status == "ok":
                entry = {
                    **payload,
                    "digest": v.digest,
                    "config": v.config.to_dict(),
                    "render": options.render_dict(),
                    "versions": versions(),
                    "status": "rendered",
                }
                try:
                    rows[name] = _publish_entry(out, work, manifest, entry, name, published, name)
                    verified.add(name)
                except (RenderError, OSError) as exc:
                    status, payload = "error", {"reason": _reason(exc)}
            if status != "ok":
                kept = name in verified
                failures.append({"name": name, **payload, "kept": kept})
                line = f"  FAILED {name}: {payload['reason']}" + (" (its previous version is kept)" if kept else "")
            else:
                line = f"  done   {name}: loss {payload['final_loss']:.4g} in {payload['seconds']:.1f} s"
        finally:
            fs.remove_work_dir(work)
        emit(line, status, {"name": name, **payload})

    n_workers = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    # side by side, each render's encoder gets a fair share of the cores, not all of them
    threads = max(1, (os.cpu_count() or 1) // n_workers) if n_workers > 1 else None
    try:
        t_jobs = []
        with fs.disk_guard([out]):
            for v in todo:
                works[v.name] = fs.make_work_dir(out)
                t_jobs.append({**v.job(out), "work": str(works[v.name]), "encoder_threads": threads})
        if t_jobs:
            pool = WorkerPool(n_workers)
            try:
                pool.run(t_jobs, done)
            finally:
                pool.stop()  # every worker is gone before anything is said or cleaned
    finally:
        for w in works.values():  # the jobs that never finished
            fs.remove_work_dir(w)
        if bar is not None:
            bar.__exit__(None, None, None)
    for v in variants:
        if v.name not in rows and v not in todo:
            rows[v.name] = {**manifest["variants"][v.name], "status": "unchanged"}

    ok_variants = [v for v in variants if v.name in rows]
    compare_entry = None
    if compare and ok_variants:
        try:
            compare_entry = _compare(out, ok_variants, options, manifest, force, published)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # the variants stand; the comparison keeps its previous version
            name = compare_name(options)
            kept = _entry_ok(out, manifest.get("compare"))
            failures.append({"name": name, "reason": _reason(exc), "kept": kept})
            emit(f"  FAILED {name}: {_reason(exc)}", "error", {"name": name, "reason": _reason(exc)})
    if compare_entry is None and _entry_ok(out, manifest.get("compare")):
        compare_entry = manifest["compare"]  # the comparison as it stands (kept, or from an earlier run)
    shown = [(v, manifest["variants"][v.name]) for v in variants if v.name in verified]
    with fs.disk_guard([out]):
        gallery = _gallery(out, shown, compare_entry) if shown or compare_entry else None
    ordered = [rows[v.name] for v in variants if v.name in rows]
    return BatchResult(out, ordered, failures, compare_entry, gallery, skipped, published)


def compare_name(options: BatchOptions) -> str:
    """The file name (stem) of the comparison clip."""
    from descent.scenes.helpers import safe_name

    return safe_name(f"{safe_name(options.prefix or 'compare', max_bytes=80)}_lrs")


def _compare(
    out: Path, variants: Sequence[Variant], options: BatchOptions, manifest: dict, force: bool, published: list[str]
) -> dict:
    """The comparison clip and the loss plot, from the variants' own traces (no retraining)."""
    from descent.outputs.clip import stage_clip
    from descent.publish import make_gif, render_loss_plot, transcode_webm, vtt_cues, write_vtt
    from descent.publish.transcript import stage_clip_transcript

    entries = [manifest["variants"][v.name] for v in variants]
    traces = [Trace.from_dict(json.loads((out / e["files"]["json"]).read_text())["trace"]) for e in entries]
    name = compare_name(options)
    digest = _digest({"variants": [e["digest"] for e in entries], "render": options.render_dict()})
    old = manifest.get("compare")
    if not force and old and old["digest"] == digest and _entry_ok(out, old):
        return old
    r = options.render_dict()
    with fs.work_dir(out) as work:
        new = fs.staging(work)
        res = stage_clip(
            traces,
            _compare_scene(),
            work=work,
            name=name,
            quality=r["quality"],
            fps=r["fps"],
            theme=r["theme"],
            preset=r["preset"],
            progress=False,
            scene_options=r["scene_options"],
        )
        names = {"mp4": res.mp4.name, "poster": res.poster.name, "json": res.sidecar.name}
        extras = (1.0 if r["webm"] else 0.0) + (1.0 if r["gif"] else 0.0)
        need = fs.space_needed(res.frames, res.width, res.height, res.fps, extras)
        with fs.disk_guard([out], {out: need}):
            names["vtt"] = write_vtt(new / f"{name}.vtt", vtt_cues(_compare_scene(), traces, r["scene_options"])).name
            names["transcript"], names["transcript_md"] = stage_clip_transcript(res.sidecar)
            if r["webm"]:
                names["webm"] = transcode_webm(res.mp4, new / f"{name}.webm").name
            if r["gif"]:
                names["gif"] = make_gif(res.mp4, new / f"{name}.gif", r["gif_max_bytes"]).name
            plot = render_loss_plot(traces, new / f"{name}_loss.png", theme=r["theme"])
        entry = {
            "name": name,
            "digest": digest,
            "files": names,
            "loss_plot": plot.name,
            "width": res.width,
            "height": res.height,
            "lrs": [t.config.lr for t in traces],
        }
        return _publish_entry(out, work, manifest, entry, None, published, name)


def _gallery(out: Path, shown: Sequence[tuple[Variant, dict]], compare_entry: dict | None) -> Path:
    """``index.html`` from what is published and verified: each card from its own manifest entry."""
    from descent.publish import write_gallery
    from descent.publish.explorer import sidecar_stats

    cards = []
    if compare_entry:
        first = Config.from_mapping(next(iter(shown))[1]["config"]) if shown else None
        params = {"learning rates": ", ".join(f"{lr:g}" for lr in compare_entry["lrs"])}
        if first is not None:
            params.update({"optimizer": first.optimizer, "steps": first.steps})
        cards.append(
            {
                "name": compare_entry["name"],
                "title": "All learning rates, one clip",
                "files": compare_entry["files"],
                "width": compare_entry["width"],
                "height": compare_entry["height"],
                "wide": True,
                "params": params,
            }
        )
    for v, e in shown:
        c = Config.from_mapping(e["config"])
        note = f"Diverged at step {e['diverged_at']}" if e.get("diverged_at") is not None else ""
        cards.append(
            {
                "name": v.name,
                "title": f"lr = {c.lr:g}",
                "files": e["files"],
                "width": e["width"],
                "height": e["height"],
                "note": note,
                "voiced": bool(e.get("voiced")),
                "sweep": {"lr": c.lr},
                "theme": e["render"].get("theme", "dark"),
                # the explorer's numbers, from the sidecar as the manifest recorded it (size and SHA-256)
                "stats": sidecar_stats(out, e["files"]["json"], e["checks"]["json"]),
                "params": {
                    "learning rate": f"{c.lr:g}",
                    "optimizer": c.optimizer,
                    "start (w0, b0)": f"({c.w0:g}, {c.b0:g})",
                    "steps run": e["steps"],
                    "final loss": f"{e['final_loss']:.4g}",
                    "scene": str(e["render"].get("scene", "")),
                    "data": f"y = {c.slope:g}x {c.bias:+g} + {c.noise:g}·N(0,1), seed {c.seed}",
                },
            }
        )
    lrs = ", ".join(f"{Config.from_mapping(e['config']).lr:g}" for _, e in shown)
    return write_gallery(
        out,
        cards,
        title="Gradient descent: learning rates compared",
        subtitle=f"1-D linear regression by gradient descent, lr = {lrs}" if lrs else "1-D linear regression",
        loss_plot=compare_entry["loss_plot"] if compare_entry else None,
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
