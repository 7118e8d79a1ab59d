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
changed, or whose files no longer match. A descent manifest that is not valid
(damaged or edited) is treated as absent.

A batch replaces only files descent can prove it wrote, and says so before anything
is rendered (:class:`~descent.outputs.files.NotOurs`, one line, nothing written):
``manifest.json`` must be a ``descent.batch/1`` manifest; a file a variant or a
comparison would write must be named by a valid entry of that manifest, or be
vouched for by the clip's own sidecar (which records, sealed, the size and SHA-256
of every other file of its set, as ``descent render`` does). A user's ``index.html``
is never replaced either: the gallery goes to ``gallery.html``.

Examples
--------
>>> from descent.batch import lr_range
>>> lr_range("0.01:1:3")
[0.01, 0.1, 1.0]
"""

from __future__ import annotations

import gc
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from descent._version import versions
from descent.outputs import files as fs
from descent.outputs.files import Interrupted, NotOurs, RenderError, is_plain_name
from descent.scenes import SCENES
from descent.trainer import Config, ConfigError, Trace

if TYPE_CHECKING:
    from descent.executors import Executor

__all__ = [
    "BatchOptions",
    "Variant",
    "BatchResult",
    "run_batch",
    "lr_range",
    "plan_variants",
    "plan_compares",
    "parse_sweep",
    "ComparePlan",
    "serial_baseline",
    "MANIFEST",
    "FAULT_ENV",
]

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "descent.batch/1"
#: Test-only fault injection: "raise@LR" makes the worker raise, "kill@LR" kills it, "hang@LR" never
#: returns (comma-separated); "killonce@LR" kills it unless the file named by FAULT_MARK_ENV exists (and
#: creates it): the first try dies, the retry renders; with FAULT_MARK_ENV set, "kill" adds a line to that file.
FAULT_ENV = "DESCENT_BATCH_FAULT"
FAULT_MARK_ENV = "DESCENT_BATCH_FAULT_MARK"


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


@dataclass
class BatchResult:
    out_dir: Path
    rows: list[dict]  # one per variant: name, lr, steps, final_loss, diverged_at, seconds, files, status
    failures: list[dict]  # name, reason, kept (whether its previous version is still published)
    compare: dict | None
    gallery: Path | None
    skipped: int
    published: list[str] = field(default_factory=list)  # the variants (and comparison) published by this run
    compares: list[dict] = field(default_factory=list)  # every comparison shown (``compare`` is the first)
    sweep_keys: list[str] = field(default_factory=list)  # the keys that vary, in the order given

    @property
    def ok(self) -> bool:
        return not self.failures


def _compare_scene() -> str:
    """The registered scene that draws several runs: the batch's comparison clip."""
    return next(name for name, spec in SCENES.items() if spec.many_runs and not spec.lesson)


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


#: The render keys a sweep may vary besides the training keys of :class:`~descent.trainer.Config`.
RENDER_SWEEP_KEYS = ("theme", "quality", "scene")
#: Keys that change the data (points, loss surface): runs that differ in them cannot share one comparison clip.
DATA_KEYS = ("slope", "bias", "noise", "x_min", "x_max", "x_step", "seed")


def sweep_keys_known() -> tuple[str, ...]:
    """Every key ``--sweep`` accepts: the training keys, then theme, quality and scene."""
    return (*Config.keys(), *RENDER_SWEEP_KEYS)


def _variant_scenes() -> list[str]:
    return [name for name, spec in SCENES.items() if not spec.many_runs and not spec.lesson]


def _render_choices(key: str) -> list[str]:
    from descent.outputs.clip import QUALITIES
    from descent.scenes.theme import THEMES

    return {"theme": list(THEMES), "quality": list(QUALITIES), "scene": _variant_scenes()}[key]


def _typed(key: str, text: str) -> object:
    """A command-line value (text) as the type ``key`` takes (checked later, with the config)."""
    kind = {f.name: f.type for f in fields(Config)}.get(key)
    if key in RENDER_SWEEP_KEYS or kind in ("str", str):
        return text
    if key == "batch_size" and text.lower() in ("full", "none", "0"):
        return None
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"--sweep {key}: {text!r} is not a number") from None
    if key in ("seed", "steps", "batch_size") and number.is_integer() and abs(number) < 2**63:
        return int(number)
    return number


def parse_sweep(spec: str) -> tuple[str, list]:
    """``"KEY=V1,V2,…"`` → the key and its values, typed as the key wants (validated by :func:`plan_variants`).

    >>> parse_sweep("optimizer=sgd,adam")
    ('optimizer', ['sgd', 'adam'])
    >>> parse_sweep("lr=0.1,0.2")
    ('lr', [0.1, 0.2])
    """
    key, eq, values = spec.partition("=")
    key = key.strip().replace("-", "_")
    if not eq or not key:
        raise ConfigError(f"--sweep takes KEY=V1,V2,… (got {spec!r})")
    if key not in sweep_keys_known():
        raise ConfigError(f"--sweep: unknown key {key!r} (known keys: {', '.join(sweep_keys_known())})")
    items = [v.strip() for v in values.split(",")]
    if not values.strip() or any(not v for v in items):
        raise ConfigError(f"--sweep {key}: give comma-separated values, e.g. {key}=V1,V2 (got {spec!r})")
    return key, [_typed(key, v) for v in items]


def _value_part(key: str, value: object) -> str:
    """The piece of a file name that says a variant's value of ``key``: lr0.1, optimizer-adam, batch_size-8."""
    if key == "lr":
        return f"lr{value:.10g}"
    if value is None:
        shown = "full"
    elif isinstance(value, float):
        shown = f"{value:.10g}"
    else:
        shown = str(value)
    return f"{key}-{shown}"


