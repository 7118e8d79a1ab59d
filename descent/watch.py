"""Edit and see: render a clip again each time its config (or trace) file is saved.

:func:`watch` is the loop behind ``descent watch CONFIG.toml``. The process
imports torch and Manim once; every render then runs in a child forked from
it (Manim's configuration and caches are global to a process: a fresh child
per render starts each one from the same clean, warm state, and a render that
crashes takes nothing down with it). Saves are seen through the file system's
notifications (:mod:`watchdog`, which Manim installs), on the watched files'
folders, so an editor that saves by writing a temporary file and renaming it
over the original is seen like one that writes in place; a burst of events
(one save can be several) is one change once the folder has been quiet for
:data:`DEBOUNCE_SECONDS`. A save during a render stops that render (nothing
of it is published) and starts the next one.

Each render publishes its files as one set, like ``descent render`` (see
:mod:`descent.outputs.clip`), under a name that does not change while you
edit (by default the config file's name), so the clip is replaced in place.
A bad edit (malformed TOML, an unknown key, a negative learning rate, a trace
that does not validate) prints its one line and the loop keeps watching.

One watcher per output folder: the watching process holds the folder's watch claim
(:func:`descent.outputs.files.watch_claim`, released by the kernel if it is killed) and
a second watcher of the folder is refused at its start; so is a watch whose outputs would
replace a file descent cannot prove it wrote.

Examples
--------
>>> from descent.watch import changed_keys
>>> changed_keys({"lr": 0.1, "steps": 15}, {"lr": 0.2, "steps": 15})
['lr 0.1 → 0.2']
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["watch", "WatchSpec", "changed_keys", "DEBOUNCE_SECONDS"]

#: A change is acted on once its folder has been quiet this long (editors save in bursts).
DEBOUNCE_SECONDS = 0.06


@dataclass
class WatchSpec:
    """What to watch and how to render it.

    ``config_file`` (TOML, the keys of :class:`descent.Config`) is trained and rendered;
    or ``trace_files`` (saved traces, several for ``compare``) are rendered as they are.
    ``render`` holds the keyword arguments of :func:`descent.render` (quality, fps, theme,
    out_dir, preset, scene_options, wait); ``frames`` renders the key frames instead of a
    clip (:func:`descent.outputs.clip.render_frames`).
    """

    config_file: Path | None = None
    trace_files: tuple[Path, ...] = ()
    scene: str = "fit"
    name: str | None = None
    frames: bool = False
    open_player: bool = False
    render: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        """The watched files, absolute."""
        return [
            Path(os.path.abspath(p)) for p in ([self.config_file] if self.config_file else []) + [*self.trace_files]
        ]

    @property
    def out_name(self) -> str:
        """The name of the outputs: ``name``, else the first watched file's stem (stable while editing)."""
        from descent.scenes.helpers import safe_name

        return safe_name(self.name or self.paths[0].stem)


def changed_keys(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What an edit changed, one ``key old → new`` per key (empty for the first render)."""
    if before is None:
        return []
    out = []
    for key in after:
        if before.get(key) != after[key]:
            out.append(f"{key} {_show(before.get(key))} → {_show(after[key])}")
    return out


def _show(value: Any) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


# -- the inputs, read in the watching process ---------------------------------------------
def _snapshot(paths: Sequence[Path]) -> tuple[bytes | None, ...]:
    """The watched files' bytes (None for a file that is not there just now)."""
    out = []
    for p in paths:
        try:
            out.append(p.read_bytes())
        except OSError:
            out.append(None)
    return tuple(out)


def _load(spec: WatchSpec) -> tuple[Any, list[Any], dict[str, Any]]:
    """The config to train (or None) and the traces to draw (or []), and the values to compare.

    Raises ConfigError, TraceError or ValueError with the one line to print.
    """
    from descent.scenes import SCENES
    from descent.trainer import Config, Trace, load_toml

    if spec.trace_files:
        traces = [Trace.load(p) for p in spec.trace_files]
        if not SCENES[spec.scene].many_runs and len(traces) != 1:
            raise ValueError(f"the {spec.scene} scene draws one run (got {len(traces)} traces)")
        values = traces[0].config.to_dict() if len(traces) == 1 else {"lrs": [t.config.lr for t in traces]}
        return None, traces, values
    config = Config.from_mapping(load_toml(spec.config_file), where=str(spec.config_file))
    return config, [], config.to_dict()


# -- the child: train and render once ----------------------------------------------------
def _child(spec: WatchSpec, config: Any, traces: list[Any], parent: int, write_fd: int) -> None:
    """Train (if a config was given) and render; send one JSON line back; never return."""
    code = 0
    try:
        _die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the watching process's to handle

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)  # the watcher stops a render this way (a newer save)
        from descent.outputs.warm import keep_no_more_outlines

        keep_no_more_outlines()  # this process ends with its render: a text kept now would be a copy for nothing
        msg = _render_once(spec, config, traces)
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the parent gets one line
        msg = {"ok": False, "error": _one_line(f"{type(exc).__name__}: {exc}")}
        code = 1
    try:
        os.write(write_fd, (json.dumps(msg) + "\n").encode())
    finally:
        os._exit(code)


