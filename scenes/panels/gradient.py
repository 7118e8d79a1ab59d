"""The gradient at the current point, and the update it makes, with the trace's numbers.

:class:`GradientArrow` draws, on a contour panel, an arrow from the current point
in the descent direction −∇L and the level curve L(w, b) = L(current) through
the point: the arrow crosses it at a right angle (the contour panel keeps one
unit of w and of b the same length on screen, so a right angle in (w, b) is one
on screen). :class:`UpdateReadout` writes the update of the step being taken,
``w ← w − lr·∂L/∂w = … = w_{k+1}``, with the trace's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from manim import DL, UR, VGroup, VMobject
from numpy.typing import ArrayLike

from descent.trainer import OPTIMIZERS, loss_at

from ..glyphs import GlyphSet
from ..helpers import State, clip_segment, contour_ellipse, fmt_num
from .base import Box, Context, Panel
from .contour import ContourPanel
from .draw import MINUS

__all__ = ["GradientArrow", "UpdateReadout", "clipped_segments", "cut_out", "gradient_at"]


def gradient_at(grad_w: np.ndarray, grad_b: np.ndarray, kf: float) -> tuple[float, float]:
    """The gradient at fractional step ``kf``: the trace's gradients at k and k + 1, mixed as the point is.

    The gradient of the quadratic loss is affine in (w, b) and the point moves in a
    straight line from state k to k + 1, so this is the exact gradient at the point
    drawn (for gradients that are the full data's, as a trace's are).
    """
    last = grad_w.size - 1
    kf = min(max(kf, 0.0), float(last))
    k0 = min(int(math.floor(kf)), max(last - 1, 0))
    k1 = min(k0 + 1, last)
    a = kf - k0
    return float((1 - a) * grad_w[k0] + a * grad_w[k1]), float((1 - a) * grad_b[k0] + a * grad_b[k1])


def clipped_segments(points: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The parts of a polyline's segments inside the box [lo, hi], in order: (starts, ends), each (M, 2).

    Vectorised for the usual case (segments wholly inside or wholly beyond one
    edge); only the few that cross an edge are clipped one by one. Consecutive
    pieces that touch make one run when drawn as Bezier curves.
    """
    pts = np.asarray(points, dtype=float)
    p, q = pts[:-1], pts[1:]
    lo_, hi_ = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    p_in = np.all((p >= lo_) & (p <= hi_), axis=1)
    q_in = np.all((q >= lo_) & (q <= hi_), axis=1)
    whole = p_in & q_in
    beyond = np.any(((p < lo_) & (q < lo_)) | ((p > hi_) & (q > hi_)), axis=1)
    starts, ends = p.copy(), q.copy()
    keep = whole.copy()
    for i in np.flatnonzero(~whole & ~beyond):
        seg = clip_segment(p[i].tolist(), q[i].tolist(), lo_.tolist(), hi_.tolist())
        if seg is not None and not np.allclose(seg[0], seg[1], rtol=0.0, atol=1e-12 * float(np.max(hi_ - lo_))):
            starts[i], ends[i] = seg[0], seg[1]
            keep[i] = True
    return starts[keep], ends[keep]