def _json_scalar(value: object) -> object:
    return value if value is None or isinstance(value, (str, int, float)) else str(value)


def normalise_sweep(sweep: Mapping[str, Sequence] | None, where: str = "sweep") -> dict[str, list]:
    """Check a sweep's keys and that each has a non-empty list of values; duplicates are dropped."""
    out: dict[str, list] = {}
    for key, values in (sweep or {}).items():
        if key not in sweep_keys_known():
            raise ConfigError(f"{where}: unknown key {key!r} (known keys: {', '.join(sweep_keys_known())})")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(f"{where}: {key} must be a non-empty list of values")
        if len(values) > 64:
            raise ConfigError(f"{where}: {key} takes at most 64 values (got {len(values)})")
        unique: list = []
        for v in values:
            if key in RENDER_SWEEP_KEYS and v not in _render_choices(key):
                raise ConfigError(f"{where}: {key} must be one of {', '.join(_render_choices(key))} (got {v!r})")
            if v not in unique or type(v) is not type(unique[unique.index(v)]):
                unique.append(v)
        out[key] = unique
    return out


#: The most variants one batch (or one course) may plan: each is a clip of its own.
MAX_VARIANTS = 1024


def check_variant_count(n: int, where: str = "sweep") -> None:
    """Refuse a plan of more than :data:`MAX_VARIANTS` clips before anything is built (a product of
    a few keys of 64 values each is millions of variants)."""
    if n > MAX_VARIANTS:
        raise ConfigError(
            f"{where}: {n} variants, more than the {MAX_VARIANTS} one run may render (the product of the swept "
            "values); sweep fewer values"
        )


@dataclass(frozen=True)
class Variant:
    """One clip of a sweep: its name, config, render options (its own theme, quality and scene) and digest."""

    name: str
    config: Config
    options: BatchOptions
    digest: str
    sweep: dict = field(default_factory=dict)  # this variant's value of every swept key (JSON scalars)

    def job(self, out_dir: Path) -> dict:
        return {
            "name": self.name,
            "config": self.config.to_dict(),
            "render": self.options.render_dict(),
            "out_dir": str(out_dir),
            "digest": self.digest,
        }


@dataclass(frozen=True)
class ComparePlan:
    """One comparison clip: the variants of one group (equal on every swept key but ``by``)."""

    name: str
    by: str
    group: dict  # the group's value of every other swept key
    members: tuple[Variant, ...]
    options: BatchOptions  # the group's render options (theme, quality)


def variant_name(options: BatchOptions, lr: float) -> str:
    from descent.scenes.helpers import safe_name

    stem = safe_name(options.prefix or options.scene, max_bytes=80)  # the lr part is never cut off
    return safe_name(f"{stem}_lr{lr:.10g}")


def _sweep_name(options: BatchOptions, values: Mapping[str, object], exact: str | None) -> str:
    """``<prefix or scene>_<key-value>_…``: the lr-only names stay ``fit_lr0.1``; a course clip without
    a sweep is its own name."""
    from descent.scenes.helpers import safe_name

    if exact is not None and not values:
        return safe_name(exact)
    if list(values) == ["lr"] and exact is None:
        return variant_name(options, values["lr"])
    stem = safe_name(exact or options.prefix or options.scene, max_bytes=80)
    # with no prefix, a swept scene is the name's stem already
    parts = [
        _value_part(k, v) for k, v in values.items() if not (k == "scene" and exact is None and not options.prefix)
    ]
    return safe_name("_".join([stem, *parts]))


def plan_variants(
    lrs: Sequence[float] | None,
    options: BatchOptions,
    sweep: Mapping[str, Sequence] | None = None,
    *,
    exact_name: str | None = None,
    where: str = "sweep",
) -> list[Variant]:
    """One variant per combination of the swept values (the cartesian product, in the order given).

    ``lrs`` is a shortcut for a sweep of ``lr`` (after the other keys). Each variant gets its name
    (from the keys that vary), its config and render options, and the hash of what it depends on.
    ``exact_name``: a course clip's name (its stem; without a sweep, the file name itself).
    """
    import itertools

    swept = normalise_sweep(sweep, where)
    if lrs is not None and len(lrs):
        if "lr" in swept:
            raise ConfigError(f"{where}: give the learning rates once (lr is swept and given as --lr)")
        swept["lr"] = [float(lr) for lr in lrs]
    check_variant_count(math.prod(len(v) for v in swept.values()), where)
    used = versions()
    out: list[Variant] = []
    seen: dict[str, str] = {}
    for combo in itertools.product(*swept.values()):
        values = dict(zip(swept, combo, strict=True))
        render = {k: v for k, v in values.items() if k in RENDER_SWEEP_KEYS}
        train = {k: v for k, v in values.items() if k not in RENDER_SWEEP_KEYS}
        try:
            config = options.base.replace(**train)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:  # pragma: no cover - _coerce raises ConfigError
            raise ConfigError(f"{where}: {exc}") from None
        opts = BatchOptions(**{**options.__dict__, **render, "base": config}) if render else options
        shown = {k: _json_scalar(getattr(config, k) if k in train else render[k]) for k in values}
        name = _sweep_name(opts, shown, exact_name)
        digest = _digest({"config": config.to_dict(), "render": opts.render_dict(), "versions": used})
        if name in seen:
            if seen[name] == digest:
                continue  # the same variant twice (e.g. the same lr given twice)
            raise ConfigError(f"{where}: two variants would share the file name {name!r}")
        seen[name] = digest
        out.append(Variant(name, config, opts, digest, shown))
    return out


