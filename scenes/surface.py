"""SurfaceScene: the path rolling down the loss surface, beside the fitting line.

Render the lab defaults from the repository root with the plain manim CLI::

    manim -qm scenes/surface.py SurfaceScene

The loss L(w, b) is drawn as a shaded surface coloured by height over the
trainer's (w, b) window, with its exact contour ellipses on the floor. The
path joins the points (w_k, b_k, L_k); the surface is evaluated with the
trainer's closed-form loss, so those points lie on it exactly. The data panel,
loss curve and header stay fixed in the frame and follow the same step
tracker as the 3-D point.

Camera: an establishing move, a fixed camera for the whole descent (a moving
camera makes Cairo redraw every face on every frame), and an optional closing
move to a top-down view that turns the surface into the contour map.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import cairo
import numpy as np
from manim import (
    DEGREES,
    DL,
    LEFT,
    RIGHT,
    UP,
    UR,
    AnimationGroup,
    FadeOut,
    LaggedStart,
    Mobject,
    Rectangle,
    Succession,
    Surface,
    ThreeDAxes,
    ThreeDScene,
    ValueTracker,
    VGroup,
    VMobject,
    Wait,
    config,
)
from manim.camera.three_d_camera import ThreeDCamera

from descent.scenes.base import DescentScene, play_frames
from descent.scenes.fit import fit_layout
from descent.scenes.helpers import State, clip_segment, contour_ellipse, contour_levels, fmt_num, thin_polyline, up_to
from descent.scenes.panels import Banner, Context, DataPanel, Header, LossPanel, Panel, StepDriver, label, number_label
from descent.scenes.panels.base import drawable_window
from descent.scenes.theme import THEMES
from descent.trainer import Trace, loss_at, loss_grid, nice_step

__all__ = ["SurfaceScene", "SurfacePanel", "ShiftedThreeDCamera", "SCREEN_SHIFT"]

#: Where the 3-D plot's centre appears on screen (the right half of the frame).
SCREEN_SHIFT = np.array([3.35, -0.3, 0.0])


class ShiftedThreeDCamera(ThreeDCamera):
    """A 3-D camera whose picture is moved sideways on screen.

    The camera still turns about the origin (where the surface sits), but the
    projection lands in the right half of the frame, beside the 2-D panels.
    """

    screen_shift = SCREEN_SHIFT

    def project_points(self, points: np.ndarray) -> np.ndarray:
        out = super().project_points(points)
        out[:, :2] += self.screen_shift[:2]
        return out

    def display_multiple_non_background_colored_vmobjects(
        self, vmobjects: Sequence[VMobject], pixel_array: np.ndarray
    ) -> None:
        """Draw as Manim does, except runs of plain surface faces: those in one pass.

        Manim draws each face on its own (its points projected, its path split into
        subpaths, its colour set, through several Python calls): most of a frame's
        time while the camera moves. A face here is a flat quadrilateral with one fill
        colour and no stroke (see :meth:`SurfacePanel.bake_shading`); a run of them (the
        camera has already sorted them back to front) is projected in one call and
        filled as quadrilaterals. Anything else is drawn by Manim.
        """
        ctx = self.get_cairo_context(pixel_array)
        run: list = []
        for vm in vmobjects:
            if _invisible(vm):  # faded out (or not yet in): painting it would change no pixel
                continue
            if _plain_face(vm):
                run.append(vm)
                continue
            if run:
                self._fill_faces(ctx, run)
                run = []
            self.display_vectorized(vm, ctx)
        if run:
            self._fill_faces(ctx, run)

    def _fill_faces(self, ctx: cairo.Context, faces: list[VMobject]) -> None:
        n = len(faces)
        pts = np.concatenate([f.points[0:16:4] for f in faces] + [f.descent_gradient for f in faces])
        xy = self.project_points(pts)[:, :2].tolist()
        fill = ctx.fill
        move_to, line_to, close = ctx.move_to, ctx.line_to, ctx.close_path
        set_rgba, set_source = ctx.set_source_rgba, ctx.set_source
        gradient = cairo.LinearGradient
        for i, face in enumerate(faces):
            j = 4 * i
            move_to(*xy[j])
            line_to(*xy[j + 1])
            line_to(*xy[j + 2])
            line_to(*xy[j + 3])
            close()
            rgbas = face.fill_rgbas  # the pixel array is BGRA to Cairo: colours go in reversed, as Manim does
            if len(rgbas) == 1:
                r, g, b, a = rgbas[0]
                set_rgba(b, g, r, a)
            else:
                (x0, y0), (x1, y1) = xy[4 * n + 2 * i], xy[4 * n + 2 * i + 1]
                pat = gradient(x0, y0, x1, y1)
                stops = (0.0, 1.0) if len(rgbas) == 2 else np.linspace(0, 1, len(rgbas)).tolist()
                for stop, (r, g, b, a) in zip(stops, rgbas.tolist(), strict=True):
                    pat.add_color_stop_rgba(stop, b, g, r, a)
                set_source(pat)
            fill()


def _invisible(vm: VMobject) -> bool:
    """Whether every colour Manim would paint ``vm`` with is fully transparent."""
    fill = vm.fill_rgbas
    if len(fill) and fill[:, 3].max() > 0:
        return False
    for width, rgbas in ((vm.stroke_width, vm.stroke_rgbas), (vm.background_stroke_width, vm.background_stroke_rgbas)):
        if width and len(rgbas) and rgbas[:, 3].max() > 0:
            return False
    return vm.get_background_image() is None


def _plain_face(vm: VMobject) -> bool:
    """A baked surface face that :meth:`ShiftedThreeDCamera._fill_faces` may draw: a flat
    quadrilateral (four straight curves), one fill colour, no stroke, no gradient."""
    return (
        getattr(vm, "descent_face", False)
        and len(vm.points) == 16
        and hasattr(vm, "descent_gradient")
        and vm.stroke_width == 0
        and vm.background_stroke_width == 0
        and vm.sheen_factor == 0
    )


class _Floor(VMobject):
    """Floor lines, sorted behind every surface face (drawn first)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.shade_in_3d = True

    def get_z_index_reference_point(self):
        return np.array([0.0, 0.0, -1e6])


