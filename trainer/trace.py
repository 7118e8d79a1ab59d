"""The trace: every state of a run, as a validated JSON file (``descent.trace/1``).

A trace is what the trainer hands to the scenes. It holds the config, the
data, every state (w_k, b_k, L_k and the full-data gradient, k = 0..steps),
where the run diverged if it did, and the closed-form analysis (optimum,
Hessian eigenvalues, lr_max, the data's moments and a view window).

Examples
--------
>>> from descent.trainer import Config, train, Trace
>>> trace = train(Config(steps=3))
>>> Trace.from_json(trace.to_json()).w.tolist() == trace.w.tolist()
True
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from .analysis import Moments, Window, loss_at, view_window
from .config import MAX_POINTS, MAX_STEPS, Config, ConfigError
from .inputs import InputFileError, brief, brief_path, file_kind, read_limited

__all__ = ["Trace", "TraceError", "SCHEMA", "atomic_write", "STATE_KEYS", "DIVERGENCE_LOSS", "DIVERGENCE_REASONS"]

SCHEMA = "descent.trace/1"
#: Keys every state carries (mini-batch runs add batch_grad_w / batch_grad_b).
STATE_KEYS = ("k", "w", "b", "loss", "grad_w", "grad_b")

#: A state whose loss exceeds this counts as diverged.
DIVERGENCE_LOSS = 1e12
#: Why a run stopped early: the code stored in ``diverged_reason`` → the sentence shown.
DIVERGENCE_REASONS = {
    "non_finite": "a value became non-finite",
    "loss_limit": f"the loss exceeded {DIVERGENCE_LOSS:.0e}".replace("e+", "e"),
}
# traces written before the reasons were codes held the sentences themselves
_OLD_REASONS = {"a value became non-finite": "non_finite", "the loss exceeded 1e12": "loss_limit"}


def _largest_trace_bytes() -> int:
    """Bytes of the largest trace descent can write, from the limits the config enforces.

    ``MAX_STEPS + 1`` states, each with mini-batch gradients, and ``MAX_POINTS`` data
    points, with every number at its longest JSON form (24 characters, e.g.
    ``-2.2250738585072014e-308``), laid out as :meth:`Trace.to_json` lays them out.
    """
    longest = -2.2250738585072014e-308
    keys = (*STATE_KEYS[1:], "batch_grad_w", "batch_grad_b")
    state = len(json.dumps({"k": MAX_STEPS, **dict.fromkeys(keys, longest)})) + len("    ,\n")
    number = len(json.dumps(longest)) + len(", ")
    return (MAX_STEPS + 1) * state + 2 * MAX_POINTS * number + 64 * 1024  # + config, analysis: under 2 KB


#: The most a trace file may hold: twice the largest trace descent writes (about 32 MB, so
#: about 65 MB), which leaves room for a re-indented copy of any run the trainer accepts, while
#: /dev/zero, /dev/urandom or a multi-gigabyte file is refused before it is read.
MAX_TRACE_BYTES = 2 * _largest_trace_bytes()


#: A window axis must span at least this fraction of its distance from 0 (and of 1).
MIN_WINDOW_SPAN = 1e-6
#: The most tick intervals a window's step may give along one axis.
MAX_WINDOW_TICKS = 1000


class TraceError(ValueError):
    """A trace file or object is malformed; the message says where."""


@dataclass
class Trace:
    """A recorded run. Arrays are indexed by k (state after k updates)."""

    config: Config
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad_w: np.ndarray
    grad_b: np.ndarray
    diverged_at: int | None
    moments: Moments
    window: Window
    diverged_reason: str | None = None
    batch_grad_w: np.ndarray | None = None
    batch_grad_b: np.ndarray | None = None
    extra_analysis: dict = field(default_factory=dict)

    # -- derived views -----------------------------------------------------
    @property
    def n_states(self) -> int:
        return int(self.w.size)

    @property
    def last_k(self) -> int:
        return self.n_states - 1

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def divergence_text(self) -> str | None:
        """Why the run stopped early, as a sentence (None when it did not)."""
        if self.diverged_reason is None:
            return None
        return DIVERGENCE_REASONS.get(self.diverged_reason, self.diverged_reason)

    @property
    def optimum(self) -> tuple[float, float, float]:
        return self.moments.optimum()

    @property
    def hessian_eigenvalues(self) -> tuple[float, float]:
        return self.moments.hessian_eigenvalues()

    @property
    def lr_max(self) -> float:
        return self.moments.lr_max()

    def state(self, k: int) -> dict[str, Any]:
        """State k as the dict written to the file."""
        s = {
            "k": k,
            "w": float(self.w[k]),
            "b": float(self.b[k]),
            "loss": float(self.loss[k]),
            "grad_w": float(self.grad_w[k]),
            "grad_b": float(self.grad_b[k]),
        }
        bgw, bgb = self.batch_grad_w, self.batch_grad_b
        if bgw is not None and bgb is not None and k < bgw.size:
            s["batch_grad_w"] = float(bgw[k])
            s["batch_grad_b"] = float(bgb[k])
        return s

    # -- display in a notebook ------------------------------------------------
    def _repr_html_(self) -> str:
        """A summary table and the loss curve (an inline SVG, log scale) for Jupyter; plain strings, no Manim."""
        from html import escape

        def num(v: float) -> str:
            return f"{v:.4g}" if math.isfinite(v) else str(v)

        c = self.config
        w_opt, b_opt, l_opt = self.optimum
        rows = [
            ("optimizer, learning rate", f"{c.optimizer}, lr = {c.lr:g}"),
            ("steps run", f"{self.last_k} of {c.steps}"),
            ("start (w, b)", f"({num(float(self.w[0]))}, {num(float(self.b[0]))})"),
            ("end (w, b)", f"({num(float(self.w[-1]))}, {num(float(self.b[-1]))})"),
            ("loss: start → end", f"{num(float(self.loss[0]))} → {num(float(self.loss[-1]))}"),
            ("lowest possible loss L* at (w, b)", f"{num(l_opt)} at ({num(w_opt)}, {num(b_opt)})"),
            ("lr_max = 2/λ_max, lr/lr_max", f"{num(self.lr_max)}, {num(c.lr / self.lr_max)}"),
            ("diverged", f"at step {self.diverged_at}: {self.divergence_text}" if self.diverged else "no"),
        ]
        table = "".join(
            f'<tr><th style="text-align:left;padding-right:1em">{escape(k)}</th><td>{escape(v)}</td></tr>'
            for k, v in rows
        )
        width, height, pad = 360, 180, 28
        loss = np.asarray(self.loss, dtype=float)
        finite = loss[np.isfinite(loss) & (loss > 0)]
        svg = ""
        if finite.size:
            lo, hi = math.log10(float(finite.min())), math.log10(float(finite.max()))
            hi = hi if hi > lo else lo + 1
            n = max(self.last_k, 1)
            steps = np.nonzero(np.isfinite(loss) & (loss > 0))[0]
            cols = width - 2 * pad
            if steps.size > 2 * cols:  # a long run: each pixel column's lowest and highest point, in order
                starts = np.searchsorted(steps * cols // n, np.arange(cols + 1))
                keep = {int(steps[0]), int(steps[-1])}
                for a, z in zip(starts[:-1], np.append(starts[1:-1], steps.size), strict=True):
                    if z > a:
                        inside = steps[a:z]
                        keep.update((int(inside[np.argmin(loss[inside])]), int(inside[np.argmax(loss[inside])])))
                steps = np.array(sorted(keep))
            span = height - 2 * pad
            points = " ".join(
                f"{pad + k / n * cols:.1f},{height - pad - (math.log10(loss[k]) - lo) / (hi - lo) * span:.1f}"
                for k in steps
            )
            label = f"Loss against step, log scale: from {num(float(loss[0]))} to {num(float(loss[-1]))}"
            svg = (
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
                f'aria-label="{escape(label)}" style="background:#fff;color:#15191f;font:11px sans-serif">'
                f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#5e6772"/>'
                f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#5e6772"/>'
                f'<polyline points="{points}" fill="none" stroke="#0072b2" stroke-width="2"/>'
                f'<text x="{pad}" y="{pad - 8}" fill="#15191f">loss (log) {escape(num(10**hi))}</text>'
                f'<text x="{pad}" y="{height - 8}" fill="#15191f">step 0</text>'
                f'<text x="{width - pad}" y="{height - 8}" text-anchor="end" fill="#15191f">step {self.last_k}</text>'
                "</svg>"
            )
        return (
            '<div style="display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start">'
            f'<table><caption style="text-align:left"><b>Trace</b></caption>{table}</table>{svg}</div>'
        )

    # -- serialisation -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        w_opt, b_opt, l_opt = self.optimum
        analysis = {
            "optimum": {"w": w_opt, "b": b_opt, "loss": l_opt},
            "hessian_eigenvalues": list(self.hessian_eigenvalues),
            "lr_max": self.lr_max,
            "condition_number": self.moments.condition_number(),
            "moments": self.moments.to_dict(),
            "window": self.window.to_dict(),
        }
        analysis.update(self.extra_analysis)
        return {
            "schema": SCHEMA,
            "config": self.config.to_dict(),
            "data": {"x": self.x.tolist(), "y": self.y.tolist()},
            "states": [self.state(k) for k in range(self.n_states)],
            "diverged_at": self.diverged_at,
            "diverged_reason": self.diverged_reason,
            "analysis": analysis,
        }

    def to_json(self) -> str:
        """Deterministic JSON: one top-level key and one state per line."""
        d = self.to_dict()
        dump = lambda v: json.dumps(v, allow_nan=False, ensure_ascii=False)  # noqa: E731
        lines = ["{"]
        keys = list(d)
        for i, key in enumerate(keys):
            comma = "," if i < len(keys) - 1 else ""
            if key == "states":
                lines.append('  "states": [')
                states = d["states"]
                for j, s in enumerate(states):
                    lines.append("    " + dump(s) + ("," if j < len(states) - 1 else ""))
                lines.append("  ]" + comma)
            else:
                lines.append(f"  {dump(key)}: {dump(d[key])}{comma}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write the trace atomically (temporary file, then rename)."""
        return atomic_write(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trace:
        """Read and validate a trace file; :class:`TraceError` says what is wrong."""
        p = Path(path)
        shown = brief_path(p)
        try:
            text = read_limited(p, MAX_TRACE_BYTES, "trace file").decode("utf-8")
        except InputFileError as exc:
            raise TraceError(str(exc)) from None
        except UnicodeDecodeError:
            raise TraceError(f"trace file {shown} is not UTF-8 text") from None
        try:
            return cls.from_json(text)
        except TraceError as exc:
            raise TraceError(f"{shown}: {exc}") from None
        except (ValueError, TypeError, ArithmeticError, RecursionError, KeyError) as exc:
            # a hand-made file can be wrong in more ways than the checks name: still one line
            raise TraceError(f"{shown}: malformed trace ({type(exc).__name__}: {brief(str(exc), 120)})") from None

    @classmethod
    def from_json(cls, text: str) -> Trace:
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise TraceError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except RecursionError:
            raise TraceError("not a trace: the JSON is nested too deeply") from None
        except ValueError as exc:
            raise TraceError(str(exc)) from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, d: Any) -> Trace:
        """Validate a decoded ``descent.trace/1`` document and build the trace."""
        if not isinstance(d, dict):
            raise TraceError("a trace must be a JSON object")
        schema = d.get("schema")
        if schema != SCHEMA:
            if isinstance(schema, str) and schema.startswith("descent.trace/"):
                raise TraceError(f"unsupported schema version {brief(schema)} (this descent reads {SCHEMA!r})")
            raise TraceError(f"not a descent trace: schema is {brief(schema)}, expected {SCHEMA!r}")
        for key in ("config", "data", "states", "analysis"):
            if key not in d:
                raise TraceError(f"missing key {key!r}")
        if not isinstance(d["config"], dict):
            raise TraceError("config must be an object")
        try:
            config = Config.from_mapping(d["config"], where="config")
        except ConfigError as exc:
            raise TraceError(f"config: {exc}") from None

        data = d["data"]
        if not isinstance(data, dict) or "x" not in data or "y" not in data:
            raise TraceError("data must be an object with lists x and y")
        x = _numbers(data["x"], "data.x")
        y = _numbers(data["y"], "data.y")
        if x.size != y.size:
            raise TraceError(f"data.x and data.y differ in length ({x.size} vs {y.size})")
        if x.size < 2:
            raise TraceError("data must hold at least 2 points")
        if float(np.ptp(x)) == 0.0:
            raise TraceError("data.x must not be constant")
        if x.size != config.n_points():  # the config says how many points the run had
            raise TraceError(
                f"data holds {x.size} points but the config's x grid (x_min, x_max, x_step) gives {config.n_points()}"
            )

        states = d["states"]
        if not isinstance(states, list) or not states:
            raise TraceError("states must be a non-empty list")
        cols: dict[str, list[float]] = {k: [] for k in STATE_KEYS}
        batch_w: list[float] = []
        batch_b: list[float] = []
        for i, s in enumerate(states):
            if not isinstance(s, dict):
                raise TraceError(f"states[{i}] must be an object")
            for key in STATE_KEYS:
                if key not in s:
                    raise TraceError(f"states[{i}] lacks {key!r}")
                v = s[key]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise TraceError(f"states[{i}].{key} must be a finite number (got {brief(v)})")
                cols[key].append(float(v))
            if s["k"] != i:
                raise TraceError(f"states[{i}].k is {brief(s['k'])}, expected {i}")
            if s["loss"] < 0:
                raise TraceError(f"states[{i}].loss is negative ({brief(s['loss'])}); a squared error never is")
            if "batch_grad_w" in s:
                batch_w.append(_finite(s["batch_grad_w"], f"states[{i}].batch_grad_w"))
                batch_b.append(_finite(s.get("batch_grad_b"), f"states[{i}].batch_grad_b"))
        if len(states) > config.steps + 1:
            raise TraceError(f"{len(states)} states for steps={config.steps} (at most steps + 1)")

        diverged_at = d.get("diverged_at")
        reason = None
        if diverged_at is not None:
            if isinstance(diverged_at, bool) or not isinstance(diverged_at, int):
                raise TraceError(f"diverged_at must be null or a step number (got {brief(diverged_at)})")
            if diverged_at != len(states) or diverged_at > config.steps:
                raise TraceError(
                    f"diverged_at is {diverged_at} but states end at k={len(states) - 1}"
                    f" (a run of {config.steps} steps)"
                )
            reason = d.get("diverged_reason")
            reason = _OLD_REASONS.get(reason, reason) if isinstance(reason, str) else reason
            if reason is not None and (not isinstance(reason, str) or reason not in DIVERGENCE_REASONS):
                raise TraceError(
                    f"diverged_reason must be null or one of {', '.join(DIVERGENCE_REASONS)} (got {brief(reason)})"
                )
        elif len(states) != config.steps + 1:
            raise TraceError(
                f"{len(states)} states for steps={config.steps} and no divergence (expected {config.steps + 1})"
            )

        analysis = d["analysis"]
        if not isinstance(analysis, dict):
            raise TraceError("analysis must be an object")
        for key in ("optimum", "hessian_eigenvalues", "lr_max"):
            if key not in analysis:
                raise TraceError(f"analysis lacks {key!r}")
        if np.max(np.abs(x)) > 1e100 or np.max(np.abs(y)) > 1e100:
            raise TraceError("data values are out of range (|x|, |y| must be at most 1e100)")
        if not _on_grid(x, config):
            raise TraceError("data.x is not the x grid the config gives (x_min, x_max, x_step)")
        moments = Moments.from_data(x, y)
        if moments.problem():
            raise TraceError(f"data: {moments.problem()}")
        opt = analysis["optimum"]
        if not (isinstance(opt, dict) and all(isinstance(opt.get(k), (int, float)) for k in ("w", "b", "loss"))):
            raise TraceError("analysis.optimum must be an object with numbers w, b, loss")
        if not isinstance(analysis["lr_max"], (int, float)) or not isinstance(analysis["hessian_eigenvalues"], list):
            raise TraceError("analysis.lr_max must be a number and analysis.hessian_eigenvalues a list")
        w_arr = np.array(cols["w"])
        b_arr = np.array(cols["b"])
        problem = _states_problem(moments, w_arr, b_arr, cols)
        if problem:
            raise TraceError(problem)
        w_opt, b_opt, _ = moments.optimum()
        if "window" in analysis:
            # the window lies near the run: within 1e12 of 0, or within 100 times the run's own scale
            # (data squeezed near x = 0 put the optimum far out, and the trainer's window with it)
            scale = 100 * max(abs(w_opt), abs(b_opt), abs(float(w_arr[0])), abs(float(b_arr[0])))
            window = _window(analysis["window"], max(1e12, scale))
        else:
            window = view_window((w_arr[0], b_arr[0]), (w_opt, b_opt), zip(w_arr, b_arr, strict=False))
        known = {"optimum", "hessian_eigenvalues", "lr_max", "condition_number", "moments", "window"}
        extra = {k: v for k, v in analysis.items() if k not in known}
        bw = np.array(batch_w) if batch_w else None
        bb = np.array(batch_b) if batch_b else None
        return cls(
            config=config,
            x=x,
            y=y,
            w=w_arr,
            b=b_arr,
            loss=np.array(cols["loss"]),
            grad_w=np.array(cols["grad_w"]),
            grad_b=np.array(cols["grad_b"]),
            diverged_at=diverged_at,
            diverged_reason=reason if diverged_at is not None else None,
            moments=moments,
            window=window,
            batch_grad_w=bw,
            batch_grad_b=bb,
            extra_analysis=extra,
        )