def compare_keys(sweep_keys: Sequence[str]) -> list[str]:
    """The swept keys a comparison may be made along: not theme, quality or scene (one clip has one of
    each), and not the keys that change the data (the comparison draws one data set)."""
    return [k for k in sweep_keys if k not in RENDER_SWEEP_KEYS and k not in DATA_KEYS]


def check_compare_by(by: str | None, sweep_keys: Sequence[str]) -> str | None:
    """The key to compare along: ``by`` if it may be, else the first comparable swept key (None: none)."""
    if by is None:
        usable = compare_keys(sweep_keys)
        return usable[0] if usable else None
    by = by.replace("-", "_")
    if by not in sweep_keys:
        raise ConfigError(f"cannot compare by {by}: {by} is not swept (swept: {', '.join(sweep_keys) or 'nothing'})")
    if by in DATA_KEYS:
        raise ConfigError(
            f"cannot compare by {by}: runs that differ in {by} do not share their data, and a comparison draws one "
            "data set (compare by " + (", ".join(compare_keys(sweep_keys)) or "optimizer, lr, momentum, …") + ")"
        )
    if by in RENDER_SWEEP_KEYS:
        raise ConfigError(f"cannot compare by {by}: one comparison clip has one {by}; compare by a training key")
    return by


def compare_name(options: BatchOptions, by: str = "lr", group: Mapping[str, object] | None = None) -> str:
    """The file name (stem) of a comparison clip: ``compare_lrs`` (lr-only batches, as before),
    ``compare_optimizers_lr0.1`` (by optimizer, in the group whose lr is 0.1)."""
    from descent.scenes.helpers import safe_name

    parts = [_value_part(k, v) for k, v in (group or {}).items()]
    return safe_name("_".join([f"{safe_name(options.prefix or 'compare', max_bytes=80)}_{by}s", *parts]))


def plan_compares(
    variants: Sequence[Variant], by: str | None, options: BatchOptions, *, exact_name: str | None = None
) -> list[ComparePlan]:
    """One comparison per group of variants that agree on every swept key but ``by`` (and scene: the
    comparison is its own scene); a group keeps the first variant of each value of ``by``."""
    if by is None:
        return []
    from descent.scenes.helpers import safe_name

    groups: dict[str, list[Variant]] = {}
    fixed: dict[str, dict] = {}
    for v in variants:
        group = {k: x for k, x in v.sweep.items() if k not in (by, "scene")}
        key = json.dumps(group, sort_keys=True)
        members = groups.setdefault(key, [])
        fixed[key] = group
        if all(m.sweep.get(by) != v.sweep.get(by) for m in members):
            members.append(v)
    plans = []
    for key, members in groups.items():
        if exact_name is not None:
            parts = [_value_part(k, x) for k, x in fixed[key].items()]
            name = safe_name("_".join([safe_name(exact_name, max_bytes=80), *parts]))
        else:
            name = compare_name(options, by, fixed[key])
        plans.append(ComparePlan(name, by, fixed[key], tuple(members), members[0].options))
    return plans


# -- the worker side ---------------------------------------------------------------------
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
    from descent.outputs.warm import keep_text_outlines, preload

    preload()  # once per worker, not once per job (a no-op after a fork)
    keep_text_outlines()  # in the worker: the caller's own process (the API's) is left as it was
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
                if os.environ.get(FAULT_MARK_ENV):  # each death noted, so a test can count the tries
                    with open(os.environ[FAULT_MARK_ENV], "a") as fh:
                        fh.write(f"{lr:g}\n")
                os._exit(9)
            if kind == "killonce":
                mark = Path(os.environ[FAULT_MARK_ENV])
                if not mark.exists():
                    mark.touch()
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
            from descent.outputs.warm import preload

            preload()
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
        # a forked worker starts with everything here out of its collector's sight (what was imported is never
        # collected: the collector, and copy-on-write, keep off it); this process (maybe the caller's) does not
        freeze = self.ctx.get_start_method() == "fork" and gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        try:
            proc.start()
        finally:
            if freeze:
                gc.unfreeze()
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
    return {"schema": MANIFEST_SCHEMA, "variants": {}, "compares": []}


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
        problem = _compare_problem(data["compare"])
        if problem:
            return problem
    compares = data.get("compares")
    if compares is not None:
        if not isinstance(compares, list):
            return "compares is not a list"
        for e in compares:
            problem = _compare_problem(e)
            if problem:
                return problem
        names = [e["name"] for e in compares]
        if len(set(names)) != len(names) or set(names) & set(variants):
            return "compares: every comparison needs a name of its own"
    keys = data.get("sweep_keys")
    if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        return "sweep_keys is not a list of keys"
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
    if data.get("compares") is not None:
        out["compares"] = data["compares"]
    else:  # a manifest from before comparisons along any key: its one comparison
        out["compares"] = [data["compare"]] if data.get("compare") is not None else []
    return out, None