class _Lid(_Floor):
    """Lines on the surface seen from straight above: sorted in front of every face (drawn last)."""

    def get_z_index_reference_point(self):
        return np.array([0.0, 0.0, 1e6])


class SurfacePanel(Panel):
    """The loss surface over the window, floor contours, the path, the current point."""

    resolution = 20  # faces per side: smooth enough at 1080p, cheap to sort and paint

    def __init__(self, ctx: Context, rotation: np.ndarray, size: float = 4.7, z_length: float = 3.0) -> None:
        super().__init__(ctx)
        t, th = ctx.trace, ctx.theme
        self.rotation = rotation  # callable: the camera's rotation matrix
        win = drawable_window(t)
        span = max(win.w[1] - win.w[0], win.b[1] - win.b[0])
        self.w_range, self.b_range = win.w, win.b
        corners = loss_grid(t.moments, list(win.w), list(win.b))
        self.z_max = float(corners.max())
        z_step = nice_step(self.z_max, 4)
        ax = ThreeDAxes(
            x_range=[*win.w, win.w_step],
            y_range=[*win.b, win.b_step],
            z_range=[0, self.z_max, z_step],
            x_length=size * (win.w[1] - win.w[0]) / span,
            y_length=size * (win.b[1] - win.b[0]) / span,
            z_length=z_length,
            tips=False,
            axis_config={"color": th.axis, "stroke_width": 1.5, "include_ticks": False},
        )
        centre = ax.c2p(sum(win.w) / 2, sum(win.b) / 2, self.z_max / 2)
        ax.shift(-centre)
        self.axes = ax
        m = t.moments

        # the surface, coloured by height
        surf = Surface(
            lambda u, v: ax.c2p(u, v, float(loss_at(m, u, v))),
            u_range=list(win.w),
            v_range=list(win.b),
            resolution=(self.resolution, self.resolution),
            fill_opacity=0.82,
            stroke_width=0,
            checkerboard_colors=False,
        )
        stops = th.surface_stops or th.heat_stops
        surf.set_fill_by_value(
            axes=ax,
            colorscale=[
                (_hex(stops[0][1]), 0.0),
                (_hex(stops[1][1]), 0.2 * self.z_max),
                (_hex(stops[2][1]), 0.55 * self.z_max),
                (_hex(stops[3][1]), self.z_max),
            ],
            axis=2,
        )
        self.surface = surf

        # exact contour ellipses on the floor (z = 0), the same levels as the 2-D map
        w_opt, b_opt, l_opt = t.optimum
        floor = VGroup()
        self.lifted = VGroup()  # not drawn until the closing view shows them
        for lv in contour_levels(l_opt + (self.z_max - l_opt) * 2e-4, self.z_max, 7):
            if lv <= l_opt:
                continue
            pts = contour_ellipse(m, t.optimum, lv)
            inside = (
                (pts[:, 0] >= win.w[0]) & (pts[:, 0] <= win.w[1]) & (pts[:, 1] >= win.b[0]) & (pts[:, 1] <= win.b[1])
            )
            for run in _runs(pts, inside):
                vm = _Floor(stroke_color=th.contour, stroke_width=1.2, stroke_opacity=0.5)
                vm.set_points_smoothly([ax.c2p(w, b, 0) for w, b in run])
                floor.add(vm)
                # the same curve on the surface, at its height: the map's contour lines (closing view)
                up = _Lid(stroke_color=th.contour, stroke_width=1.4, stroke_opacity=0.0)
                up.set_points_smoothly([ax.c2p(w, b, lv) for w, b in run])
                self.lifted.add(up)
        box = _Floor(stroke_color=th.axis, stroke_width=1.5)
        box.set_points_as_corners(
            [
                ax.c2p(win.w[0], win.b[0], 0),
                ax.c2p(win.w[1], win.b[0], 0),
                ax.c2p(win.w[1], win.b[1], 0),
                ax.c2p(win.w[0], win.b[1], 0),
                ax.c2p(win.w[0], win.b[0], 0),
            ]
        )
        floor.add(box)
        opt_floor = _Floor(stroke_color=th.optimum, stroke_width=3)
        c = ax.c2p(w_opt, b_opt, 0)
        opt_floor.set_points_as_corners([c + 0.12 * LEFT, c + 0.12 * RIGHT])
        floor.add(opt_floor)
        self.floor = floor
        self.static.add(floor, surf)

        # what the labels name: the ticks along three edges of the box (placed as flat text by the
        # scene, for its camera: see labels_for). w along the front edge, b along the left one (the
        # edges the surface never rises in front of, in the views the scenes use), the height on
        # the vertical at the back-left corner.
        self.edges = {
            "w": ((win.w[0], win.b[0], 0.0), (win.w[1], win.b[0], 0.0)),
            "b": ((win.w[0], win.b[0], 0.0), (win.w[0], win.b[1], 0.0)),
            "z": ((win.w[0], win.b[1], 0.0), (win.w[0], win.b[1], self.z_max)),
        }
        self.tick_values = {
            "w": _ticks(*win.w, win.w_step),
            "b": _ticks(*win.b, win.b_step),
            "z": _ticks(0, self.z_max, z_step),
        }
        self.axis_names = {"w": "w", "b": "b", "z": "loss"}
        zaxis = VMobject(stroke_color=th.axis, stroke_width=1.5)
        zaxis.set_points_as_corners([ax.c2p(win.w[0], win.b[1], 0), ax.c2p(win.w[0], win.b[1], self.z_max)])
        self.static.add(zaxis)

        # the run: path so far (stepwise), live piece, current point, exit marker (dynamic)
        self.path = VMobject(stroke_color=th.run, stroke_width=3.5)
        self.path.set_background_stroke(color=th.run_outline, width=6)
        self.markers = VMobject(fill_color=th.run, fill_opacity=1, stroke_color=th.run_outline, stroke_width=1.2)
        self.live = VMobject(stroke_color=th.run, stroke_width=3.5)
        self.live.set_background_stroke(color=th.run_outline, width=6)
        self.head = VMobject(fill_color=th.run, fill_opacity=1, stroke_color=th.run_outline, stroke_width=2.5)
        self.exit = VMobject(fill_color=th.warn, fill_opacity=1, stroke_color=th.run_outline, stroke_width=2)
        self.stepwise.add(self.path, self.markers)
        self.dynamic.add(self.live, self.exit, self.head)
        self._exit_point: np.ndarray | None = None
        # a long run's path is drawn through the states a fraction of a pixel apart (bounded cost per frame)
        pixel = config.frame_width / config.pixel_width
        self._kept = thin_polyline(np.asarray(ax.c2p(t.w, t.b, t.loss)).T.reshape(-1, 3), pixel / 3)

    def bake_shading(self, camera: ThreeDCamera) -> None:
        """Light each face once, as Manim would on every frame, and switch per-frame shading off.

        Manim's Cairo shading lights a face from a point fixed in the scene, so
        the result does not depend on the camera: computing it per face per
        frame (in Python) only costs time, most of a camera move's time.
        """
        for face in self.surface.submobjects:
            face.fill_rgbas = camera.modified_rgbas(face, face.get_fill_rgbas())
            # Manim shades a face as a gradient between two of its points: kept for the one-pass drawing
            face.descent_gradient = np.array(face.get_gradient_start_and_end_points(), dtype=float)
            face.descent_face = True  # drawn in one pass with its neighbours (ShiftedThreeDCamera)
            # faces never move in the scene: their depth-sort reference point is fixed too
            centre = face.get_center().copy()
            face.get_z_index_reference_point = lambda c=centre: c
        camera.should_apply_shading = False

    # -- labels ----------------------------------------------------------------------
    #: Gap between a tick value and its edge, and between the ticks and the axis' name (scene units).
    LABEL_GAP = 0.12
    #: Room every label keeps from the surface as the camera draws it (4 pixels at 480p).
    LABEL_ROOM = 0.08

    def labels_for(self, project: Callable[[np.ndarray], np.ndarray], axes: str = "wbz") -> VGroup:
        """Tick values and axis names as flat text, placed for a camera (``project``: its projection).

        Each label sits off its edge of the box as the camera draws it, on the side away from
        the plot and perpendicular to the edge, :attr:`LABEL_GAP` from it; a label the surface
        would reach (a rim raised in front of the edge) moves further out along that side
        until it keeps :attr:`LABEL_ROOM` from every face. A tick value that would overlap
        one placed before (at a corner two axes share) is left out. An edge the camera sees
        end-on (the height, from straight above) gets no labels.

        Parameters
        ----------
        project
            The camera's projection of scene points, an (n, 3) array to an (n, 3) array (its
            ``project_points``, with the rotation it has now).
        axes
            Which axes to label, of ``"w"``, ``"b"`` and ``"z"`` (the height).

        Returns
        -------
        VGroup
            The tick values (axis by axis: w, z, b), then the axes' names.
        """
        th = self.ctx.theme
        faces = self.surface.submobjects
        corners = np.concatenate([f.points[0:16:4] for f in faces]) if faces else np.zeros((0, 3))
        quads = project(corners)[:, :2].reshape(-1, 4, 2)
        box = np.array([self.point3(w, b, z) for w in self.w_range for b in self.b_range for z in (0.0, self.z_max)])
        middle = project(box)[:, :2].mean(axis=0)
        placed: list[VMobject] = []
        names: list[VMobject] = []
        for axis in "wzb":
            if axis not in axes:
                continue
            a3, b3 = (np.array(e, dtype=float) for e in self.edges[axis])
            a, b = project(np.array([self.point3(*a3), self.point3(*b3)]))[:, :2]
            along = b - a
            if np.linalg.norm(along) < 1e-3:  # seen end-on
                continue
            along = along / np.linalg.norm(along)
            if axis == "z":
                out = along  # the height's name above its axis, its ticks beside it, away from the plot
                side = np.array([-along[1], along[0]])
                side = side if side @ (a - middle) >= 0 else -side
            else:
                side = np.array([-along[1], along[0]])
                side = side if side @ ((a + b) / 2 - middle) >= 0 else -side
                out = side
            depth = self.LABEL_GAP
            for v in self.tick_values[axis]:
                at3 = a3.copy()
                at3["wbz".index(axis)] = v  # the edge runs along this axis
                at = project(np.array([self.point3(*at3)]))[0, :2]
                mob = number_label(fmt_num(v), th, th.sizes.tick_3d)
                self._put(mob, at, side, self.LABEL_GAP, quads)
                if any(_boxes_overlap(mob, other, 0.1) for other in placed):
                    continue
                placed.append(mob)
                depth = max(depth, (mob.get_center()[:2] - at) @ side + _support(mob, side))
            name = label(self.axis_names[axis], th, th.sizes.panel_title, th.muted)
            if axis == "z":
                self._put(name, b, out, self.LABEL_GAP, quads)
            else:
                self._put(name, (a + b) / 2, out, depth + self.LABEL_GAP, quads)
            names.append(name)
        return VGroup(*placed, *names)

    def _put(self, mob: Mobject, at: np.ndarray, side: np.ndarray, gap: float, quads: np.ndarray) -> None:
        """Place ``mob`` ``gap`` off the point ``at`` towards ``side`` (its near edge that far out),
        then further out, in small steps, until it keeps :attr:`LABEL_ROOM` from the faces."""
        centre = at + side * (gap + _support(mob, side))
        mob.move_to([centre[0], centre[1], 0.0])
        for _ in range(80):  # at most 2.4 units further out
            lo, hi = mob.get_corner(DL)[:2] - self.LABEL_ROOM, mob.get_corner(UR)[:2] + self.LABEL_ROOM
            if not _rect_meets_quads(lo, hi, quads):
                return
            mob.shift([*(0.03 * side), 0.0])

    # -- geometry ------------------------------------------------------------------
    def point3(self, w: float, b: float, loss: float) -> np.ndarray:
        return np.asarray(self.axes.c2p(w, b, loss), dtype=float)

    def inside(self, w: float, b: float) -> bool:
        return self.w_range[0] <= w <= self.w_range[1] and self.b_range[0] <= b <= self.b_range[1]

    def _facing_circles(self, centres: Sequence[np.ndarray], radius: float) -> np.ndarray:
        """Circles that face the camera (in its current orientation), one subpath each."""
        if not len(centres):
            return np.zeros((0, 3))
        rot = self.rotation()
        right, up = rot[0], rot[1]
        from descent.scenes.panels import dots_points

        unit = dots_points([np.zeros(3)], 1.0)  # a unit circle in the xy plane
        local = np.outer(unit[:, 0], right) + np.outer(unit[:, 1], up)
        return (np.asarray(centres)[:, None, :] + radius * local[None, :, :]).reshape(-1, 3)

    def _clipped(self, k_to: int):
        """3-D path corners for states 0..k_to, clipped to the window, and the last exit point."""
        t = self.ctx.trace
        ks = up_to(self._kept, k_to)
        w, b, loss = t.w[ks], t.b[ks], t.loss[ks]
        if len(ks) >= 2 and np.all(
            (w >= self.w_range[0])
            & (w <= self.w_range[1])
            & (b >= self.b_range[0])
            & (b <= self.b_range[1])
            & (loss <= self.z_max)
        ):
            return [np.asarray(self.axes.c2p(w, b, loss)).T.reshape(-1, 3)], None  # all inside: no clipping
        pieces, current, exit_point = [], [], None
        for k, k1 in zip(ks[:-1], ks[1:], strict=True):
            seg = _clip3(t, k, k1, self.w_range, self.b_range, self.z_max)
            if seg is None:
                if current:
                    pieces.append(current)
                    current = []
                continue
            (wa, ba, la), (wz, bz, lz), entered, left = seg
            if entered and current:
                pieces.append(current)
                current = []
            if not current:
                current = [self.point3(wa, ba, la)]
            current.append(self.point3(wz, bz, lz))
            if left:
                pieces.append(current)
                current = []
                exit_point = self.point3(wz, bz, lz)
        if current:
            pieces.append(current)
        return pieces, exit_point

    # -- layers --------------------------------------------------------------------
    def show_step(self, states: Sequence[State]) -> None:
        from descent.scenes.panels import polyline_points

        t, st = self.ctx.trace, states[0]
        k0 = int(math.floor(st.kf))
        pieces, self._exit_point = self._clipped(k0)
        self.path.points = polyline_points(pieces)
        shown = [k for k in self.ctx.clock.keys if k <= k0] if t.n_states > 200 else range(k0 + 1)
        centres = [self.point3(t.w[k], t.b[k], t.loss[k]) for k in shown if self.inside(t.w[k], t.b[k])]
        self.markers.points = self._facing_circles(centres, 0.045)

    def state_point(self, st: State) -> tuple[float, float, float]:
        """(w, b, L) of the current point: on the chord between the neighbouring states."""
        t = self.ctx.trace
        k0 = min(int(math.floor(st.kf)), t.last_k)
        k1 = min(k0 + 1, t.last_k)
        a = st.kf - k0
        return st.w, st.b, float((1 - a) * t.loss[k0] + a * t.loss[k1])

    def show(self, states: Sequence[State]) -> None:
        from descent.scenes.panels import polyline_points

        t, st = self.ctx.trace, states[0]
        k0 = int(math.floor(st.kf))
        w, b, loss = self.state_point(st)
        inside = self.inside(w, b)
        live_exit = None
        piece = _clip_chord((t.w[k0], t.b[k0], t.loss[k0]), (w, b, loss), self.w_range, self.b_range, self.z_max)
        if piece is None or np.allclose(piece[0], piece[1]):
            self.live.points = np.zeros((0, 3))
        else:
            ends = [self.point3(*piece[0]), self.point3(*piece[1])]
            self.live.points = polyline_points([ends])
            if piece[3]:
                live_exit = ends[1]
        inside = inside and loss <= self.z_max
        self.head.points = self._facing_circles([self.point3(w, b, loss)], 0.09) if inside else np.zeros((0, 3))
        exit_point = live_exit if live_exit is not None else self._exit_point
        self.exit.points = (
            self._facing_circles([exit_point], 0.11) if (not inside and exit_point is not None) else np.zeros((0, 3))
        )