#: How far a state's loss or gradient may lie from the closed form at its (w, b), relative to the
#: size of the terms that make it up (the trainer's lie within about 1e-15 of it).
STATE_TOLERANCE = 1e-10


def _states_problem(m: Moments, w: np.ndarray, b: np.ndarray, cols: dict[str, list[float]]) -> str | None:
    """Why the states disagree with the data, or None: each loss and gradient must be the full-data
    MSE and its gradient at the state's (w, b), as the trainer records them (to rounding)."""
    with np.errstate(over="ignore", invalid="ignore"):
        aw, ab = np.abs(w), np.abs(b)
        checks = (
            ("loss", loss_at(m, w, b), w * w * m.xx + b * b + m.yy),
            ("grad_w", 2 * (w * m.xx + b * m.x - m.xy), 2 * (aw * m.xx + ab * abs(m.x) + abs(m.xy))),
            ("grad_b", 2 * (w * m.x + b - m.y), 2 * (aw * abs(m.x) + ab + abs(m.y))),
        )
        for key, expected, scale in checks:
            got = np.array(cols[key])
            off = ~(np.abs(got - expected) <= STATE_TOLERANCE * (scale + np.abs(got)))
            off &= np.isfinite(expected) & np.isfinite(scale)  # beyond float64: nothing to compare
            if off.any():
                k = int(np.flatnonzero(off)[0])
                return (
                    f"states[{k}].{key} is {got[k]:.6g}, but the data give {float(np.asarray(expected)[k]):.6g} at"
                    f" w = {w[k]:.6g}, b = {b[k]:.6g} (the states do not belong to this data)"
                )
    return None


