"""Closed-form analysis of the 1-D least-squares problem.

The mean squared error of ŷ = w·x + b is a quadratic in (w, b)::

    L(w, b) = w²·m_xx + 2wb·m_x + b² − 2w·m_xy − 2b·m_y + m_yy

where ``m_*`` are the data's means (m_xx = mean(x²), m_xy = mean(x·y), …).
Everything here follows from those five numbers: the optimum, the Hessian
2·[[m_xx, m_x], [m_x, 1]] and its eigenvalues, the largest learning rate
for which plain gradient descent converges (2/λ_max), and the loss on any
(w, b) grid without a Python loop.

Examples
--------
>>> import numpy as np
>>> from descent.trainer.analysis import Moments, loss_grid
>>> m = Moments.from_data(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
>>> [round(v, 12) for v in m.optimum()]
[2.0, 1.0, 0.0]
>>> np.round(loss_grid(m, np.array([2.0]), np.array([1.0, 2.0])), 9).tolist()
[[0.0], [1.0]]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Moments", "loss_grid", "loss_at", "view_window", "nice_step", "Window"]


@dataclass(frozen=True)
class Moments:
    """The sufficient statistics of the MSE loss of a 1-D linear model."""

    n: int
    x: float
    xx: float
    y: float
    xy: float
    yy: float
    # centred moments, computed directly (E[x²] − E[x]² loses every digit far from 0)
    var_x: float = float("nan")
    cov_xy: float = float("nan")
    var_y: float = float("nan")

    @classmethod
    def from_data(cls, x: np.ndarray, y: np.ndarray) -> Moments:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        dx, dy = x - x.mean(), y - y.mean()
        return cls(
            n=int(x.size),
            x=float(x.mean()),
            xx=float((x * x).mean()),
            y=float(y.mean()),
            xy=float((x * y).mean()),
            yy=float((y * y).mean()),
            var_x=float((dx * dx).mean()),
            cov_xy=float((dx * dy).mean()),
            var_y=float((dy * dy).mean()),
        )

    def problem(self) -> str | None:
        """Why a line cannot be fitted to this data in float64, or None when it can."""
        values = (self.x, self.xx, self.y, self.xy, self.yy, self.var_x, self.cov_xy, self.var_y)
        if not all(math.isfinite(v) for v in values):
            return "the data's values are too large to fit a line in float64"
        if self.var_x <= 1e-12 * max(self.xx, 1e-300) or self.var_x == 0.0:
            return "the x values are too close together (or too far from 0) to fit a line in float64"
        lo, hi = np.linalg.eigvalsh(self.hessian())
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0:
            return "the loss surface is degenerate for this data (no single optimum)"
        return None

    def to_dict(self) -> dict:
        return {"n": self.n, "x": self.x, "xx": self.xx, "y": self.y, "xy": self.xy, "yy": self.yy}

    # -- the quadratic -------------------------------------------------------
    def hessian(self) -> np.ndarray:
        """∇²L, constant for a quadratic."""
        return 2.0 * np.array([[self.xx, self.x], [self.x, 1.0]])

    def hessian_eigenvalues(self) -> tuple[float, float]:
        """Eigenvalues of the Hessian, ascending."""
        lo, hi = np.linalg.eigvalsh(self.hessian())
        return float(lo), float(hi)

    def lr_max(self) -> float:
        """Plain gradient descent converges exactly when lr < 2/λ_max."""
        return 2.0 / self.hessian_eigenvalues()[1]

    def condition_number(self) -> float:
        lo, hi = self.hessian_eigenvalues()
        return hi / lo if lo > 0 else math.inf

    def optimum(self) -> tuple[float, float, float]:
        """The least-squares (w*, b*) and the loss there (exactly 0 for a perfect fit)."""
        var_x = self.var_x if math.isfinite(self.var_x) else self.xx - self.x * self.x
        cov = self.cov_xy if math.isfinite(self.cov_xy) else self.xy - self.x * self.y
        w = cov / var_x
        b = self.y - w * self.x
        return float(w), float(b), self.min_loss(w)

    def min_loss(self, w: float | None = None) -> float:
        """L* = var(y) − cov(x, y)²/var(x), clamped to 0 within rounding."""
        if not math.isfinite(self.var_y):
            w_opt = (self.xy - self.x * self.y) / (self.xx - self.x * self.x) if w is None else w
            b_opt = self.y - w_opt * self.x
            r = (
                self.yy
                - 2 * w_opt * self.xy
                - 2 * b_opt * self.y
                + w_opt**2 * self.xx
                + 2 * w_opt * b_opt * self.x
                + b_opt**2
            )
            return float(max(r, 0.0))
        r = self.var_y - self.cov_xy * self.cov_xy / self.var_x
        return 0.0 if r <= 1e-12 * max(self.var_y, 1e-300) else float(r)


def loss_at(m: Moments, w: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray | float:
    """L(w, b) for scalars or broadcastable arrays, in closed form.

    Written around the optimum so that large (w, b) lose no precision near
    the minimum: L = L* + [dw db]·H/2·[dw db]ᵀ.
    """
    w = np.asarray(w, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    w_opt, b_opt, r_opt = m.optimum()
    dw = w - w_opt
    db = b - b_opt
    out = r_opt + dw * dw * m.xx + 2.0 * dw * db * m.x + db * db
    return out if out.ndim else float(out)


def loss_grid(m: Moments, w_values: Sequence[float], b_values: Sequence[float]) -> np.ndarray:
    """L on the grid ``w_values × b_values``; shape ``(len(b_values), len(w_values))``.

    Row j, column i holds L(w_values[i], b_values[j]) (the meshgrid "xy"
    convention, ready for contouring with w across and b up).
    """
    w = np.asarray(w_values, dtype=np.float64)[None, :]
    b = np.asarray(b_values, dtype=np.float64)[:, None]
    return np.asarray(loss_at(m, w, b))


# -- the view window -----------------------------------------------------------
_NICE = (1.0, 2.0, 2.5, 5.0, 10.0)


def nice_step(span: float, ticks: int = 5) -> float:
    """A 1-2-2.5-5 × 10ⁿ tick step giving about ``ticks`` intervals over ``span``."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / ticks
    mag = 10.0 ** math.floor(math.log10(raw))
    for f in _NICE:
        if f * mag >= raw * 0.999:
            return f * mag
    return 10.0 * mag