def _support(mob: Mobject, direction: np.ndarray) -> float:
    """How far ``mob``'s box reaches from its centre along the unit ``direction``."""
    return 0.5 * (mob.width * abs(direction[0]) + mob.height * abs(direction[1]))


def _boxes_overlap(a: Mobject, b: Mobject, room: float = 0.0) -> bool:
    """Whether the boxes of ``a`` and ``b``, ``a``'s grown by ``room``, overlap."""
    alo, ahi = a.get_corner(DL)[:2] - room, a.get_corner(UR)[:2] + room
    blo, bhi = b.get_corner(DL)[:2], b.get_corner(UR)[:2]
    return bool(np.all(np.minimum(ahi, bhi) > np.maximum(alo, blo)))


def _rect_meets_quads(lo: np.ndarray, hi: np.ndarray, quads: np.ndarray) -> bool:
    """Whether the rectangle ``lo``–``hi`` meets any of the quadrilaterals ``quads`` (n, 4, 2).

    Separating axes: the rectangle's two and each quadrilateral's edge normals (exact for
    convex ones; a folded face at the silhouette may count as met a little early).
    """
    near = np.all((quads.max(axis=1) >= lo) & (quads.min(axis=1) <= hi), axis=1)
    q = quads[near]
    if not len(q):
        return False
    rect = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    edges = np.roll(q, -1, axis=1) - q
    normals = np.stack([-edges[..., 1], edges[..., 0]], axis=-1)
    on_q = np.einsum("nkd,njd->nkj", normals, q)
    on_r = np.einsum("nkd,jd->nkj", normals, rect)
    apart = (on_q.max(axis=2) < on_r.min(axis=2)) | (on_r.max(axis=2) < on_q.min(axis=2))
    return bool(np.any(~apart.any(axis=1)))


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(round(c * 255)):02X}" for c in rgb)


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    if last - first > 12:  # a trace's window may ask for more ticks than a 3-D plot can label
        step = nice_step(hi - lo, 5)
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _runs(pts: np.ndarray, inside: np.ndarray) -> list[np.ndarray]:
    runs, cur = [], []
    for p, ok in zip(pts, inside, strict=False):
        if ok:
            cur.append(p)
        elif cur:
            runs.append(np.array(cur))
            cur = []
    if cur:
        runs.append(np.array(cur))
    return [r for r in runs if len(r) >= 4]