def _window(d: Any, limit: float = 1e12) -> Window:
    """Validate analysis.window: two increasing finite ranges (|values| at most ``limit``) and positive tick steps."""
    bad = TraceError(
        "analysis.window must be {w: [lo, hi], b: [lo, hi], w_step, b_step} with finite "
        f"increasing ranges (|values| at most {limit:.3g}) and positive steps"
    )
    try:
        w, b = d["w"], d["b"]
        if not (isinstance(w, list) and isinstance(b, list) and len(w) == 2 and len(b) == 2):
            raise bad
        vals = [*w, *b, d["w_step"], d["b_step"]]
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in vals):
            raise bad
    except (KeyError, TypeError):
        raise bad from None
    window = Window.from_dict(d)
    spans_ok = window.w[0] < window.w[1] and window.b[0] < window.b[1]
    if not spans_ok or window.w_step <= 0 or window.b_step <= 0 or max(abs(v) for v in vals) > limit:
        raise bad
    problem = window_problem(window)
    if problem:
        raise TraceError(problem)
    return window


def window_problem(window: Window) -> str | None:
    """Why a (w, b) window cannot be drawn, or None when it can.

    Each axis must be a finite, increasing range that float64 can draw (at least
    :data:`MIN_WINDOW_SPAN` of its distance from 0; the trainer's windows span at
    least 1e-5 of it), with a positive tick step giving at most
    :data:`MAX_WINDOW_TICKS` ticks (the trainer's give about 5).
    """
    for (lo, hi), step, axis in ((window.w, window.w_step, "w"), (window.b, window.b_step, "b")):
        if not all(math.isfinite(v) for v in (lo, hi, step)) or not lo < hi or not step > 0:
            return f"analysis.window.{axis} must be a finite increasing range with a positive step"
        if hi - lo < MIN_WINDOW_SPAN * max(1.0, abs(lo), abs(hi)):
            return f"analysis.window.{axis} is too narrow to draw ({lo:.17g} to {hi:.17g})"
        if (hi - lo) / step > MAX_WINDOW_TICKS:
            return f"analysis.window.{axis}_step gives more than {MAX_WINDOW_TICKS} ticks"
    return None


