"""Pure helpers for the scenes: timing, interpolation, clipping, colour ramps.

Nothing here imports manim, so every function is cheap to test and to reason
about. The scenes turn these numbers into pictures.

Examples
--------
>>> from descent.scenes.helpers import key_steps, StepClock
>>> key_steps(15)[:4]
[0, 1, 2, 3]
>>> len(key_steps(5000, max_keys=40)) <= 41
True
>>> clock = StepClock.uniform([0.0, 1.0, 2.0], [0.0, 10.0, 20.0], [4.0, 1.0, 0.0])
>>> clock.at(1.0)
State(kf=1.0, w=1.0, b=10.0, loss=1.0, k_shown=1)
>>> clock.at(0.5).w, clock.at(0.5).b  # halfway between states 0 and 1
(0.5, 5.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from descent.trainer import Moments

__all__ = [
    "key_steps",
    "ease_step",
    "StepClock",
    "State",
    "clip_segment",
    "clip_polyline",
    "fmt_num",
    "fmt_pow10",
    "log_ticks",
    "colour_ramp",
    "contour_levels",
    "safe_name",
    "equal_aspect",
    "contour_ellipse",
    "thin_polyline",
    "thin_series",
    "sample_indices",
    "up_to",
    "MAX_DRAWN",
]

#: Above this many vertices (or points) a drawing is thinned: the cost of a frame stays bounded.
MAX_DRAWN = 2000


def key_steps(last_k: int, max_keys: int = 45) -> list[int]:
    """The states the animation stops at: all of them for a short run,
    a log-spaced sample (always with 0 and ``last_k``) for a long one."""
    if last_k <= max_keys:
        return list(range(last_k + 1))
    # log-spaced in (k + 1), so the early, fast-changing steps are all shown
    raw = np.unique(np.round(np.geomspace(1, last_k + 1, max_keys)).astype(int) - 1)
    keys = sorted(set(raw.tolist()) | {0, last_k})
    return keys


def ease_step(f: float, hold: float = 0.8) -> float:
    """Ease within one step: the motion slows (but never stops) at each state.

    ``hold`` in [0, 1): 0 is linear; near 1 the point lingers at each state.
    """
    return f - hold * math.sin(2 * math.pi * f) / (2 * math.pi)


@dataclass(frozen=True)
class State:
    """The state shown at one instant: fractional step ``kf`` and its values."""

    kf: float
    w: float
    b: float
    loss: float
    k_shown: int  # the step whose numbers the header shows (nearest state)


class StepClock:
    """Maps the one step tracker's value to the state every panel shows.

    The tracker runs from 0 to ``len(keys) - 1``; between key i and i + 1
    the fractional step ``kf`` moves (eased) from ``keys[i]`` to
    ``keys[i + 1]``, and w, b move linearly between the neighbouring recorded
    states, so a sampled long run still travels through every state. The loss
    is interpolated in log space when the loss axis is logarithmic, so the
    marker stays on the drawn loss curve.
    """

    def __init__(
        self,
        w: Sequence[float],
        b: Sequence[float],
        loss: Sequence[float],
        keys: Sequence[int],
        *,
        log_loss: bool = False,
        hold: float = 0.8,
    ) -> None:
        self.w = np.asarray(w, dtype=float)
        self.b = np.asarray(b, dtype=float)
        self.loss = np.asarray(loss, dtype=float)
        self.keys = list(keys)
        self.log_loss = log_loss
        self.hold = hold
        self._log = np.log10(np.maximum(self.loss, 1e-300))

    @classmethod
    def uniform(cls, w: Sequence[float], b: Sequence[float], loss: Sequence[float], **kw: Any) -> StepClock:
        return cls(w, b, loss, range(len(w)), **kw)

    @property
    def t_max(self) -> float:
        return float(len(self.keys) - 1)

    def kf(self, t: float) -> float:
        """Fractional step at tracker value t."""
        t = min(max(t, 0.0), self.t_max)
        i = min(int(math.floor(t)), len(self.keys) - 2) if len(self.keys) > 1 else 0
        if len(self.keys) == 1:
            return float(self.keys[0])
        f = ease_step(t - i, self.hold)
        return self.keys[i] + f * (self.keys[i + 1] - self.keys[i])

    def at(self, t: float) -> State:
        kf = self.kf(t)
        return self.state_at_step(kf, k_shown=self.keys[min(int(round(t)), len(self.keys) - 1)] if self.keys else 0)

    def state_at_step(self, kf: float, k_shown: int | None = None) -> State:
        last = self.w.size - 1
        kf = min(max(kf, 0.0), float(last))
        k0 = min(int(math.floor(kf)), max(last - 1, 0))
        a = kf - k0
        k1 = min(k0 + 1, last)
        w = (1 - a) * self.w[k0] + a * self.w[k1]
        b = (1 - a) * self.b[k0] + a * self.b[k1]
        if self.log_loss:
            loss = 10 ** ((1 - a) * self._log[k0] + a * self._log[k1])
        else:
            loss = (1 - a) * self.loss[k0] + a * self.loss[k1]
        return State(kf, float(w), float(b), float(loss), int(round(kf)) if k_shown is None else k_shown)


def clip_segment(
    p: Sequence[float], q: Sequence[float], lo: Sequence[float], hi: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, bool, bool] | None:
    """Liang–Barsky: the part of segment p→q inside the box [lo, hi] (2-D), or None.

    Returns ``(p', q', entered, left)`` where ``left`` says q lies outside.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    d = q - p
    t0, t1 = 0.0, 1.0
    for axis in range(2):
        for pk, qk in ((-d[axis], p[axis] - lo[axis]), (d[axis], hi[axis] - p[axis])):
            if pk == 0:
                if qk < 0:
                    return None
            else:
                r = qk / pk
                if pk < 0:
                    t0 = max(t0, r)
                else:
                    t1 = min(t1, r)
        if t0 > t1:
            return None
    return p + t0 * d, p + t1 * d, t0 > 0, t1 < 1