@dataclass(frozen=True)
class Window:
    """A rectangle in parameter space with a tick step per axis."""

    w: tuple[float, float]
    b: tuple[float, float]
    w_step: float
    b_step: float

    def contains(self, w: float, b: float) -> bool:
        return self.w[0] <= w <= self.w[1] and self.b[0] <= b <= self.b[1]

    def to_dict(self) -> dict:
        return {"w": list(self.w), "b": list(self.b), "w_step": self.w_step, "b_step": self.b_step}

    @classmethod
    def from_dict(cls, d: dict) -> Window:
        return cls(tuple(d["w"]), tuple(d["b"]), float(d["w_step"]), float(d["b_step"]))


def view_window(
    start: tuple[float, float],
    optimum: tuple[float, float],
    path: Iterable[tuple[float, float]] = (),
    *,
    margin: float = 0.12,
    reach: float = 1.25,
    room: float = 0.22,
) -> Window:
    """Pick a (w, b) window holding the start, the optimum and the sane part of the path.

    The window is the bounding box of the start, the optimum and the path
    points that stay within ``reach`` times the start's distance from the
    optimum (per axis): a converging run overshoots at most that far, while
    a diverging run's blow-up is left out, so the window stays on the
    sensible region. The box grows by a relative ``margin``, keeps at least
    ``room`` of its span on every side of the optimum (so the bowl around the
    minimum is visible), and its edges are rounded out to a tick step.

    Examples
    --------
    >>> win = view_window((-15.0, -10.0), (1.0, -1.0))
    >>> win.contains(-15.0, -10.0) and win.contains(1.0, -1.0)
    True
    >>> win.w, win.b
    ((-20.0, 10.0), (-15.0, 5.0))
    """
    cw, cb = float(optimum[0]), float(optimum[1])
    sw, sb = float(start[0]), float(start[1])
    # a start on (or next to) the optimum still gets a readable window, one that float64
    # can tell apart from a point however far from 0 the optimum lies
    size = max(abs(sw - cw), abs(sb - cb), 1.0, 1e-5 * max(abs(cw), abs(cb)))
    lim_w = reach * max(abs(sw - cw), 0.25 * size)
    lim_b = reach * max(abs(sb - cb), 0.25 * size)
    ws, bs = [sw, cw], [sb, cb]
    for w, b in path:
        if math.isfinite(w) and math.isfinite(b) and abs(w - cw) <= lim_w and abs(b - cb) <= lim_b:
            ws.append(w)
            bs.append(b)

    def axis(lo: float, hi: float, c: float) -> tuple[float, float, float]:
        span = max(hi - lo, 0.25 * size)
        if hi - lo < span:  # a path that hardly moves (a start at the optimum): a readable span around it
            mid = (lo + hi) / 2
            lo, hi = mid - span / 2, mid + span / 2
        lo, hi = lo - margin * span, hi + margin * span
        span = hi - lo
        lo, hi = min(lo, c - room * span), max(hi, c + room * span)
        step = nice_step(hi - lo)
        return _clean(math.floor(lo / step) * step), _clean(math.ceil(hi / step) * step), step

    w_lo, w_hi, w_step = axis(min(ws), max(ws), cw)
    b_lo, b_hi, b_step = axis(min(bs), max(bs), cb)
    return Window((w_lo, w_hi), (b_lo, b_hi), w_step, b_step)


def _clean(v: float) -> float:
    """Drop float noise from a multiple of a tick step (e.g. 0.30000000000000004)."""
    return float(round(v, 10)) + 0.0