def _fraction(p, q, x) -> float:
    d = np.asarray(q, float) - np.asarray(p, float)
    n = float(d @ d)
    return 0.0 if n == 0 else float((np.asarray(x, float) - np.asarray(p, float)) @ d / n)


def _clip3(t: Trace, k: int, k1: int, w_range, b_range, z_max: float = math.inf):
    """Clip the chord from state k to k1 to the box (window × loss ≤ z_max)."""
    return _clip_chord((t.w[k], t.b[k], t.loss[k]), (t.w[k1], t.b[k1], t.loss[k1]), w_range, b_range, z_max)


def _clip_chord(p3, q3, w_range, b_range, z_max: float = math.inf):
    """Clip a straight 3-D chord (w, b, L) to the window × [.., z_max]; heights follow the chord.

    Returns ``(start, end, entered, left)`` as (w, b, L) triples, or None.
    """
    p, q = (p3[0], p3[1]), (q3[0], q3[1])
    seg = clip_segment(p, q, (w_range[0], b_range[0]), (w_range[1], b_range[1]))
    if seg is None:
        if np.allclose(p, q) and w_range[0] <= p[0] <= w_range[1] and b_range[0] <= p[1] <= b_range[1]:
            seg = (np.array(p), np.array(q), False, False)  # no motion in (w, b)
        else:
            return None
    a, z, _, _ = seg
    ta, tz = _fraction(p, q, a), _fraction(p, q, z)
    l0, l1 = p3[2], q3[2]
    if l0 > z_max and l1 > z_max:
        return None
    if l1 != l0:  # the chord's height is linear in t: keep the part under the lid
        t_lid = (z_max - l0) / (l1 - l0)
        if l1 > l0:
            tz = min(tz, t_lid)
        else:
            ta = max(ta, t_lid)
    if ta > tz:
        return None

    def at(f: float):
        return (p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1]), l0 + f * (l1 - l0))

    return at(ta), at(tz), ta > 1e-12, tz < 1 - 1e-12