def _manifest_bytes(manifest: dict) -> bytes:
    """The manifest as written: ``compares``, and ``compare`` (the first of them) for older readers."""
    data = {k: v for k, v in manifest.items() if k != "compare"}
    if data.get("compares"):
        data["compare"] = data["compares"][0]
    return (json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def _find_compare(manifest: dict, name: str) -> dict | None:
    return next((e for e in manifest.get("compares", []) if e["name"] == name), None)


def _entry_ok(out: Path, entry: dict | None, digest: str | None = None) -> bool:
    """Whether ``entry``'s files are all there, exactly as recorded (and its digest is ``digest``)."""
    if not entry or (digest is not None and entry.get("digest") != digest):
        return False
    checks = entry["checks"]
    named = {**entry["files"], **({"loss_plot": entry["loss_plot"]} if "loss_plot" in entry else {})}
    return all(fs.verify(out, name, checks[kind]) for kind, name in named.items())


def _publish_entry(
    out: Path,
    work: Path,
    manifest: dict,
    entry: dict,
    key: str | None,
    published: list[str],
    label: str,
    seen: dict[str, tuple | None] | None = None,
) -> dict:
    """Publish the files staged in ``work`` for ``entry`` with the manifest that lists them, as one set.

    ``key`` is the variant's name (None: a comparison, by its entry's name). The files of the entry
    it replaces that the new one no longer has go too (when they still match their checks). ``seen``
    (from :func:`refuse_unproven`, kept up to date here) holds each file as it was proven descent's:
    one put in its place since, by someone else, is refused (:class:`NotOurs`) and kept.
    """
    new = fs.staging(work)
    named = {**entry["files"], **({"loss_plot": entry["loss_plot"]} if "loss_plot" in entry else {})}
    for name in [*named.values(), MANIFEST]:  # proven descent's before rendering: still the same files?
        if seen is not None and name in seen and _identity(out / name) != seen[name]:
            raise NotOurs(
                f"{fs.printable(str(out / name))!r} was put there while the batch rendered, not by descent: "
                "it is kept, and this clip is not published"
            )
    with fs.disk_guard([out]):  # the sidecar proves its set is descent's, as a render's does
        fs.seal_sidecar(new / entry["files"]["json"], list(named.values()))
    entry["checks"] = {kind: fs.file_check(new / name) for kind, name in named.items()}
    old = manifest["variants"].get(key) if key is not None else _find_compare(manifest, entry["name"])
    obsolete = {}
    if old:
        old_named = {**old["files"], **({"loss_plot": old["loss_plot"]} if "loss_plot" in old else {})}
        obsolete = {name: old["checks"][kind] for kind, name in old_named.items() if name not in named.values()}
    updated = {**manifest, "variants": dict(manifest["variants"])}
    if key is None:
        updated["variants"].pop(entry["name"], None)  # a name a variant had before is the comparison's now
        rest = [e for e in manifest.get("compares", []) if e["name"] != entry["name"]]
        updated["compares"] = (
            [entry, *rest] if old is None else [entry if e is old else e for e in manifest["compares"]]
        )
    else:
        updated["variants"][key] = entry
        updated["compares"] = [e for e in manifest.get("compares", []) if e["name"] != key]
    (new / MANIFEST).write_bytes(_manifest_bytes(updated))
    need = sum(c["size"] for c in entry["checks"].values())
    with fs.disk_guard([out], {out: need}), fs.signals_deferred():
        fs.publish(out, work, [*named.values(), MANIFEST], obsolete)
        manifest.clear()
        manifest.update(updated)
        published.append(label)
        if seen is not None:  # what descent itself just put there (or removed)
            for name in [*named.values(), MANIFEST, *obsolete]:
                seen[name] = _identity(out / name)
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


@dataclass(frozen=True)
class BatchPlan:
    """What a batch (or a course) renders: its variants and its comparisons."""

    variants: list[Variant]
    compares: list[ComparePlan]
    sweep_keys: list[str]
    title: str | None = None  # the gallery's title (None: the batch's)


def plan_batch(
    lrs: Sequence[float] | None,
    options: BatchOptions,
    sweep: Mapping[str, Sequence] | None = None,
    *,
    compare: bool = True,
    compare_by: str | None = None,
) -> BatchPlan:
    """The variants of a sweep and, with ``compare``, one comparison per group along ``compare_by``
    (default: the first swept key a comparison can be made along)."""
    variants = plan_variants(lrs, options, sweep)
    if not variants:
        raise ConfigError("nothing to render: give learning rates or a sweep")
    keys = list(normalise_sweep(sweep)) + (["lr"] if lrs is not None and len(lrs) else [])
    by = check_compare_by(compare_by, keys)
    compares = plan_compares(variants, by, options) if compare else []
    check_plan_names(variants, compares)
    return BatchPlan(variants, compares, keys)


#: The suffixes of the files a clip may publish (mp4, poster, sidecar, captions, transcripts, WebM, GIF).
_CLIP_SUFFIXES = (".mp4", ".png", ".json", ".vtt", ".transcript.html", ".transcript.md", ".webm", ".gif")
#: The folder's own files: the manifest and the gallery's page.
_FOLDER_FILES = (MANIFEST, "index.html", "gallery.html")


def check_plan_names(variants: Sequence[Variant], compares: Sequence[ComparePlan], where: str = "sweep") -> None:
    """Every clip of a plan has a name of its own, and no file of one clip is a file of another (a course
    clip ``a_loss`` and the loss plot ``a_loss.png`` of a comparison ``a``) or the folder's manifest or
    gallery (a clip ``manifest``); a case-insensitive file system keeps them apart too."""
    owner: dict[str, str] = {f: "the manifest" if f == MANIFEST else "the gallery" for f in _FOLDER_FILES}
    seen: set[str] = set()
    clips = [*((v.name, False) for v in variants), *((c.name, True) for c in compares)]
    for name, _ in clips:
        if name.lower() in seen:
            raise ConfigError(f"{where}: two clips would share the file name {name!r}")
        seen.add(name.lower())
    for name, is_compare in clips:
        for file in [name + s for s in _CLIP_SUFFIXES] + ([f"{name}_loss.png"] if is_compare else []):
            other = owner.setdefault(file.lower(), f"clip {name!r}")
            if other != f"clip {name!r}":
                raise ConfigError(f"{where}: clip {name!r} and {other} would both write {file}")


def _entry_files(entry: dict) -> list[str]:
    return [*entry["files"].values(), *([entry["loss_plot"]] if "loss_plot" in entry else [])]


def _manifest_claims(out: Path) -> set[str]:
    """The file names the folder's manifest claims for descent: those its valid entries list.

    A ``manifest.json`` that is not descent's at all (not a plain file of JSON, or JSON without
    the ``descent.batch/1`` schema) is the user's: :class:`NotOurs`. A descent manifest damaged
    or edited since is still descent's (it is rewritten), and each entry that is still valid
    still claims its files (which may be replaced: say, a truncated mp4 rendered again).
    """
    path = out / MANIFEST
    if not os.path.lexists(path):
        return set()
    data, _ = fs.read_record(path)
    if data is None or data.get("schema") != MANIFEST_SCHEMA:
        raise NotOurs(
            f"{fs.printable(str(path))!r} is not a manifest descent wrote (no {MANIFEST_SCHEMA} manifest): "
            "choose another --out-dir, or move the file away (nothing was written)"
        )
    claimed: set[str] = set()
    variants = data.get("variants")
    for key, entry in variants.items() if isinstance(variants, dict) else ():
        if _variant_problem(key, entry) is None:
            claimed.update(_entry_files(entry))
    compares = data.get("compares")
    for entry in [*(compares if isinstance(compares, list) else []), data.get("compare")]:
        if entry is not None and _compare_problem(entry) is None:
            claimed.update(_entry_files(entry))
    return claimed


def _is_regular(path: Path) -> bool:
    """Whether ``path`` itself (not what a symlink points to) is a regular file."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _sidecar_vouches(out: Path, name: str) -> Callable[[str], bool]:
    """Which files of the clip ``name`` its sidecar ``NAME.json`` in ``out`` proves are descent's, as a
    render judges (:mod:`descent.outputs.clip`): a sealed sidecar itself and each file its ``checks`` list
    as it is now; a clip sidecar from before those records, every file of the clip's names (a comparison's
    loss plot too); anything else, nothing."""
    side = f"{name}.json"
    data, sealed = fs.read_record(out / side)
    if data is None or data.get("schema") != "descent.clip/1" or data.get("name", name) != name:
        return lambda file: False
    own = {f"{name}{s}" for s in _CLIP_SUFFIXES} | {f"{name}{_SUFFIXES['loss_plot']}"}
    if sealed is None and "checks" not in data:  # written before the records: the set is taken as descent's
        if data.get("scene") != _compare_scene():
            own.discard(f"{name}{_SUFFIXES['loss_plot']}")
        return own.__contains__
    if not sealed:
        return lambda file: False
    listed = data.get("checks") if isinstance(data.get("checks"), dict) else {}
    return lambda file: file == side or (file in own and file in listed and fs.verify(out, file, listed[file]))


def planned_files(plan: BatchPlan) -> list[tuple[str, list[str]]]:
    """Each clip of ``plan`` (its name) with the files a render of it writes."""
    out = []
    for clip, options, extra in [
        *((v.name, v.options, ()) for v in plan.variants),
        *((c.name, c.options, (_SUFFIXES["loss_plot"],)) for c in plan.compares),
    ]:
        kinds = ["mp4", "poster", "json", "vtt", "transcript", "transcript_md"]
        kinds += ["webm"] * options.webm + ["gif"] * options.gif
        out.append((clip, [f"{clip}{_SUFFIXES[k]}" for k in kinds] + [f"{clip}{s}" for s in extra]))
    return out


def _identity(path: Path) -> tuple | None:
    """What tells a file at ``path`` from any other that could take its place (None: nothing there)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, stat.S_IFMT(st.st_mode))


