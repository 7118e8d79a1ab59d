"""Parameter space: the loss as a heat map with exact contour ellipses, the optimum and the path."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from manim import (
    DL,
    DOWN,
    DR,
    LEFT,
    ORIGIN,
    RIGHT,
    UL,
    UP,
    UR,
    Circle,
    Dot,
    ImageMobject,
    Line,
    Mobject,
    VGroup,
    VMobject,
    config,
)
from PIL import Image

from descent.trainer import Window, loss_grid

from ..helpers import (
    State,
    clip_polyline,
    clip_segment,
    colour_ramp,
    contour_ellipse,
    contour_levels,
    equal_aspect,
    fmt_num,
    thin_polyline,
    up_to,
)
from .base import Box, Context, Panel, Run, drawable_window
from .draw import (
    AffineMap,
    boxed,
    dots_mobject,
    dots_points,
    label,
    plot_axes,
    plot_frame,
    polyline_points,
    tick_labels,
    ticks_between,
)

__all__ = ["ContourPanel", "LABEL_BUFFS"]

#: Gaps (scene units) tried between the minimum's label and its marker, nearest first: a label
#: farther than the last one would no longer read as the marker's.
LABEL_BUFFS = (0.1, 0.3, 0.5)


# -- parameter space ---------------------------------------------------------------
class ContourPanel(Panel):
    """The loss over the (w, b) window: heat map, labelled contours, optimum, path."""

    heat_resolution = 220

    def __init__(self, ctx: Context, box: Box, runs: Sequence[Run] | None = None) -> None:
        super().__init__(ctx)
        t, th = ctx.trace, ctx.theme
        self.runs = list(runs) if runs else [ctx.main_run()]
        aw, ah = box.width - 0.85, box.height - 0.75
        window = drawable_window(t)
        w_range, b_range, step = equal_aspect(window.w, window.b, aw, ah)
        win = Window(w_range, b_range, step, step)
        self.window = win
        ax = plot_axes([*win.w, win.w_step], [*win.b, win.b_step], aw, ah, th, [box.x + 0.35, box.y + 0.2, 0])
        self.axes = ax
        self.map = AffineMap(ax)
        # a long run's path is drawn through the states a fraction of a pixel apart (bounded cost per frame)
        pixel = config.frame_width / config.pixel_width
        self._kept = [thin_polyline(self.map(r.trace.w, r.trace.b)[:, :2], pixel / 3) for r in self.runs]
        heat = self._heat_map()
        contours, contour_labels = self._contours()
        frame = plot_frame(ax, th)
        ticks = tick_labels(ax, ticks_between(*win.w, win.w_step), ticks_between(*win.b, win.b_step), th, th.sizes.tick)
        wl = label("w  (slope)", th, th.sizes.axis, th.muted).next_to(
            ax.c2p(sum(win.w) / 2, win.b[0]), DOWN, buff=th.margins.axis_label
        )
        # the vertical axis' name over the axis' top, as the data panel's y (beside its tick labels it
        # sat in the gap between the panels, as near the data panel's axis as its own)
        bl = label("b  (bias)", th, th.sizes.axis, th.muted)
        bl.next_to(ax.c2p(win.w[0], win.b[1]), UP, buff=th.margins.title, aligned_edge=LEFT)
        w_opt, b_opt, l_opt = t.optimum
        centre = self.map.point(w_opt, b_opt)
        star = VGroup(
            Circle(radius=0.16, color=th.optimum, stroke_width=3.5).set_background_stroke(
                color=th.run_outline, width=6
            ),
            Line(centre + LEFT * 0.26, centre + LEFT * 0.16, color=th.optimum, stroke_width=3),
            Line(centre + RIGHT * 0.16, centre + RIGHT * 0.26, color=th.optimum, stroke_width=3),
            Line(centre + UP * 0.16, centre + UP * 0.26, color=th.optimum, stroke_width=3),
            Line(centre + DOWN * 0.16, centre + DOWN * 0.26, color=th.optimum, stroke_width=3),
        )
        star[0].move_to(centre)
        # two short lines, not one long one: a box that fits beside the marker on a narrow map too
        # (one line 2.3 units wide was pushed a unit or more away from the marker it names)
        opt_text = VGroup(
            label("minimum", th, th.sizes.marker, th.optimum),
            label(f"L* = {fmt_num(l_opt, 3)}", th, th.sizes.marker, th.optimum),
        ).arrange(DOWN, buff=0.08, aligned_edge=LEFT)
        opt_label = boxed(opt_text, th.background, 0.75, (0.18, 0.14), 0.06)
        self._place_clear(opt_label, star, [p for m in contour_labels for p in _box_points(m)])
        title = label("loss L(w, b) over the parameters", th, th.sizes.panel_title, th.muted)
        title.next_to(ax.c2p(win.w[1], win.b[1]), UP, buff=th.margins.title, aligned_edge=RIGHT)
        room = title.get_right()[0] - bl.get_right()[0] - 0.35
        if title.width > room:  # a narrow panel: the title gives way to the axis' name
            title.scale(room / title.width, about_edge=RIGHT)
        self.contour_labels, self.star = contour_labels, star
        self.ticks, self.axis_labels, self.title, self.opt_label = ticks, VGroup(wl, bl), title, opt_label
        self.static.add(heat, contours, contour_labels, frame, ticks, wl, bl, title, star, opt_label)

        self.lo = np.array([win.w[0], win.b[0]])
        self.hi = np.array([win.w[1], win.b[1]])
        self.paths = VGroup()  # the path up to the last state passed (stepwise)
        self.markers = VGroup()  # a marker per state passed (stepwise)
        self.live = VGroup()  # from the last state passed to the current point (dynamic)
        self.heads = VGroup()
        self.exits = VGroup()
        self._done_exit: list[tuple | None] = [None] * len(self.runs)
        for col in (r.colour for r in self.runs):
            self.paths.add(self._path_mobject(col))
            self.markers.add(dots_mobject([], 0.045, col, th.run_outline, 1.2))
            self.live.add(self._path_mobject(col))
            self.heads.add(Dot(radius=0.095, color=col, stroke_color=th.run_outline, stroke_width=2.5))
            self.exits.add(VMobject(fill_color=col, fill_opacity=1, stroke_color=th.run_outline, stroke_width=1.5))
        self.stepwise.add(self.paths, self.markers)
        self.dynamic.add(self.live, self.exits, self.heads)

    # static pieces
    def _heat_map(self) -> ImageMobject:
        t, th, win = self.ctx.trace, self.ctx.theme, self.window
        n = self.heat_resolution
        ws = np.linspace(win.w[0], win.w[1], n)
        bs = np.linspace(win.b[1], win.b[0], n)  # image rows run top to bottom
        grid = loss_grid(t.moments, ws, bs)
        l_opt = t.optimum[2]
        v = np.log10(grid - l_opt + 1e-3 * (grid.max() - l_opt) / 1e3 + 1e-12)
        v = (v - v.min()) / (v.max() - v.min() or 1.0)
        rgb = colour_ramp(v, th.heat_stops)
        img = ImageMobject(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
        img.set_resampling_algorithm(Image.Resampling.BILINEAR)
        lo = self.map.point(win.w[0], win.b[0])
        hi = self.map.point(win.w[1], win.b[1])
        img.stretch_to_fit_width(hi[0] - lo[0])
        img.stretch_to_fit_height(hi[1] - lo[1])
        img.move_to((lo + hi) / 2)
        return img

    def _contours(self) -> tuple[VGroup, VGroup]:
        """Exact contour ellipses of the quadratic loss, clipped to the window, with labels."""
        t, th, win = self.ctx.trace, self.ctx.theme, self.window
        m = t.moments
        w_opt, b_opt, l_opt = t.optimum
        corners = loss_grid(m, list(win.w), list(win.b))
        l_max = float(corners.max())
        levels = [lv for lv in contour_levels(l_opt + (l_max - l_opt) * 2e-4, l_max, 7) if lv > l_opt]
        A = np.array([[m.xx, m.x], [m.x, 1.0]])
        lines, labels = VGroup(), VGroup()
        for lv in levels:
            pts = contour_ellipse(m, t.optimum, lv)
            runs, _ = clip_polyline(pts, (win.w[0], win.b[0]), (win.w[1], win.b[1]))
            for run in runs:
                vm = VMobject(stroke_color=th.contour, stroke_width=1.3, stroke_opacity=0.55)
                screen = self.map(run[:, 0], run[:, 1])
                if len(run) > 3:
                    vm.set_points_smoothly(screen)
                else:
                    vm.set_points_as_corners(screen)
                lines.add(vm)
        tags = {}
        for lv in levels:
            txt = label(fmt_num(lv, 3), th, th.sizes.note, th.contour)
            tags[lv] = boxed(txt, th.background, 0.6, (0.12, 0.08), 0.05)
        half = {lv: np.array([tag.width / 2, tag.height / 2]) for lv, tag in tags.items()}
        for lv, pos in self._label_spots(levels, A, half):
            labels.add(tags[lv].move_to(pos))
        self._tags = (levels, A, tags, half)  # to place them again clear of a box (keep_clear)
        return lines, labels

    def _label_spots(
        self,
        levels: Sequence[float],
        A: np.ndarray,
        half: dict[float, np.ndarray] | None = None,
        avoid: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    ) -> list[tuple[float, np.ndarray]]:
        """Where the contour labels go: along the ray from the optimum that fits the
        most labels clear of the path and of each other (the ellipses are nested,
        so labels along a ray spread out by themselves). ``half`` gives each label's
        half width and height: no two labels' boxes may touch, nor cover the optimum,
        nor meet a rectangle of ``avoid`` (lower-left, upper-right corners)."""
        gap = np.array([0.06, 0.04])
        star = np.array([0.3, 0.3])  # the optimum's marker, as a box
        t = self.ctx.trace
        w_opt, b_opt, l_opt = t.optimum
        centre = self.map.point(w_opt, b_opt)
        path = self.path_samples()
        best: list[tuple[float, np.ndarray]] = []
        best_score = -1.0
        away = np.array([w_opt - t.w[0], b_opt - t.b[0]])
        for angle in np.linspace(0, 2 * np.pi, 24, endpoint=False):
            ray = np.array([math.cos(angle), math.sin(angle)])
            spots: list[tuple[float, np.ndarray]] = []
            placed = [centre]
            boxes = [(centre[:2], star)]
            for lv in levels:
                t_ray = math.sqrt((lv - l_opt) / float(ray @ A @ ray))
                p = (w_opt + t_ray * ray[0], b_opt + t_ray * ray[1])
                if not self._inside(p, 0.06):
                    continue
                pos = self.map.point(*p)
                if any(np.linalg.norm(pos - q) < 0.5 for q in placed):
                    continue
                size = half[lv] if half is not None else np.zeros(2)
                if any(np.all(np.abs(pos[:2] - c) < size + h + gap) for c, h in boxes):
                    continue
                if any(np.all(pos[:2] + size > lo) and np.all(pos[:2] - size < hi) for lo, hi in avoid):
                    continue
                if len(path) and np.min(np.linalg.norm(path[:, :2] - pos[:2], axis=1)) < 0.4:
                    continue
                placed.append(pos)
                boxes.append((pos[:2], size))
                spots.append((lv, pos))
            score = len(spots) + 0.1 * float(ray @ away) / (np.linalg.norm(away) or 1.0)
            if score > best_score:
                best, best_score = spots, score
        return best

    def _place_clear(self, mob: Mobject, anchor: Mobject, others: list[np.ndarray]) -> None:
        """Put ``mob`` beside ``anchor`` on the side farthest from the path and ``others``."""
        c = anchor.get_center()[:2]
        # the paths' ends crowd the anchor itself; only the rest of them is in the way
        path = [p[:2] for p in self.path_samples() if np.linalg.norm(p[:2] - c) > 0.27]
        path_pts = np.array(path).reshape(-1, 2)  # none at all for a path of length 0
        text_pts = np.array([o[:2] for o in others]).reshape(-1, 2)
        best, best_score = None, None
        for buff in LABEL_BUFFS:
            for d in (UP, UR, RIGHT, DR, DOWN, DL, LEFT, UL):
                mob.next_to(anchor, d, buff=_along(d, buff))
                self._keep_inside(mob)
                lo, hi = mob.get_corner(DL)[:2] - 0.12, mob.get_corner(UR)[:2] + 0.12  # a marker's radius
                # first: cover no other text; then: cover as little path as can be; then: stay far from both
                covered_text = int(np.all((text_pts >= lo) & (text_pts <= hi), axis=1).sum())
                covered_path = int(np.all((path_pts >= lo) & (path_pts <= hi), axis=1).sum())
                both = np.concatenate([path_pts, text_pts])
                gap = np.maximum(np.maximum(lo - both, both - hi), 0.0)
                dist = float(np.min(np.linalg.norm(gap, axis=1))) if len(both) else 1.0
                dist += 0.05 if d[1] > 0 else 0.0  # above reads better than below
                score = (covered_text, covered_path, buff > 0.1, -dist)
                if best_score is None or score < best_score:
                    best, best_score = (d, buff), score
        mob.next_to(anchor, best[0], buff=_along(best[0], best[1]))
        self._keep_inside(mob)

    def clear_minimum_label(self, points: np.ndarray) -> None:
        """Place the minimum's label again beside its marker, clear of ``points`` (screen points of
        something drawn over the map, e.g. the gradient arrow at every state it is shown)."""
        extra = [np.append(np.asarray(p, dtype=float)[:2], 0.0) for p in np.asarray(points).reshape(-1, 3)]
        self._place_clear(self.opt_label, self.star, [p for m in self.contour_labels for p in _box_points(m)] + extra)

    def keep_clear(self, *mobs: Mobject) -> None:
        """Make room on the map for boxes drawn over it (a legend, a banner): the minimum's label moves
        from under them, and the contour labels go along another ray, clear of both."""
        rects = [(m.get_corner(DL)[:2] - 0.05, m.get_corner(UR)[:2] + 0.05) for m in mobs]

        def under(mob: Mobject) -> bool:
            lo, hi = mob.get_corner(DL)[:2], mob.get_corner(UR)[:2]
            return any(np.all(np.minimum(hi, rh) > np.maximum(lo, rl)) for rl, rh in rects)

        if under(self.opt_label):  # the minimum's label first: beside its marker, clear of the boxes
            corners = [p for m in [*self.contour_labels, *mobs] for p in _box_points(m)]
            for m in mobs:  # the boxes' inside, not only their outline
                (x0, y0), (x1, y1) = m.get_corner(DL)[:2], m.get_corner(UR)[:2]
                corners += [np.array([x, y, 0.0]) for x in np.linspace(x0, x1, 9) for y in np.linspace(y0, y1, 5)]
            self._place_clear(self.opt_label, self.star, corners)
        if any(under(m) for m in self.contour_labels):  # then the contour labels, along a ray clear of both
            levels, A, tags, half = self._tags
            opt = (self.opt_label.get_corner(DL)[:2] - 0.05, self.opt_label.get_corner(UR)[:2] + 0.05)
            self.contour_labels.remove(*self.contour_labels.submobjects)
            for lv, pos in self._label_spots(levels, A, half, avoid=[*rects, opt]):
                self.contour_labels.add(tags[lv].move_to(pos))

    def path_points(self) -> np.ndarray:
        """Screen points of every run's states as drawn (for placing labels clear of the paths)."""
        drawn = zip(self.runs, self._kept, strict=True)
        return np.concatenate([self.map(r.trace.w[ks], r.trace.b[ks]) for r, ks in drawn])

    def path_samples(self, spacing: float = 0.1, most: int = 20_000) -> np.ndarray:
        """Screen points every ``spacing`` units along every run's drawn path inside the window:
        a label clear of these is clear of the lines between the states too, not just of the states."""
        lo, hi = (self.window.w[0], self.window.b[0]), (self.window.w[1], self.window.b[1])
        out = []
        for r, ks in zip(self.runs, self._kept, strict=True):
            pts = np.stack([r.trace.w[ks], r.trace.b[ks]], axis=1)
            for run in clip_polyline(pts, lo, hi)[0]:
                screen = self.map(run[:, 0], run[:, 1])
                for a, b in zip(screen[:-1], screen[1:], strict=True):
                    n = max(1, min(int(np.linalg.norm(b - a) / spacing), most))
                    out.append(a + (b - a) * np.linspace(0.0, 1.0, n + 1)[:, None])
        if not out:
            return self.path_points()
        samples = np.concatenate(out + [self.path_points()])
        return samples[:: max(1, len(samples) // most)]

    def clearest_corner(self, width: float, height: float, margin: float = 0.12) -> np.ndarray:
        """The top-left point for a box of this size in the window corner farthest from every path."""
        lo, hi = self.map.point(self.window.w[0], self.window.b[0]), self.map.point(self.window.w[1], self.window.b[1])
        pts = self.path_points()[:, :2]
        best, best_d = None, -1.0
        for x in (lo[0] + margin, hi[0] - margin - width):
            for y in (hi[1] - margin, lo[1] + margin + height):
                box_lo, box_hi = np.array([x, y - height]), np.array([x + width, y])
                gap = np.maximum(np.maximum(box_lo - pts, pts - box_hi), 0.0)
                d = float(np.min(np.linalg.norm(gap, axis=1)))
                if d > best_d:
                    best, best_d = np.array([x, y, 0.0]), d
        return best

    def contains(self, w: float, b: float) -> bool:
        """Whether (w, b) lies in the visible window."""
        return self._inside((w, b), 0.0)

    def _inside(self, p, margin: float) -> bool:
        win = self.window
        mw = margin * (win.w[1] - win.w[0])
        mb = margin * (win.b[1] - win.b[0])
        return win.w[0] + mw <= p[0] <= win.w[1] - mw and win.b[0] + mb <= p[1] <= win.b[1] - mb

    def _keep_inside(self, mob: Mobject) -> None:
        ax = self.axes
        lo = ax.c2p(self.window.w[0], self.window.b[0])
        hi = ax.c2p(self.window.w[1], self.window.b[1])
        if mob.get_bottom()[1] < lo[1] + 0.05:
            mob.shift(UP * (lo[1] + 0.05 - mob.get_bottom()[1]))
        if mob.get_right()[0] > hi[0] - 0.05:
            mob.shift(LEFT * (mob.get_right()[0] - hi[0] + 0.05))
        if mob.get_left()[0] < lo[0] + 0.05:
            mob.shift(RIGHT * (lo[0] + 0.05 - mob.get_left()[0]))

    # dynamic pieces
    def point_of(self, state: State) -> np.ndarray:
        return self.map.point(state.w, state.b)

    def _path_mobject(self, col: str) -> VMobject:
        vm = VMobject(stroke_color=col, stroke_width=3.5)
        vm.set_background_stroke(color=self.ctx.theme.run_outline, width=6)
        return vm

    def show_step(self, states: Sequence[State]) -> None:
        for i, (run, st) in enumerate(zip(self.runs, states, strict=False)):
            trace, clock = run.trace, run.clock
            k0 = int(math.floor(st.kf))
            ks = up_to(self._kept[i], k0)
            runs, exits = clip_polyline(np.stack([trace.w[ks], trace.b[ks]], axis=1), self.lo, self.hi)
            self.paths[i].points = polyline_points([self.map(r[:, 0], r[:, 1]) for r in runs])
            self._done_exit[i] = exits[-1] if exits else None
            # a marker at every recorded state passed (all of them for a short run)
            shown = [k for k in clock.keys if k <= k0] if trace.n_states > 200 else range(k0 + 1)
            centres = [
                self.map.point(trace.w[k], trace.b[k]) for k in shown if self._inside((trace.w[k], trace.b[k]), 0.0)
            ]
            self.markers[i].points = dots_points(centres, 0.045)

    def show(self, states: Sequence[State]) -> None:
        for i, (run, st) in enumerate(zip(self.runs, states, strict=False)):
            trace = run.trace
            k0 = int(math.floor(st.kf))
            seg = clip_segment((trace.w[k0], trace.b[k0]), (st.w, st.b), self.lo, self.hi)
            live = self.live[i]
            if seg is None or np.allclose(seg[0], seg[1]):
                live.points = np.zeros((0, 3))
            else:
                live.set_points_as_corners(self.map([seg[0][0], seg[1][0]], [seg[0][1], seg[1][1]]))
            head = self.heads[i]
            inside = self._inside((st.w, st.b), 0.0)
            if inside:
                head.move_to(self.map.point(st.w, st.b))
            head.set_opacity(1 if inside else 0)
            # where the point has left the view: an arrowhead on the edge, pointing after it
            ex = None
            if not inside:
                if seg is not None and seg[3]:
                    d = np.array([st.w, st.b]) - seg[0]
                    ex = (seg[1], d / (np.linalg.norm(d) or 1.0))
                else:
                    ex = self._done_exit[i]
            if ex is None:
                self.exits[i].points = np.zeros((0, 3))
            else:
                p, d = ex
                tip = self.map.point(*p)
                dv = self.map.ex[:2] * d[0] + self.map.ey[:2] * d[1]
                dv = np.append(dv / (np.linalg.norm(dv) or 1.0), 0.0)
                nv = np.array([-dv[1], dv[0], 0.0])
                self.exits[i].set_points_as_corners(
                    [tip, tip - 0.34 * dv + 0.16 * nv, tip - 0.34 * dv - 0.16 * nv, tip]
                )


def _along(direction: np.ndarray, gap: float) -> float:
    """The ``next_to`` buffer that leaves ``gap`` between two boxes (diagonally, it applies on both axes)."""
    return gap / math.sqrt(2) if abs(direction[0]) and abs(direction[1]) else gap


def _box_points(mob: Mobject) -> list[np.ndarray]:
    """The centre, corners and edge midpoints of a mobject's bounding box (obstacles for label placement)."""
    return [mob.get_critical_point(d) for d in (ORIGIN, UP, DOWN, LEFT, RIGHT, UL, UR, DL, DR)]