def cut_out(a: np.ndarray, z: np.ndarray, lo: ArrayLike, hi: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Segments a→z (rows of points) without their parts inside the rectangle [lo, hi] (x, y), in order."""
    lo_, hi_ = np.asarray(lo, dtype=float)[:2], np.asarray(hi, dtype=float)[:2]
    hit = np.all((np.maximum(a[:, :2], z[:, :2]) >= lo_) & (np.minimum(a[:, :2], z[:, :2]) <= hi_), axis=1)
    if not hit.any():
        return a, z
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    done = 0
    for i in (int(j) for j in np.flatnonzero(hit)):
        starts.append(a[done:i])
        ends.append(z[done:i])
        done = i + 1
        seg = clip_segment(a[i, :2].tolist(), z[i, :2].tolist(), lo_.tolist(), hi_.tolist())
        if seg is None:  # only the bounding boxes met
            starts.append(a[i : i + 1])
            ends.append(z[i : i + 1])
            continue
        d = z[i] - a[i]
        span = float(np.dot(d[:2], d[:2])) or 1.0
        t0 = float(np.dot(seg[0] - a[i, :2], d[:2])) / span
        t1 = float(np.dot(seg[1] - a[i, :2], d[:2])) / span
        if t0 > 0:
            starts.append(a[i : i + 1])
            ends.append((a[i] + t0 * d)[None, :])
        if t1 < 1:
            starts.append((a[i] + t1 * d)[None, :])
            ends.append(z[i : i + 1])
    starts.append(a[done:])
    ends.append(z[done:])
    return np.concatenate(starts), np.concatenate(ends)


def _segment_points(a: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Bezier points of straight segments a→z (rows of screen points), one cubic each."""
    if not len(a):
        return np.zeros((0, 3))
    return np.stack([a, a + (z - a) / 3, a + 2 * (z - a) / 3, z], axis=1).reshape(-1, 3)


class GradientArrow(Panel):
    """The descent direction −∇L at the current point, and the level curve through the point.

    Parameters
    ----------
    ctx
        The scene's context (the trace gives the gradients and the loss surface).
    contour
        The contour panel drawn on (its axes, its window).
    length
        The arrow's length on screen (scene units): the same at every scale, so it
        shows a direction, not the gradient's size.
    keep_clear
        ``state -> [(lo, hi), …]``: screen rectangles the level curve is not drawn
        in at that state (text drawn in a lower layer, e.g. the divergence banner).

    The gradient mixes the trace's gradients at k and k + 1 as the point mixes
    the states (see :func:`gradient_at`): the arrow is the true −∇L where the
    point is drawn, so it is perpendicular to the level curve in every frame; at
    each state it points along the step plain gradient descent takes from there.
    Both are hidden while the point is outside the window.
    """

    def __init__(
        self,
        ctx: Context,
        contour: ContourPanel,
        length: float = 0.9,
        samples: int = 361,
        keep_clear: Callable[[State], Sequence[tuple[ArrayLike, ArrayLike]]] | None = None,
    ) -> None:
        super().__init__(ctx)
        self.keep_clear = keep_clear
        th, t = ctx.theme, ctx.trace
        self.contour = contour
        self.length = float(length)
        self.samples = int(samples)
        self.tip_length, self.tip_width = 0.24, 0.22
        self._g_scale = float(np.max(np.hypot(t.grad_w, t.grad_b))) if t.n_states else 0.0
        self.level = VMobject(stroke_color=th.gradient, stroke_width=2.6, stroke_opacity=0.95)
        self.level.set_background_stroke(color=th.run_outline, width=4.5, opacity=0.6)
        self.shaft = VMobject(stroke_color=th.gradient, stroke_width=5)
        self.shaft.set_background_stroke(color=th.run_outline, width=8)
        self.tip = VMobject(fill_color=th.gradient, fill_opacity=1, stroke_color=th.run_outline, stroke_width=1.5)
        self.dynamic.add(self.level, self.shaft, self.tip)
        self.visible = False

    def direction(self, state: State) -> np.ndarray | None:
        """The unit screen vector of −∇L at the state (None at the optimum, where there is none)."""
        t, m = self.ctx.trace, self.contour.map
        gw, gb = gradient_at(t.grad_w, t.grad_b, state.kf)
        if not math.hypot(gw, gb) > 1e-9 * self._g_scale:
            return None
        d = -(gw * m.ex + gb * m.ey)
        n = float(np.linalg.norm(d))
        return d / n if math.isfinite(n) and n > 0 else None

    def swept_points(self, k_last: float, per_step: int = 8, along: int = 12) -> np.ndarray:
        """Screen points the arrow covers while the point moves from state 0 to ``k_last``:
        obstacles for a label placed once (the minimum's), so the arrow never runs into it."""
        t = self.ctx.trace
        out = []
        for kf in np.linspace(0.0, k_last, max(2, int(per_step * k_last) + 1)):
            k0 = int(min(math.floor(kf), t.n_states - 1))
            k1 = min(k0 + 1, t.n_states - 1)
            a = kf - k0
            w, b = (1 - a) * t.w[k0] + a * t.w[k1], (1 - a) * t.b[k0] + a * t.b[k1]
            st = State(kf=float(kf), w=float(w), b=float(b), loss=0.0, k_shown=k0)
            d = self.direction(st) if self.contour.contains(w, b) else None
            if d is None:
                continue
            p = self.contour.map.point(w, b)
            n = np.array([-d[1], d[0], 0.0])
            for s in np.linspace(0.0, self.length, along):
                out.append(p + s * d)
            tip = p + self.length * d  # the head's two back corners too
            out += [tip - self.tip_length * d + side * 0.5 * self.tip_width * n for side in (-1, 1)]
        return np.array(out).reshape(-1, 3)

    def level_segments(self, w: float, b: float) -> tuple[np.ndarray, np.ndarray]:
        """The level curve L = L(w, b) clipped to the window: screen segments (starts, ends), each (M, 3)."""
        t = self.ctx.trace
        level = float(loss_at(t.moments, w, b))
        l_opt = t.optimum[2]
        if not level > l_opt:
            return np.zeros((0, 3)), np.zeros((0, 3))
        ring = contour_ellipse(t.moments, t.optimum, level, self.samples)
        c = self.contour
        a, z = clipped_segments(ring, c.lo, c.hi)
        return c.map(a[:, 0], a[:, 1]), c.map(z[:, 0], z[:, 1])

    def show(self, states: Sequence[State]) -> None:
        st = states[0]
        d = self.direction(st) if self.contour.contains(st.w, st.b) else None
        self.visible = d is not None
        if d is None:
            for mob in (self.level, self.shaft, self.tip):
                mob.points = np.zeros((0, 3))
            return
        p = self.contour.map.point(st.w, st.b)
        tip = p + self.length * d
        base = tip - self.tip_length * d
        n = np.array([-d[1], d[0], 0.0])
        self.shaft.points = _segment_points(p[None, :], (base + 0.3 * self.tip_length * d)[None, :])
        self.tip.set_points_as_corners([tip, base + 0.5 * self.tip_width * n, base - 0.5 * self.tip_width * n, tip])
        a, z = self.level_segments(st.w, st.b)
        for lo, hi in self.keep_clear(st) if self.keep_clear is not None else ():
            a, z = cut_out(a, z, lo, hi)
        # the level curve is drawn over the map's labels: it breaks under them, as the map's own contours would
        for box in (self.contour.opt_label, *self.contour.contour_labels):
            a, z = cut_out(a, z, box.get_corner(DL)[:2], box.get_corner(UR)[:2])
        self.level.points = _segment_points(a, z)


# -- the update, in numbers ------------------------------------------------------------------------
#: Space kept between the readout's text and its box's sides (scene units).
INSET = 0.04


def _reach(sets) -> tuple[float, float]:
    """How far the glyphs of these sets reach above and below the baseline (outlines are kept relative to it)."""
    outlines = [g for glyphs in sets for g in glyphs.glyphs.values() if len(g)]
    return max(float(g[:, 1].max()) for g in outlines), max(0.0, -min(float(g[:, 1].min()) for g in outlines))


def _num(v: float) -> str:
    return fmt_num(float(v))


def _factor(s: str) -> str:
    """A number as a factor after ``·``: in parentheses when negative."""
    return f"({s})" if s.startswith(MINUS) else s


class UpdateReadout(Panel):
    """The update of the step being taken, as lines of text with the trace's numbers.

    While the point moves from state k to k + 1 (and while it rests at k before
    that), it reads, for an optimizer that takes plain gradient steps::

        step k → k+1 · lr = 0.1
        w ← w − lr·∂L/∂w = −15 − 0.1·(−95.21) = −5.479
        b ← b − lr·∂L/∂b = …

    where the result is the trace's state k + 1 (the rule is checked against
    the trace, step by step; a step it does not reproduce is shown as for the
    other optimizers). A mini-batch step uses the batch's gradient, ∂L_B.
    Other optimizers (momentum, Adam) show the gradient and the step Δw, Δb
    actually taken, without claiming the plain rule. At the last state it
    shows the final values. Text is composed from glyphs typeset once
    (:class:`~descent.scenes.glyphs.GlyphSet`): a step costs a fraction of a millisecond.

    Parameters
    ----------
    ctx
        The scene's context.
    box
        Where the lines go: from its top-left corner down; the text shrinks to fit the box.
    size
        Font size (default: the theme's size of the header values).
    """

    def __init__(self, ctx: Context, box: Box, size: float | None = None) -> None:
        super().__init__(ctx)
        t, th, c = ctx.trace, ctx.theme, ctx.trace.config
        self.box = box
        spec = OPTIMIZERS[c.optimizer]
        self.lr_text = f"{c.lr:g}".replace("-", MINUS)
        batch = t.batch_grad_w is not None and t.batch_grad_b is not None
        self.grad_name = "∂L_B" if batch else "∂L"
        self.step_w = t.batch_grad_w if batch else t.grad_w
        self.step_b = t.batch_grad_b if batch else t.grad_b
        self.method = spec.describe(c) or spec.name
        # the plain rule, where the trace bears it out (the batch gradients exist for every step taken)
        n_steps = t.last_k
        plain = np.zeros(n_steps, dtype=bool)
        if spec.plain_gd and n_steps > 0 and len(self.step_w) >= n_steps:
            plain[:] = True
            for val, g in ((t.w, self.step_w), (t.b, self.step_b)):
                want = val[:n_steps] - c.lr * np.asarray(g[:n_steps])
                tol = 1e-12 * (1 + float(np.abs(val).max()))
                plain &= np.isclose(want, val[1 : n_steps + 1], rtol=1e-9, atol=tol)
        self.plain = plain
        self._k: int | None = None
        self.shown_texts: list[str] = []
        self.shown_k: int | None = None
        # the alphabet of every line this run can show: the templates' characters and the numbers'
        keys = ctx.clock.keys
        chars = set("0123456789.e+()" + MINUS)
        for k in keys:
            for line in self.texts_for(k):
                chars |= set(line)
        if t.last_k > 0:  # a step between two keys may be shown with the other wording
            for row in self._rows(0, plain=True) + self._rows(0, plain=False):
                chars |= {ch for piece, _ in row for ch in piece}
        alphabet = "".join(sorted(chars))
        base = float(size if size is not None else th.sizes.values)
        probe = GlyphSet(alphabet, font=th.font, size=base, color=th.text)
        widest = max(probe.width(line) for k in keys for line in self.texts_for(k))
        ascent, descent = _reach([probe])
        line_h = ascent + descent
        gap = 0.45 * line_h
        tall = 3 * line_h + 2 * gap
        # glyphs' ink may stand a little beyond their advance: a small inset on either side
        self.left, self.room = box.left + INSET, box.width - 2 * INSET
        scale = min(1.0, self.room / widest if widest > 0 else 1.0, box.height / tall if tall > 0 else 1.0)
        self.size = base * scale
        self._styles = {
            "muted": GlyphSet(alphabet, font=th.font, size=self.size, color=th.muted),
            "text": probe if scale == 1.0 else GlyphSet(alphabet, font=th.font, size=self.size, color=th.text),
            "run": GlyphSet(alphabet, font=th.font, size=self.size, color=th.run),
        }
        # measured again on the glyphs drawn (a font's outlines do not scale exactly with its size)
        ascent, descent = _reach(self._styles.values())
        self.line_height = ascent + descent
        step = min(self.line_height * 1.45, (box.height - self.line_height) / 2)
        first = box.top - ascent  # the first baseline: the tallest glyph touches the top
        self._baselines = [first - i * step for i in range(3)]
        self._mobs = {name: glyphs.text("") for name, glyphs in self._styles.items()}
        self.text = VGroup(*self._mobs.values())
        self.stepwise.add(self.text)

    # -- the words and numbers ---------------------------------------------------------------------
    def spans_for(self, k: int) -> list[list[tuple[str, str]]]:
        """The lines shown from state ``k`` on, as (text, style) pieces; style is muted, text or run."""
        t = self.ctx.trace
        last = t.last_k
        k = min(max(int(k), 0), last)
        if k == last:
            return [
                [(f"step {k}: the final values", "muted")],
                [("w = ", "text"), (_num(t.w[k]), "run"), (f"   ∂L/∂w = {_num(t.grad_w[k])}", "text")],
                [("b = ", "text"), (_num(t.b[k]), "run"), (f"   ∂L/∂b = {_num(t.grad_b[k])}", "text")],
            ]
        return self._rows(k, bool(self.plain[k]))

    def _rows(self, k: int, plain: bool) -> list[list[tuple[str, str]]]:
        """The lines of the step from state ``k`` (k < last) with the plain rule or without."""
        t = self.ctx.trace
        head = f"step {k} → {k + 1} · lr = {self.lr_text}"
        rows = []
        if plain:
            g = self.grad_name
            for name, val, grad in (("w", t.w, self.step_w), ("b", t.b, self.step_b)):
                rule = f"{name} ← {name} − lr·{g}/∂{name} = {_num(val[k])} − {self.lr_text}·{_factor(_num(grad[k]))} = "
                rows.append([(rule, "text"), (_num(val[k + 1]), "run")])
            return [[(head, "muted")], *rows]
        for name, val, grad in (("w", t.w, t.grad_w), ("b", t.b, t.grad_b)):
            taken = f"∂L/∂{name} = {_num(grad[k])}   Δ{name} = {_num(val[k + 1] - val[k])}   {name} = "
            rows.append([(taken, "text"), (_num(val[k + 1]), "run")])
        return [[(f"{head} · {self.method}: the step is not −lr·∇L", "muted")], *rows]

    def texts_for(self, k: int) -> list[str]:
        """The lines shown from state ``k`` on, as plain strings."""
        return ["".join(s for s, _ in line) for line in self.spans_for(k)]

    def show_step(self, states: Sequence[State]) -> None:
        t = self.ctx.trace
        k = min(int(math.floor(states[0].kf)), t.last_k)
        if k == self._k:
            return  # rebuilt once per step, never per frame
        self._k = self.shown_k = k
        spans = self.spans_for(k)
        self.shown_texts = ["".join(s for s, _ in line) for line in spans]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self._styles}
        for line, y in zip(spans, self._baselines, strict=False):
            x = self.left
            width = sum(self._styles[style].width(s) for s, style in line)
            squeeze = min(1.0, self.room / width) if width > 0 else 1.0  # a rare wider line still fits
            for s, style in line:
                glyphs = self._styles[style]
                pts = glyphs.points(s, x, y)
                if squeeze < 1.0 and len(pts):
                    pts[:, 0] = self.left + (pts[:, 0] - self.left) * squeeze
                parts[style].append(pts)
                x += glyphs.width(s)
        # mobjects are changed in place, never replaced (Manim lists a play()'s moving mobjects once)
        for name, mob in self._mobs.items():
            mob.points = np.concatenate(parts[name]) if parts[name] else np.zeros((0, 3))