def refuse_unproven(out: Path, plan: BatchPlan) -> dict[str, tuple | None]:
    """Refuse, before anything is rendered, to replace a file in ``out`` that descent cannot prove it wrote.

    Called under the folder's lock, once an interrupted publication is finished. ``manifest.json`` must
    be descent's; each file a clip of ``plan`` would write must be claimed by a valid entry of that
    manifest, or vouched for by the clip's sidecar, and be a regular file (descent never published a
    symlink or a FIFO); the gallery needs ``index.html`` or ``gallery.html``
    free or descent's (a user's ``index.html`` is never replaced: the gallery goes beside it).

    Returns each of those files' identity as it was proven (:func:`_identity`): a file that has another
    when its clip is published was put there meanwhile, by someone else (:func:`_publish_entry` refuses).

    Raises
    ------
    NotOurs
        Naming the first such file (a RenderError: one line, exit 2).
    RenderError
        A directory has the name of a file the plan writes.
    """
    from descent.publish.gallery import PAGE_NAMES
    from descent.publish.gallery import _ours as page_is_ours

    claimed = _manifest_claims(out)
    seen: dict[str, tuple | None] = {MANIFEST: _identity(out / MANIFEST)}
    for clip, names in planned_files(plan):
        vouches = None
        for file in names:
            path = out / file
            seen[file] = _identity(path)
            if not os.path.lexists(path):
                continue
            if path.is_dir() and not path.is_symlink():
                raise RenderError(f"cannot write {fs.printable(str(path))!r}: a directory has that name")
            if not _is_regular(path):  # descent publishes regular files only: a symlink or a FIFO is the user's
                raise NotOurs(
                    f"{fs.printable(str(path))!r} is not a file descent wrote (not a regular file): choose another "
                    "--out-dir, or move it away (nothing was written)"
                )
            if file in claimed:
                continue
            vouches = vouches or _sidecar_vouches(out, clip)
            if not vouches(file):
                raise NotOurs(
                    f"{fs.printable(str(path))!r} is not a file descent can prove it wrote (no entry of a descent "
                    f"manifest lists it, no sidecar of a descent clip vouches for it): choose another --out-dir, "
                    "or move the file away (nothing was written)"
                )
    for page in PAGE_NAMES:
        try:
            st = (out / page).lstat()
        except FileNotFoundError:
            return seen
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and page_is_ours(out / page):
            return seen
    raise NotOurs(
        f"{' and '.join(PAGE_NAMES)} in {fs.printable(str(out))!r} are not descent's pages: choose another "
        "--out-dir, or move them away (nothing was written)"
    )