class SurfaceScene(DescentScene, ThreeDScene):
    """The loss surface in 3-D with the path on it, beside the data panel and header."""

    EXTRA_PARAMS = {
        "closing_top_view": lambda v: isinstance(v, bool),
        "establish_seconds": lambda v: isinstance(v, (int, float)) and 0 <= v <= 30,
        "closing_seconds": lambda v: isinstance(v, (int, float)) and 0 < v <= 30,
        "phi_degrees": lambda v: isinstance(v, (int, float)) and 0 <= v <= 90,
        "theta_degrees": lambda v: isinstance(v, (int, float)) and -360 <= v <= 360,
    }
    closing_top_view: bool = True  # end on the top-down view: the surface becomes the contour map
    establish_seconds: float = 1.5  # the camera's establishing move (with the panels appearing)
    closing_seconds: float = 2.0
    phi_degrees: float = 62.0  # the descent's camera: angle from the vertical
    theta_degrees: float = -120.0  # and around it
    hold_seconds: float = 1.5

    CAMERA_CLASS = ShiftedThreeDCamera

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("camera_class", ShiftedThreeDCamera)
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        super().setup()
        lay = fit_layout()
        self.ctx = Context.for_trace(self.run_trace, self.theme, self.max_keys, self.step_hold)
        self.header = Header(self.ctx, lay["header"], self.title or "Gradient descent rolls down the loss surface")
        self.data = DataPanel(self.ctx, lay["data"])
        self.loss = LossPanel(self.ctx, lay["loss"])
        self.set_camera_orientation(phi=self.phi_degrees * DEGREES, theta=self.theta_degrees * DEGREES)
        self.surface = SurfacePanel(self.ctx, self._rotation, z_length=3.6)  # a bowl as tall as the lesson's
        self.surface.bake_shading(self.camera)
        self._frame_views(lay["contour"])
        c = lay["contour"]
        self.banner = Banner(
            self.ctx, anchor=[c.x + 0.2, c.top - 0.45, 0], width=c.width - 0.6, contains=self.surface.inside
        )
        self.flat = [self.header, self.data, self.loss, self.banner]
        self.panels = [*self.flat, self.surface]
        self.tracker = ValueTracker(0.0)
        self.driver = StepDriver(self.ctx.clock, self.panels)
        self.driver.push(0.0)

    def _rotation(self) -> np.ndarray:
        """The camera's current rotation (its cached matrix is only refreshed when it draws)."""
        self.camera.reset_rotation_matrix()
        return self.camera.get_rotation_matrix()

    #: First guesses of the room around the 3-D box in the right half (left, right, bottom, top);
    #: each view then leaves what its labels take (see :meth:`_fit_labelled`).
    DESCENT_MARGINS = (0.85, 0.3, 0.75, 0.75)
    #: The same around the map seen from above (b's ticks on the left, w's below, the title above).
    MAP_MARGINS = (0.95, 0.35, 0.75, 0.6)
    #: Room between the labels and the panel's edges (scene units).
    MARGIN_PAD = 0.1
    #: The closing view's camera distance: far enough that heights barely change the scale (< 1 %).
    MAP_FOCAL_DISTANCE = 400.0

    def _camera_state(self) -> tuple[float, float, float, float, np.ndarray]:
        cam = self.camera
        return cam.get_phi(), cam.get_theta(), cam.get_focal_distance(), cam.get_zoom(), cam.screen_shift.copy()

    def _set_camera(self, state: tuple[float, float, float, float, np.ndarray]) -> None:
        cam = self.camera
        phi, theta, focal, zoom, shift = state
        cam.phi_tracker.set_value(phi)
        cam.theta_tracker.set_value(theta)
        cam.focal_distance_tracker.set_value(focal)
        cam.zoom_tracker.set_value(zoom)
        cam.screen_shift = np.array(shift, dtype=float)
        cam.reset_rotation_matrix()

    def _plot_points(self) -> np.ndarray:
        """The points that bound the plot: the floor's box, the height axis' top, every face's corners."""
        sp = self.surface
        corners = np.array(
            [sp.point3(w, b, 0.0) for w in sp.w_range for b in sp.b_range]
            + [sp.point3(sp.w_range[0], sp.b_range[1], sp.z_max)],
            dtype=float,
        )
        return np.concatenate([corners, *(face.points[0:16:4] for face in sp.surface.submobjects)])

    def _fit(self, box, margins: tuple[float, float, float, float]) -> tuple[float, np.ndarray]:
        """The zoom and screen shift that make the plot (the surface, the floor's box and the height
        axis) fill ``box`` (less its margins), in the camera's current orientation."""
        corners = self._plot_points()
        cam = self.camera
        cam.zoom_tracker.set_value(1.0)
        cam.screen_shift = np.zeros(3)
        cam.reset_rotation_matrix()
        seen = cam.project_points(corners)[:, :2]
        lo, hi = seen.min(axis=0), seen.max(axis=0)
        left, right, bottom, top = margins
        width, height = box.width - left - right, box.height - bottom - top
        zoom = min(width / max(hi[0] - lo[0], 1e-9), height / max(hi[1] - lo[1], 1e-9))
        target = np.array([box.left + left + width / 2, box.bottom + bottom + height / 2])
        shift = target - zoom * (lo + hi) / 2
        return zoom, np.array([shift[0], shift[1], 0.0])

    def _fit_labelled(
        self, box, margins: tuple[float, float, float, float], axes: str
    ) -> tuple[float, np.ndarray, tuple[float, float, float, float]]:
        """:meth:`_fit` with margins that are what the view's labels take: the plot is fitted,
        its labels placed, and the plot fitted again leaving room for them (twice: a label the
        surface pushed out moves a little with the zoom), the panel's title above all.

        Returns the zoom, the screen shift and the margins (left, right, bottom, top) used."""
        orientation = self._camera_state()[:3]
        title = self._title("loss surface L(w, b)").height + 0.05  # the title's row, at the box's top
        for _ in range(2):
            zoom, shift = self._fit(box, margins)
            self._set_camera((*orientation, zoom, shift))
            labels = self.surface.labels_for(self.camera.project_points, axes)
            seen = self.camera.project_points(self._plot_points())[:, :2]
            lo, hi = seen.min(axis=0), seen.max(axis=0)
            if len(labels.submobjects):
                lo_all = np.minimum(lo, np.min([m.get_corner(DL)[:2] for m in labels], axis=0))
                hi_all = np.maximum(hi, np.max([m.get_corner(UR)[:2] for m in labels], axis=0))
            else:
                lo_all, hi_all = lo, hi
            pad = self.MARGIN_PAD
            margins = (
                lo[0] - lo_all[0] + pad,
                hi_all[0] - hi[0] + pad,
                lo[1] - lo_all[1] + pad,
                hi_all[1] - hi[1] + pad + title,
            )
        zoom, shift = self._fit(box, margins)
        return zoom, shift, margins

    def _frame_views(self, box) -> None:
        """Frame the descent's view and the closing map so that each fills the right half.

        The descent's camera is zoomed and its picture centred so the surface's box fills
        the panel (less room for its labels); the map is seen from straight above and far
        away (the perspective flattens: it reads as the contour map, at the panel's size).
        The closing move slides from one framing to the other (``self.slide``: 0 to 1).
        """
        cam = self.camera
        descent = self._camera_state()
        zoom, shift, self.descent_margins = self._fit_labelled(box, self.DESCENT_MARGINS, "wbz")
        self.descent_view = (descent[0], descent[1], descent[2], zoom, shift)
        self._set_camera((0.0, -90 * DEGREES, self.MAP_FOCAL_DISTANCE, 1.0, np.zeros(3)))
        zoom, shift, self.map_margins = self._fit_labelled(box, self.MAP_MARGINS, "wb")
        self.map_view = (0.0, -90 * DEGREES, self.MAP_FOCAL_DISTANCE, zoom, shift)
        self._set_camera(self.descent_view)
        self.slide = ValueTracker(0.0)  # 0: the descent's framing, 1: the map's
        start, end = self.descent_view[4], self.map_view[4]
        self.slide.add_updater(lambda m: setattr(cam, "screen_shift", start + m.get_value() * (end - start)))

    def _map_labels(self) -> VGroup:
        """Tick values and axis names for the map (w along the bottom, b on the left), and its title."""
        now = self._camera_state()
        self._set_camera(self.map_view)
        out = self.surface.labels_for(self.camera.project_points, axes="wb")
        self._set_camera(now)
        out.add(self._title("the loss surface from above: its contour map"))
        return out

    def step_layer(self) -> tuple[int, list[Mobject], Mobject]:
        return self.driver.layer()

    def _axis_labels(self) -> VGroup:
        """Axis names and ticks: flat text at the projected 3-D positions, for the descent's camera."""
        self._rotation()
        out = self.surface.labels_for(self.camera.project_points)
        out.add(self._title("loss surface L(w, b)"))
        return out

    def _title(self, text: str) -> Mobject:
        """The 3-D panel's title, at its top left."""
        th = self.ctx.theme
        title = label(text, th, th.sizes.panel_title, th.muted)
        box = fit_layout()["contour"]
        return title.move_to([box.left + 0.2, box.top - 0.05, 0], aligned_edge=LEFT + UP)

    @staticmethod
    def label_opacities(a: float) -> tuple[float, float]:
        """The opacity of the descent's labels and of the map's, ``a`` of the way through the closing move
        (the camera's own progress is Manim's ``smooth(a)``): each shown only while the surface, as the
        camera then draws it, stays clear of it (``tests/test_layout.py`` samples the move)."""
        return 1.0 - min(1.0, 4 * a), max(0.0, (a - 0.8) / 0.2)

    @classmethod
    def descent_start(cls) -> float:
        return max(cls.establish_seconds, cls.intro_seconds)

    @classmethod
    def closing_length(cls) -> float:
        return cls.closing_seconds + 1.0 if cls.closing_top_view else 0.0

    @classmethod
    def planned_seconds(cls, traces: Trace | Sequence[Trace]) -> float:
        return super().planned_seconds(traces) + cls.closing_length()

    @classmethod
    def planned_frames(cls, traces: Trace | Sequence[Trace], fps: float) -> int:
        """Three play()s: the establishing move, descent + hold, the closing move."""
        n = play_frames(cls.descent_start(), fps) + play_frames(cls.descent_length(traces) + cls.hold_seconds, fps)
        return n + (play_frames(cls.closing_length(), fps) if cls.closing_top_view else 0)

    def get_moving_mobjects(self, *animations: Any) -> list[Mobject]:
        """While the camera moves Manim redraws every mobject on every frame; the flat panels'
        static parts (fixed in the frame, never animated) go into the static image instead,
        painted once per play(). They lie beside the 3-D plot, never under it."""
        moving = super().get_moving_mobjects(*animations)
        flat = getattr(self, "flat_static_ids", None)
        if flat and moving is self.mobjects:
            return [m for m in moving if id(m) not in flat]
        return moving

    def frame_key(self) -> tuple:
        cam = self.camera
        return (
            super().frame_key(),
            cam.get_phi(),
            cam.get_theta(),
            cam.get_zoom(),
            cam.get_focal_distance(),
            tuple(cam.screen_shift[:2]),
        )

    def construct(self) -> None:
        th = THEMES[self.theme]
        flat_static = [p.static for p in self.flat]
        self.flat_static_ids = {id(s) for s in flat_static}
        flat_dynamic = [p.stepwise for p in self.flat] + [p.dynamic for p in self.flat]
        self.add_fixed_in_frame_mobjects(*flat_static, *flat_dynamic)
        labels = self._axis_labels()
        self.static_roots = {id(s) for s in flat_static} | {id(self.surface.static)}

        # Beat 1: the establishing move; the panels appear while the camera settles.
        target_phi, target_theta = self.camera.get_phi(), self.camera.get_theta()
        self.set_camera_orientation(phi=76 * DEGREES, theta=target_theta - 50 * DEGREES)
        veils = [
            Rectangle(
                width=s.width + 0.3, height=s.height + 0.3, fill_color=th.background, fill_opacity=1, stroke_width=0
            ).move_to(s.get_center())
            for s in flat_static
            if len(s.submobjects)
        ]
        self.veils = veils
        self.add_fixed_in_frame_mobjects(*veils)
        self.add(self.surface.static, *flat_static, self.driver.group, *veils)
        intro = self.descent_start()
        self.play(
            self.camera.phi_tracker.animate.set_value(target_phi),
            self.camera.theta_tracker.animate.set_value(target_theta),
            LaggedStart(*[FadeOut(v) for v in veils], lag_ratio=0.3),
            run_time=intro,
        )
        # the camera's trackers joined the scene with the move; while they are in it,
        # Manim treats every mobject as moving (and repaints every face each frame)
        self.remove(*veils, *self.camera.get_value_trackers())
        self.veils = []
        # axis labels are flat text placed for the descent's (fixed) camera
        self.add_fixed_in_frame_mobjects(labels)
        self.add(labels)
        self.bring_to_back(labels)  # before the moving parts, so it is painted once
        self.static_roots.add(id(labels))

        # Beat 2: the descent, camera fixed, one play() on one tracker; then a hold.
        self.driver.push(0.0)
        self.driver.attach(self.tracker)
        descent = self.descent_length(self.ctx.trace)
        beats = [self.tracker.animate(run_time=descent, rate_func=lambda a: a).set_value(self.ctx.clock.t_max)]
        if self.hold_seconds > 0:
            beats.append(Wait(run_time=self.hold_seconds))
        self.play(Succession(*beats))
        self.driver.group.clear_updaters()

        # Beat 3 (optional): look straight down; the surface becomes the contour map.
        if self.closing_top_view:
            # far away, zoomed and slid into the panel: the perspective flattens into the map
            phi, theta, focal, zoom, _ = self.map_view
            cam = self.camera
            map_labels = self._map_labels()
            map_labels.set_opacity(0)
            lifted = self.surface.lifted
            self.add_fixed_in_frame_mobjects(map_labels)
            self.add(lifted, map_labels, self.slide)
            # the markers and the point are discs facing the camera: redrawn as it turns
            final = self.driver.states_at(self.tracker.get_value())
            sp = self.surface
            # the labels trade places by their opacity alone, set once a frame while it changes
            # (an animation of each would interpolate every glyph's points on every frame)
            fade = ValueTracker(0.0)
            late = lambda a: max(0.0, (a - 0.6) / 0.4)  # noqa: E731  (once the surface lies nearly flat)
            shown: dict[str, float] = {}

            def opacity(key: str, mob: Mobject, value: float, stroke: bool = False) -> None:
                if shown.get(key) != value:
                    shown[key] = value
                    mob.set_stroke(opacity=value) if stroke else mob.set_opacity(value)

            def closing_frame(_m: Mobject) -> None:
                sp.show_step(final)
                sp.show(final)
                a = fade.get_value()
                # the flat labels were placed for the descent's view: they fade as it turns, and the
                # map's take their place, with the contour lines on the surface
                descent_opacity, map_opacity = self.label_opacities(a)
                opacity("labels", labels, descent_opacity)
                opacity("map", map_labels, map_opacity)
                opacity("lifted", lifted, 0.75 * late(a), stroke=True)

            self.driver.group.add_updater(closing_frame)
            self.play(
                Succession(
                    AnimationGroup(
                        cam.phi_tracker.animate.set_value(phi),
                        cam.theta_tracker.animate.set_value(theta),
                        cam.focal_distance_tracker.animate.set_value(focal),
                        cam.zoom_tracker.animate.set_value(zoom),
                        self.slide.animate.set_value(1.0),
                        fade.animate(rate_func=lambda a: a).set_value(1.0),
                        run_time=self.closing_seconds,
                    ),
                    Wait(run_time=self.closing_length() - self.closing_seconds),
                )
            )
            self.driver.group.clear_updaters()
            self.remove(labels, self.slide)