def clip_polyline(
    points: np.ndarray, lo: Sequence[float], hi: Sequence[float]
) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """Clip a polyline to a box.

    Returns the visible runs (each an (n, 2) array) and the exits: for every
    segment that leaves the box, its exit point and direction.
    """
    points = np.asarray(points, dtype=float)
    if len(points) >= 2 and np.all((points >= np.asarray(lo)) & (points <= np.asarray(hi))):
        return [points], []  # the usual case, and a long run's: nothing to clip
    runs: list[list[np.ndarray]] = []
    exits: list[tuple[np.ndarray, np.ndarray]] = []
    current: list[np.ndarray] = []
    for p, q in zip(points[:-1], points[1:], strict=False):
        c = clip_segment(p, q, lo, hi)
        if c is None:
            if current:
                runs.append(current)
                current = []
            continue
        a, z, entered, left = c
        if entered and current:
            runs.append(current)
            current = []
        if not current:
            current = [a]
        current.append(z)
        if left:
            runs.append(current)
            current = []
            d = q - p
            exits.append((z, d / (np.linalg.norm(d) or 1.0)))
    if current:
        runs.append(current)
    return [np.array(r) for r in runs if len(r) >= 2], exits


def fmt_num(v: float, digits: int = 4) -> str:
    """Compact, fixed-width-friendly number with a real minus sign."""
    if v == 0:
        s = "0"
    elif abs(v) >= 1e5 or abs(v) < 1e-3:
        s = f"{v:.{max(digits - 2, 1)}e}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    else:
        s = f"{v:.{digits}g}"
        if "e" in s:
            s = f"{v:.0f}"
    return s.replace("-", "\u2212")