def run_batch(
    lrs: Sequence[float] | None = None,
    options: BatchOptions | None = None,
    *,
    sweep: Mapping[str, Sequence] | None = None,
    compare_by: str | None = None,
    scheduler: str | None = None,
    out_dir: str | os.PathLike = "media/batch",
    jobs: int | None = None,
    compare: bool = True,
    force: bool = False,
    progress: bool | Callable[[str, dict], None] = True,
    quality: str | None = None,
    wait: bool = True,
    notify: Callable[[str], None] | None = None,
) -> BatchResult:
    """Render a variant per combination of the swept values (in parallel), the comparisons, captions
    and the gallery.

    Parameters
    ----------
    lrs
        Learning rates: a shortcut for ``sweep={"lr": lrs}`` (swept after the other keys).
    options
        The render options and the base config every variant starts from.
    sweep
        Key → values, for any key of :class:`~descent.trainer.Config` and ``theme``, ``quality``,
        ``scene``: every combination is one variant, named from the keys that vary
        (``fit_optimizer-adam_lr0.1``).
    compare_by
        The key each comparison clip compares along (default: the first swept key that can be);
        one comparison per group of variants equal on every other key.
    scheduler
        None: a pool of local worker processes (``jobs``). ``"local:N"``: a Dask ``LocalCluster``
        of N workers; ``"tcp://HOST:PORT"``: a running Dask cluster (``pip install 'descent[cluster]'``).

    The whole run holds the output folder's lock (``wait``: wait for another run, or raise
    :class:`~descent.outputs.files.FolderBusy`). ``notify`` receives one-line notes (default:
    stderr). Ctrl-C or SIGTERM stops the workers, removes this run's work folders and raises
    :class:`~descent.outputs.files.Interrupted` naming what was published.

    Examples
    --------
    >>> run_batch(sweep={"optimizer": ["sgd", "adam"], "lr": [0.1, 0.2]}, out_dir="media/opt")  # doctest: +SKIP
    """
    options = options or BatchOptions()
    if quality is not None:
        options = BatchOptions(**{**options.__dict__, "quality": quality})
    plan = plan_batch(lrs, options, sweep, compare=compare, compare_by=compare_by)
    return run_plan(
        plan, out_dir=out_dir, jobs=jobs, scheduler=scheduler, force=force, progress=progress, wait=wait, notify=notify
    )


def run_plan(
    plan: BatchPlan,
    *,
    out_dir: str | os.PathLike,
    jobs: int | None = None,
    scheduler: str | Executor | None = None,
    force: bool = False,
    progress: bool | Callable[[str, dict], None] = True,
    wait: bool = True,
    notify: Callable[[str], None] | None = None,
) -> BatchResult:
    """Render a planned batch or course: the one code path for names, resume, failures and publishing.

    ``scheduler``: None (the local pool), a spec for :func:`descent.executors.connect`, or an executor
    it returned (run_plan closes it when done).
    """
    from descent.outputs.clip import check_out_dir

    voiced = next((v.options for v in plan.variants if v.options.voice), None)
    if voiced is not None:
        _check_voice(voiced)  # before any variant trains: one line for the whole batch
    executor = scheduler if scheduler is None or not isinstance(scheduler, str) else None
    if isinstance(scheduler, str):
        from descent.executors import connect

        # an unreachable scheduler or workers of other versions: one line, before anything is written
        executor = connect(scheduler)
    try:
        out = check_out_dir(out_dir)
        for fixed in (MANIFEST, "index.html"):
            if (out / fixed).is_dir() and not (out / fixed).is_symlink():
                raise RenderError(f"cannot write {str(out / fixed)!r}: a directory has that name")
        say = notify or _say
        published: list[str] = []
        try:
            with fs.output_lock(out, wait=wait, notify=say):
                return _run_locked(out, plan, jobs, executor, force, progress, say, published)
        except Interrupted:
            raise
        except KeyboardInterrupt:
            raise Interrupted(published) from None
    finally:
        if executor is not None:
            executor.close()