def _die_with_parent(parent: int) -> None:
    """Have the kernel end this child when the watching process dies (Linux); leave at once if it has."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover
            pass
    if os.getppid() != parent:
        os._exit(1)


def _render_once(spec: WatchSpec, config: Any, traces: list[Any]) -> dict[str, Any]:
    from descent.outputs.clip import Interrupted, RenderError, render, render_frames
    from descent.trainer import ConfigError, TraceError, train

    t0 = time.perf_counter()
    try:
        if config is not None:
            traces = [train(config)]
        trained = time.perf_counter() - t0
        fn = render_frames if spec.frames else render
        kwargs = dict(spec.render)
        if spec.frames:
            kwargs.pop("preset", None)
        result = fn(traces, spec.scene, name=spec.out_name, **kwargs)  # notes (a busy folder) on stderr
    except Interrupted:
        return {"ok": False, "interrupted": True}
    except (RenderError, ConfigError, TraceError, OSError) as exc:
        return {"ok": False, "error": _one_line(str(exc))}
    t = traces[0]
    return {
        "ok": True,
        "paths": [str(p) for p in result.paths],
        "train_s": trained,
        "render_s": time.perf_counter() - t0 - trained,
        "diverged_at": t.diverged_at,
        "last_k": int(t.last_k),
        "loss": float(t.loss[t.last_k]),
    }


def _one_line(text: str) -> str:
    from descent.trainer.inputs import printable

    return " ".join(printable(text).split())[:400]


# -- the watching process ----------------------------------------------------------------
class _Changes:
    """File-system events on the watched files, as one flag and the time of the latest."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = {os.path.normpath(str(p)) for p in paths}
        self.cond = threading.Condition()
        self.first: float | None = None  # the first event of the burst not yet acted on
        self.last = 0.0

    def dispatch(self, event: Any) -> None:
        """watchdog's handler interface: every event of the watched folders comes here."""
        hit = False
        for attr in ("src_path", "dest_path"):
            p = getattr(event, attr, None)
            if p:
                p = os.fsdecode(p)
                if os.path.normpath(p) in self.paths:
                    hit = True
        if hit and getattr(event, "event_type", "") not in ("opened", "closed_no_write"):
            with self.cond:
                now = time.monotonic()
                self.first = self.first if self.first is not None else now
                self.last = now
                self.cond.notify_all()

    def wait(self, timeout: float | None) -> float | None:
        """Wait up to ``timeout`` for a change that has settled; the time it began, or None."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            while True:
                now = time.monotonic()
                if self.first is not None and now - self.last >= DEBOUNCE_SECONDS:
                    first, self.first = self.first, None
                    return first
                if self.first is not None:
                    wait = self.last + DEBOUNCE_SECONDS - now
                elif deadline is None:
                    wait = 1.0
                else:
                    wait = deadline - now
                    if wait <= 0:
                        return None
                self.cond.wait(max(0.005, min(wait, 1.0)))

    def pending(self) -> bool:
        with self.cond:
            return self.first is not None


def _warm(spec: WatchSpec) -> None:
    """Prepare the watching process once: what every render needs, inherited by each child.

    Imports torch and Manim (nothing runs yet: no thread pools start on import, so forking
    stays safe), then builds the scene once for the lab's shipped trace (no frame drawn,
    nothing trained) with each text's outlines kept (:func:`descent.outputs.warm.keep_text_outlines`): titles,
    axis labels, ticks and glyph sets come out of that build, so a render's scene is built
    in a fraction of the time. A warm-up that fails only makes the renders slower.
    """
    from descent.outputs.clip import scene_class
    from descent.outputs.warm import keep_text_outlines, preload

    preload()
    cls = scene_class(spec.scene)
    keep_text_outlines()
    try:
        _build_once(cls, spec)
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


def _build_once(cls: type, spec: WatchSpec) -> None:
    """Build (set up, not render) the scene for the lab's shipped trace, as a render would:
    the texts it typesets are kept for the renders to come."""
    from manim import tempconfig

    from descent.outputs import files
    from descent.outputs.clip import QUALITIES, _manim_defaults
    from descent.scenes import SCENES
    from descent.scenes.base import load_scene_trace
    from descent.scenes.theme import THEMES

    theme = spec.render.get("theme", "dark")
    traces = [load_scene_trace()]
    attrs: dict[str, Any] = {"theme": theme, **(spec.render.get("scene_options") or {})}
    if SCENES[spec.scene].many_runs:
        attrs["traces"] = traces
    else:
        attrs["trace"] = traces[0]
    probe = type(cls.__name__, (cls,), attrs)
    with files.scratch_dir() as scratch:
        settings = {
            "media_dir": str(scratch / "media"),
            "quality": QUALITIES[spec.render.get("quality", "l")],
            "disable_caching": True,
            "verbosity": "ERROR",
            "background_color": THEMES[theme].background,
        }
        if spec.render.get("fps"):
            settings["frame_rate"] = spec.render["fps"]
        with tempconfig(_manim_defaults()), tempconfig(settings):
            probe().setup()


def _output_names(spec: WatchSpec) -> list[str]:
    """The file names a render of ``spec`` publishes (a clip's set, or the key frames)."""
    from descent.outputs.clip import frame_names

    name = spec.out_name
    if spec.frames:
        return frame_names(name)
    return [f"{name}{ext}" for ext in (".mp4", ".png", ".json", ".transcript.html", ".transcript.md")]


def _refuse_overwriting_a_watched_file(spec: WatchSpec) -> None:
    """Raise FileExistsError if a render would publish over a watched file (``--out-dir`` its folder).

    ``descent watch lab.json --out-dir .`` would replace the config with the clip's sidecar
    (and then watch its own output): the user's file is not descent's to replace.
    """
    import errno

    out_dir = Path(spec.render.get("out_dir", "media"))
    watched = {os.path.realpath(p) for p in spec.paths}
    for n in _output_names(spec):
        if os.path.realpath(out_dir / n) in watched:
            raise FileExistsError(
                errno.EEXIST,
                f"the render would write {str(out_dir / n)!r}, the watched file itself: "
                "choose another --name or --out-dir",
            )


def _open(path: Path, say: Callable[[str], None]) -> None:
    opener = shutil.which("xdg-open")
    if opener is None:
        say(f"descent: --open: no xdg-open on this system; the clip is {path}")
        return
    try:
        subprocess.Popen(
            [opener, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        say(f"descent: --open: {opener} failed ({exc.strerror or exc}); the clip is {path}")


def watch(
    spec: WatchSpec,
    *,
    out: Callable[[str], None] = print,
    say: Callable[[str], None] | None = None,
    renders: int | None = None,
) -> int:
    """Render ``spec`` now and again after every save of its files, until Ctrl-C (or SIGTERM).

    Parameters
    ----------
    spec
        The watched files and the render options.
    out
        Receives one line per render (what changed, how long it took, what was written).
    say
        Receives notes and the one-line errors of bad edits (default: stderr).
    renders
        Stop after this many renders were tried (for tests and benchmarks; default: never).

    Returns
    -------
    int
        0 when stopped by Ctrl-C or SIGTERM (after the running render, if any, was
        stopped and cleaned up) or after ``renders`` renders.

    Raises
    ------
    RenderError
        Before anything is rendered: another watcher holds the output folder
        (:class:`~descent.outputs.files.FolderBusy`; one watcher per folder), or a file
        of the outputs' names is not one descent can prove it wrote
        (:class:`~descent.outputs.files.NotOurs`), or the folder cannot be made.
    FileExistsError
        The outputs would replace a watched file.
    """
    from descent.outputs import files
    from descent.outputs.clip import check_out_dir, check_outputs

    say = say or (lambda m: print(m, file=sys.stderr, flush=True))
    _refuse_overwriting_a_watched_file(spec)
    folder = check_out_dir(spec.render.get("out_dir", "media"))
    with files.watch_claim(folder) as claim:  # one watcher per output folder, for as long as it watches
        check_outputs(folder, spec.out_name, frames=spec.frames, wait=spec.render.get("wait", True), notify=say)
        return _watch(spec, out, say, renders, claim)


def _watch(
    spec: WatchSpec, out: Callable[[str], None], say: Callable[[str], None], renders: int | None, claim: int
) -> int:
    """The loop of :func:`watch`, in the process that holds the folder's watch claim (``claim``,
    a descriptor each forked render closes: the claim dies with this process)."""
    from watchdog.observers import Observer

    paths = spec.paths
    # a symlink's target is watched too: an edit of the file it points to, in its own folder, is a save
    targets = [Path(os.path.realpath(p)) for p in paths]
    changes = _Changes([*paths, *targets])
    observer = Observer()
    for folder in sorted({p.parent for p in paths}):
        if not folder.is_dir():
            raise FileNotFoundError(f"no folder {str(folder)!r} to watch")
        observer.schedule(changes, str(folder), recursive=False)
    for folder in sorted({t.parent for t in targets} - {p.parent for p in paths}):
        if folder.is_dir():
            observer.schedule(changes, str(folder), recursive=False)
    observer.daemon = True
    observer.start()
    child: int | None = None
    read_fd = -1
    try:
        _warm(spec)
        what = " and ".join(str(p) for p in paths)
        out(f"watching {what} (Ctrl-C to stop)")
        done_renders = 0
        rendered: tuple[bytes | None, ...] | None = None
        shown: dict[str, Any] | None = None  # the values of the last good render
        opened = False
        started = time.monotonic()  # the change being rendered began then (the start, at first)
        while renders is None or done_renders < renders:
            snap = _snapshot(paths)
            if snap == rendered:
                began = changes.wait(None)
                started = began if began is not None else time.monotonic()
                continue
            if any(s is None for s in snap):
                missing = next(p for p, s in zip(paths, snap, strict=True) if s is None)
                if missing.is_dir():
                    say(f"descent: {missing} is a directory: waiting for a file of that name")
                elif os.path.lexists(missing):
                    say(f"descent: cannot read {missing}: waiting for a readable file")
                else:
                    say(f"descent: waiting for {missing} to exist")
                rendered = snap
                continue
            try:
                config, traces, values = _load(spec)
            except Exception as exc:  # noqa: BLE001 - ConfigError, TraceError, ValueError: one line each
                say(f"descent: error: {_one_line(str(exc))} (still watching)")
                rendered, done_renders = snap, done_renders + 1
                continue
            read_fd, write_fd = os.pipe()
            parent = os.getpid()
            sys.stdout.flush()
            sys.stderr.flush()
            child = os.fork()
            if child == 0:  # pragma: no cover - the child's coverage is not collected
                os.close(read_fd)
                os.close(claim)
                _child(spec, config, traces, parent, write_fd)
            os.close(write_fd)
            msg, again = _wait_child(child, read_fd, changes, paths, snap)
            child, read_fd = None, -1
            done_renders += 1
            if again is not None:
                out("saved again: that render was stopped, rendering the new version")
                started = again
                continue
            rendered = snap
            elapsed = time.monotonic() - started
            if not msg.get("ok"):
                say(f"descent: error: {msg.get('error', 'the render stopped')} (still watching)")
                continue
            diff = changed_keys(shown, values)
            first_render, shown = shown is None, values
            first = Path(msg["paths"][0])
            head = f"changed {', '.join(diff)}: " if diff else ("" if first_render else "saved (no key changed): ")
            tail = f"step {msg['last_k']}, loss {msg['loss']:.4g}"
            if msg.get("diverged_at") is not None:
                tail += f", diverged at step {msg['diverged_at']}"
            what = f"{len(msg['paths'])} key frames" if spec.frames else first.name
            out(
                f"{head}rendered {what} "
                f"in {elapsed:.1f} s (train {msg['train_s']:.2f} s, render {msg['render_s']:.1f} s; {tail})"
            )
            for p in msg["paths"]:
                out(f"  wrote {p}")
            if spec.open_player and not opened:
                opened = True
                _open(Path(msg["paths"][-1] if spec.frames else msg["paths"][0]), say)
        return 0
    except KeyboardInterrupt:
        if child:
            _stop_child(child)
            child = None
        say("descent: stopped watching")
        return 0
    finally:
        if child:
            _stop_child(child)
        if read_fd >= 0:
            os.close(read_fd)
        observer.stop()


def _wait_child(
    pid: int, read_fd: int, changes: _Changes, paths: Sequence[Path], snap: tuple[bytes | None, ...]
) -> tuple[dict[str, Any], float | None]:
    """Wait for the render child; stop it if a save that changes the files settles meanwhile.

    Returns the child's message, and when the newer change began if the child was stopped for it.
    """
    chunks: list[bytes] = []
    os.set_blocking(read_fd, False)
    while True:
        try:
            while True:
                data = os.read(read_fd, 65536)
                if not data:
                    break
                chunks.append(data)
        except BlockingIOError:
            pass
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            try:
                while data := os.read(read_fd, 65536):
                    chunks.append(data)
            except BlockingIOError:
                pass
            os.close(read_fd)
            break
        if changes.pending():
            began = changes.wait(0)
            if began is not None and _snapshot(paths) != snap:
                _stop_child(pid, close=read_fd)
                return {}, began
        time.sleep(0.02)
    text = b"".join(chunks).decode("utf-8", "replace").strip()
    try:
        msg = json.loads(text.splitlines()[-1]) if text else {}
    except ValueError:
        msg = {}
    if not msg:
        why = f"signal {-status if status < 0 else os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "no answer"
        msg = {"ok": False, "error": f"the render process ended without an answer ({why})"}
    return msg, None


def _stop_child(pid: int, close: int | None = None) -> None:
    """Stop a render child (SIGTERM: it cleans up as on Ctrl-C) and reap it."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break
        if done:
            break
        time.sleep(0.02)
    else:  # pragma: no cover - a child that does not stop
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if close is not None:
        os.close(close)