_SUP = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def fmt_pow10(v: float) -> str:
    """A power of ten as a tick label: plain from 0.001 to 1000, else 10 with a superscript."""
    e = round(math.log10(v))
    if -3 <= e <= 3:
        return fmt_num(10.0**e)
    return "10" + str(e).translate(_SUP)


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten within [lo, hi] (at least two, stretching the range if needed)."""
    a = math.floor(math.log10(lo))
    b = math.ceil(math.log10(hi))
    step = max(1, math.ceil((b - a) / 6))
    return [10.0**e for e in range(a, b + 1, step)]


def colour_ramp(values: np.ndarray, stops: Sequence[tuple[float, Sequence[float]]]) -> np.ndarray:
    """Map values in [0, 1] to RGB (0..255 uint8) by piecewise-linear colour stops."""
    v = np.clip(np.asarray(values, dtype=float), 0.0, 1.0)
    pos = np.array([s[0] for s in stops])
    cols = np.array([s[1] for s in stops], dtype=float)
    out = np.empty(v.shape + (3,))
    for c in range(3):
        out[..., c] = np.interp(v, pos, cols[:, c])
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def contour_levels(l_min: float, l_max: float, count: int = 7) -> list[float]:
    """Contour levels spaced evenly in log(L − L* ), returned as 1-2-5 rounded loss values."""
    lo = max(l_min, 1e-12)
    levels: list[float] = []
    for e in np.linspace(math.log10(lo), math.log10(l_max), count + 2)[1:-1]:
        v = 10**e
        mag = 10 ** math.floor(math.log10(v))
        nice = min((1, 2, 5, 10), key=lambda f: abs(math.log10(f * mag) - e)) * mag
        if not levels or nice > levels[-1] * 1.01:
            levels.append(float(nice))
    return levels


def safe_name(text: str, max_bytes: int = 120) -> str:
    """A string safe as a file name: letters, digits, ``._-`` only, no leading dot or dash,
    at most ``max_bytes`` bytes of UTF-8 (cut between characters, never inside one), so that
    the name with any suffix descent adds stays under the 255-byte limit of file systems."""
    out = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)
    out = out.lstrip(".-") or "clip"
    cut, size = [], 0
    for ch in out:
        size += len(ch.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            break
        cut.append(ch)
    return "".join(cut) or "clip"


def equal_aspect(
    w_range: tuple[float, float], b_range: tuple[float, float], width: float, height: float, ticks: int = 6
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Grow the shorter side of a (w, b) window so one unit of w and of b have the
    same length on screen (gradients then really look perpendicular to the
    contours). Returns the new ranges and one tick step for both axes."""
    from descent.trainer import nice_step

    (w0, w1), (b0, b1) = w_range, b_range
    scale = max((w1 - w0) / width, (b1 - b0) / height)
    cw, cb = (w0 + w1) / 2, (b0 + b1) / 2
    hw, hb = scale * width / 2, scale * height / 2
    step = nice_step(max(2 * hw, 2 * hb), ticks)
    return (cw - hw, cw + hw), (cb - hb, cb + hb), step


def contour_ellipse(moments: Moments, optimum: tuple[float, float, float], level: float, n: int = 241) -> np.ndarray:
    """The exact level set L(w, b) = level of the quadratic loss: an ellipse, as (n, 2) points.

    L = L* + dᵀ A d with d = (w − w*, b − b*) and A = [[m_xx, m_x], [m_x, 1]].
    """
    w_opt, b_opt, l_opt = optimum
    A = np.array([[moments.xx, moments.x], [moments.x, 1.0]])
    evals, evecs = np.linalg.eigh(A)
    theta = np.linspace(0, 2 * np.pi, n)
    unit = np.stack([np.cos(theta), np.sin(theta)])
    r = math.sqrt(max(level - l_opt, 0.0))
    d = evecs @ (unit * (r / np.sqrt(evals))[:, None])
    return np.stack([w_opt + d[0], b_opt + d[1]], axis=1)