def _run_locked(
    out: Path,
    plan: BatchPlan,
    jobs: int | None,
    executor,
    force: bool,
    progress: bool | Callable[[str, dict], None],
    say: Callable[[str], None],
    published: list[str],
) -> BatchResult:
    variants = plan.variants
    for line in fs.sweep_stale(out):
        say(line)
    seen = refuse_unproven(out, plan)  # before anything is rendered: nothing is written if a file is not descent's
    manifest, problem = load_manifest(out)
    if problem:
        say(f"descent: {problem}: every variant is rendered again")
    manifest["sweep_keys"] = list(plan.sweep_keys)
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
                    "render": v.options.render_dict(),
                    "sweep": dict(v.sweep),
                    "versions": versions(),
                    "status": "rendered",
                }
                try:
                    rows[name] = _publish_entry(out, work, manifest, entry, name, published, name, seen)
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

    n_workers = executor.workers if executor is not None else max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    # side by side, each render's encoder gets a fair share of the cores, not all of them
    threads = executor.encoder_threads if executor is not None else encoder_threads(n_workers)
    try:
        t_jobs = []
        with fs.disk_guard([out]):
            for v in todo:
                works[v.name] = fs.make_work_dir(out)
                t_jobs.append({**v.job(out), "work": str(works[v.name]), "encoder_threads": threads})
        if t_jobs:
            pool = executor if executor is not None else WorkerPool(n_workers)
            try:
                pool.run(t_jobs, done)
            finally:
                pool.stop()  # every worker is gone (or idle) before anything is said or cleaned
    finally:
        for w in works.values():  # the jobs that never finished
            fs.remove_work_dir(w)
        if bar is not None:
            bar.__exit__(None, None, None)
    for v in variants:
        if v.name not in rows and v not in todo:
            rows[v.name] = {**manifest["variants"][v.name], "status": "unchanged"}

    compare_entries: list[dict] = []
    for cp in plan.compares:
        members = [v for v in cp.members if v.name in rows]
        if not members:  # none of its variants is there: the comparison as it stands, if it does
            old = _find_compare(manifest, cp.name)
            if _entry_ok(out, old):
                compare_entries.append(old)
            continue
        try:
            compare_entries.append(_compare(out, cp, members, manifest, force, published, seen))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # the variants stand; the comparison keeps its previous version
            old = _find_compare(manifest, cp.name)
            kept = _entry_ok(out, old)
            failures.append({"name": cp.name, "reason": _reason(exc), "kept": kept})
            emit(f"  FAILED {cp.name}: {_reason(exc)}", "error", {"name": cp.name, "reason": _reason(exc)})
            if kept:
                compare_entries.append(old)  # the comparison as it stands
    shown = [(v, manifest["variants"][v.name]) for v in variants if v.name in verified]
    with fs.disk_guard([out]):
        gallery = (
            _gallery(out, shown, compare_entries, plan.sweep_keys, plan.title) if shown or compare_entries else None
        )
    ordered = [rows[v.name] for v in variants if v.name in rows]
    first = compare_entries[0] if compare_entries else None
    return BatchResult(
        out, ordered, failures, first, gallery, skipped, published, compare_entries, list(plan.sweep_keys)
    )


def encoder_threads(n_workers: int) -> int | None:
    """Each of ``n_workers`` side-by-side renders gets its share of this machine's cores for x264."""
    return max(1, (os.cpu_count() or 1) // n_workers) if n_workers > 1 else None


def _compare(
    out: Path,
    cp: ComparePlan,
    members: Sequence[Variant],
    manifest: dict,
    force: bool,
    published: list[str],
    seen: dict[str, tuple | None] | None = None,
) -> dict:
    """A comparison clip and its loss plot, from the variants' own traces (no retraining)."""
    from descent.outputs.clip import stage_clip
    from descent.publish import make_gif, render_loss_plot, transcode_webm, vtt_cues, write_vtt
    from descent.publish.transcript import stage_clip_transcript
    from descent.scenes.compare import run_label

    entries = [manifest["variants"][v.name] for v in members]
    traces = [Trace.from_dict(json.loads((out / e["files"]["json"]).read_text())["trace"]) for e in entries]
    name = cp.name
    r = cp.options.render_dict()
    # an lr comparison keeps the digest it always had (its clips resume)
    by = {} if cp.by == "lr" else {"by": cp.by}
    digest = _digest({"variants": [e["digest"] for e in entries], "render": r, **by})
    old = _find_compare(manifest, name)
    if not force and old and old["digest"] == digest and _entry_ok(out, old):
        return old
    scene_options = {**r["scene_options"], **({"compare_by": cp.by} if by else {})}
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
            scene_options=scene_options,
        )
        names = {"mp4": res.mp4.name, "poster": res.poster.name, "json": res.sidecar.name}
        extras = (1.0 if r["webm"] else 0.0) + (1.0 if r["gif"] else 0.0)
        need = fs.space_needed(res.frames, res.width, res.height, res.fps, extras)
        with fs.disk_guard([out], {out: need}):
            names["vtt"] = write_vtt(new / f"{name}.vtt", vtt_cues(_compare_scene(), traces, scene_options)).name
            names["transcript"], names["transcript_md"] = stage_clip_transcript(res.sidecar)
            if r["webm"]:
                names["webm"] = transcode_webm(res.mp4, new / f"{name}.webm").name
            if r["gif"]:
                names["gif"] = make_gif(res.mp4, new / f"{name}.gif", r["gif_max_bytes"]).name
            by = scene_options.get("compare_by", "lr")
            from manim import tempconfig

            # the plot's Text caches its glyphs under Manim's media_dir: a scratch folder, not the user's cwd
            with fs.scratch_dir() as scratch, tempconfig({"media_dir": str(scratch / "media")}):
                plot = render_loss_plot(traces, new / f"{name}_loss.png", theme=r["theme"], by=by)
        entry = {
            "name": name,
            "digest": digest,
            "files": names,
            "loss_plot": plot.name,
            "width": res.width,
            "height": res.height,
            "lrs": [t.config.lr for t in traces],
            "by": cp.by,
            "group": dict(cp.group),
            "members": [v.name for v in members],
            "labels": [run_label(t.config, cp.by) for t in traces],
            "render": r,
        }
        return _publish_entry(out, work, manifest, entry, None, published, name, seen)