def _on_grid(x: np.ndarray, config: Config) -> bool:
    """Whether ``x`` is ``arange(x_min, x_max, x_step)``, as the trainer makes it (to rounding)."""
    expected = config.x_min + np.arange(x.size, dtype=np.float64) * config.x_step
    scale = max(abs(config.x_min), abs(config.x_max))
    tolerance = 1e-6 * config.x_step + 8 * np.finfo(np.float64).eps * scale
    return bool(np.max(np.abs(x - expected)) <= tolerance)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed in a trace (every number must be finite)")


def _finite(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise TraceError(f"{where} must be a finite number (got {brief(v)})")
    return float(v)


def _numbers(seq: Any, where: str) -> np.ndarray:
    if not isinstance(seq, list):
        raise TraceError(f"{where} must be a list of numbers")
    return np.array([_finite(v, f"{where}[{i}]") for i, v in enumerate(seq)], dtype=np.float64)


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    A reader never sees a half-written file, and on any error nothing is left
    behind under either name. Only a new path or a regular file is written: a
    device node, FIFO, socket or directory is refused (renaming over it would
    replace ``/dev/null`` itself with a regular file). A symbolic link to a
    regular file is written through: the file it points to is replaced, and the
    link stays; a link to anything else, or to nothing, is refused. Raises
    :class:`OSError` (its ``strerror`` says why) if ``path`` cannot be written.
    """
    given = Path(path)
    path = _write_target(given)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return given


def _write_target(path: Path) -> Path:
    """The file :func:`atomic_write` replaces for ``path``: itself, or the regular file its link names."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path  # a new file
    only = "descent writes only to a new path or a regular file"
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise OSError(errno.ENOENT, f"it is a symbolic link to nothing; {only}", str(path)) from None
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"it is a symbolic link to {file_kind(st.st_mode)}; {only}", str(path))
        return Path(os.path.realpath(path))
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, f"it is {file_kind(st.st_mode)}; {only}", str(path))
    return path