# -- bounded drawing costs ----------------------------------------------------------------------
def thin_polyline(points: np.ndarray, tol: float, most: int = MAX_DRAWN) -> np.ndarray:
    """Indices of the vertices of a polyline worth drawing when it has more than ``most``.

    First, a vertex that falls in the same ``tol``-sized cell as the vertex before
    it is dropped (the first and last are always kept), so the drawn line never
    strays more than a cell's diagonal from the true one: with ``tol`` a fraction of
    a pixel, the eye cannot tell. If more than ``most`` vertices remain, the path
    scribbles over an area (mini-batch noise around the optimum): then the vertex
    that first enters each cell is kept, with cells growing from ``tol`` until at most
    ``most`` remain. Every vertex still lies within a cell's diagonal of a drawn one,
    and a path's approach (always new ground) is drawn exactly. A polyline of at
    most ``most`` vertices is kept whole.

    Examples
    --------
    >>> import numpy as np
    >>> pts = np.stack([np.linspace(0, 1, 10_001), np.zeros(10_001)], axis=1)
    >>> idx = thin_polyline(pts, 0.01)
    >>> int(idx[0]), int(idx[-1]), len(idx) <= 101
    (0, 10000, True)
    >>> jitter = np.random.default_rng(0).normal(size=(100_000, 2))
    >>> len(thin_polyline(jitter, 0.01)) <= 2000
    True
    """
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    if n <= most:
        return np.arange(n)
    pts = pts.reshape(n, -1)
    offset = pts - pts[0]
    cell = max(float(tol), 1e-300)
    q = np.floor(offset / cell)
    keep = np.empty(n, dtype=bool)
    keep[0] = keep[-1] = True
    keep[1:-1] = np.any(q[1:-1] != q[:-2], axis=1)
    idx = np.flatnonzero(keep)
    while len(idx) > most:
        _, first = np.unique(np.floor(offset / cell), axis=0, return_index=True)
        idx = np.union1d(first, [0, n - 1])
        cell *= 2.0
    return idx


def thin_series(xs: np.ndarray, ys: np.ndarray, width: float, most: int = MAX_DRAWN) -> np.ndarray:
    """Indices that draw ``ys`` against increasing ``xs`` as it looks, when there are more than ``most``.

    In every column ``width`` wide the first, lowest, highest and last points are
    kept: the line through them covers exactly the columns and heights the full
    line covers (the classic min/max decimation of plotting programs). At most
    about four points per column are kept, however many the series holds; wider
    columns are used if that is still more than ``2 * most``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(100_000.0)
    >>> idx = thin_series(x, np.sin(x), width=1000.0)
    >>> len(idx) <= 400, float(np.sin(x)[idx].max()) == float(np.sin(x).max())
    (True, True)
    """
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    n = xs.size
    if n <= most:
        return np.arange(n)
    width = max(float(width), float(xs[-1] - xs[0]) / (most / 2), 1e-300)
    col = np.floor((xs - xs[0]) / width).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], n] - 1
    order = np.lexsort((ys, col))  # columns stay in place; within each, lowest first
    return np.unique(np.concatenate([starts, ends, order[starts], order[ends]]))


def up_to(kept: np.ndarray, k: int) -> np.ndarray:
    """The kept indices up to state ``k``, ending exactly at ``k`` (the path so far)."""
    head = kept[: int(np.searchsorted(kept, k, side="right"))]
    return head if len(head) and head[-1] == k else np.append(head, k)


def sample_indices(n: int, most: int = MAX_DRAWN, seed: int = 0) -> np.ndarray:
    """All of ``range(n)``, or a seeded, sorted random sample of ``most`` of them.

    The same ``n``, ``most`` and ``seed`` always give the same sample (a local
    generator: Manim reseeds numpy's global one).

    Examples
    --------
    >>> len(sample_indices(50)), len(sample_indices(200_000))
    (50, 2000)
    >>> bool((sample_indices(200_000) == sample_indices(200_000)).all())
    True
    """
    if n <= most:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=most, replace=False))