def _gallery(
    out: Path,
    shown: Sequence[tuple[Variant, dict]],
    compares: Sequence[dict],
    sweep_keys: Sequence[str] = ("lr",),
    title: str | None = None,
) -> Path:
    """``index.html`` from what is published and verified: each card from its own manifest entry."""
    from descent.publish import write_gallery
    from descent.publish.explorer import sidecar_stats

    cards = []
    by_name = {v.name: e for v, e in shown}
    for compare_entry in compares:
        params = _compare_params(compare_entry, by_name)
        cards.append(
            {
                "name": compare_entry["name"],
                "title": _compare_title(compare_entry),
                "files": compare_entry["files"],
                "width": compare_entry["width"],
                "height": compare_entry["height"],
                "wide": True,
                "params": params,
                "sweep": dict(compare_entry.get("group") or {}),
                "compare_by": compare_entry.get("by", "lr"),
                "theme": (compare_entry.get("render") or {}).get("theme", "dark"),
            }
        )
    for v, e in shown:
        c = Config.from_mapping(e["config"])
        note = f"Diverged at step {e['diverged_at']}" if e.get("diverged_at") is not None else ""
        swept = {k: x for k, x in (e.get("sweep") or {}).items() if k not in ("lr", "theme")}
        cards.append(
            {
                "name": v.name,
                "title": ", ".join(
                    [
                        f"lr = {c.lr:g}",
                        *(_swept_text(k, x) for k, x in swept.items()),
                    ]
                ),
                # the explorer's numbers, from the sidecar as the manifest recorded it (size and SHA-256)
                "stats": sidecar_stats(out, e["files"]["json"], e["checks"]["json"]),
                "files": e["files"],
                "width": e["width"],
                "height": e["height"],
                "note": note,
                "voiced": bool(e.get("voiced")),
                "sweep": dict(e.get("sweep") or {"lr": c.lr}),
                "theme": e["render"].get("theme", "dark"),
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
    lrs = ", ".join(dict.fromkeys(f"{Config.from_mapping(e['config']).lr:g}" for _, e in shown))  # each once
    return write_gallery(
        out,
        cards,
        title=title or _page_title(sweep_keys),
        subtitle=f"1-D linear regression by gradient descent, lr = {lrs}" if lrs else "1-D linear regression",
        loss_plot=_loss_plots(compares),
        sweep_keys=tuple(sweep_keys),
    )


def _loss_plots(compares: Sequence[dict]) -> dict[str, str] | None:
    """The first comparison's loss plot, by theme (its light twin too, when the themes were swept)."""
    if not compares:
        return None

    def rest(entry: dict) -> dict:
        return {k: x for k, x in (entry.get("group") or {}).items() if k != "theme"}

    plots: dict[str, str] = {}
    for entry in compares:
        if rest(entry) == rest(compares[0]):
            plots.setdefault((entry.get("render") or {}).get("theme", "dark"), entry["loss_plot"])
    return plots


def _compare_params(entry: dict, variants: dict[str, dict]) -> dict[str, str]:
    """A comparison card's parameters: the values it compares, what its runs share, their optimizer and steps."""
    by = entry.get("by", "lr")
    group = {k: x for k, x in (entry.get("group") or {}).items() if k != "theme"}
    configs = [Config.from_mapping(variants[m]["config"]) for m in entry.get("members") or () if m in variants]
    if by == "lr":
        params = {"learning rates": ", ".join(f"{lr:g}" for lr in entry["lrs"])}
    else:
        values = [getattr(c, by) for c in configs if hasattr(c, by)] or list(entry.get("labels") or ())
        text = ", ".join(dict.fromkeys(f"{x:g}" if isinstance(x, float) else str(x) for x in values))
        params = {_BY_WORDS.get(by, by).lower(): text}
    for k, x in group.items():
        params["learning rate" if k == "lr" else k] = f"{x:g}" if isinstance(x, float) else str(x)
    if configs and by != "lr" and "lr" not in group:
        params["learning rate"] = ", ".join(dict.fromkeys(f"{c.lr:g}" for c in configs))
    if configs and by != "optimizer" and "optimizer" not in group:
        params["optimizer"] = ", ".join(dict.fromkeys(c.optimizer for c in configs))
    if configs and by != "steps" and "steps" not in group:
        params["steps"] = ", ".join(dict.fromkeys(str(c.steps) for c in configs))
    return params


def _swept_text(key: str, value: object) -> str:
    """A swept key's value in a card's title: ``momentum = 0.9``, ``full batch``, ``optimizer = adam``."""
    if key == "batch_size":
        return "full batch" if value is None else f"batch size {value}"
    return f"{key} = {value:g}" if isinstance(value, float) else f"{key} = {value}"


def _page_title(sweep_keys: Sequence[str]) -> str:
    """The page's heading from what was swept: "learning rates compared", "optimizers and learning rates …"."""
    words = [("learning rates" if k == "lr" else _BY_WORDS.get(k, k).lower()) for k in sweep_keys if k != "theme"]
    if not words:
        return "Gradient descent"
    listed = " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"Gradient descent: {listed} compared"


def _compare_title(entry: dict) -> str:
    """A comparison card's title: what it compares."""
    by = entry.get("by", "lr")
    if by == "lr":
        return "All learning rates, one clip"
    return f"{_BY_WORDS.get(by, by)} compared, one clip"


_BY_WORDS = {
    "optimizer": "Optimizers",
    "momentum": "Momentum values",
    "batch_size": "Batch sizes",
    "w0": "Starting weights",
    "b0": "Starting biases",
    "steps": "Run lengths",
}


def serial_baseline(lrs: Sequence[float], quality: str = "m", out_dir: str | os.PathLike = "media/serial") -> float:
    """Render the variants one after another in this process (the benchmark's baseline)."""
    from descent.outputs.clip import check_out_dir, render
    from descent.trainer import train

    out = check_out_dir(out_dir)
    t0 = time.perf_counter()
    for lr in lrs:
        render(train(Config(lr=lr)), "fit", quality=quality, out_dir=out, name=f"fit_lr{lr:g}", progress=False)
    return time.perf_counter() - t0
