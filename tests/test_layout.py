"""What a student sees, checked on the built scenes: drawing order, overlaps, axis labels.

Scenes are built (not rendered) and set to several moments; every text and legend box is
read from the mobjects.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from manim import DL, UR, Mobject, RoundedRectangle, Text, VGroup, smooth

from descent.scenes.compare import CompareScene
from descent.scenes.fit import FitScene
from descent.scenes.panels import ContourPanel, DataPanel, Panel
from descent.scenes.panels.contour import LABEL_BUFFS
from descent.scenes.panels.gradient import GradientArrow
from descent.trainer import Config, train

from .conftest import build_scene


def draw_index(group) -> dict[int, int]:
    """Each mobject's place in the order Manim draws ``group`` (its family, depth first)."""
    return {id(m): i for i, m in enumerate(group.get_family())}


# -- drawing order --------------------------------------------------------------------------------------
@pytest.mark.parametrize("lrs", [(0.1,), (0.1, 0.2), (0.05, 0.1, 0.2, 0.3, 0.33, 0.34)])
def test_points_are_drawn_over_every_fitted_line_and_heads_over_every_path(lrs):
    traces = [train(Config(lr=lr, steps=30)) for lr in lrs]
    if len(traces) == 1:
        scene, group = build_scene(FitScene, traces[0])
    else:
        scene, group = build_scene(CompareScene, None, traces=traces)
    # the static panels are drawn first, the driver's group over them: its order decides the rest
    order = draw_index(group)
    data, contour, loss = scene.data, scene.contour, scene.loss
    assert not any(id(m) in {id(f) for f in data.static.get_family()} for m in data.point_layer.get_family())
    points = order[id(data.point_layer)]
    assert all(order[id(line)] < points for line in data.lines)
    # the current point of every run over the path of every run, in parameter space and on the loss curve
    for heads, paths in ((contour.heads, [*contour.paths, *contour.live]), (loss.heads, [*loss.curves, *loss.live])):
        assert min(order[id(h)] for h in heads) > max(order[id(p)] for p in paths)
    # the layer shows every drawn point, where the data are
    assert len(data.point_layer.points) // len(data.dots[0].points) == len(data.shown)
    assert np.allclose(data.point_layer.get_center(), data.dots.get_center(), atol=1e-6)


def test_at_lr_0_2_the_line_ends_under_the_points():
    """The compare clip's second run ends on the data: every point stays drawn over it."""
    traces = [train(Config(lr=lr)) for lr in (0.1, 0.2)]
    scene, group = build_scene(CompareScene, None, traces=traces)
    scene.tracker.set_value(scene.ctx.clock.t_max)
    group.update(0)
    order = draw_index(group)
    line = scene.data.lines[1]
    assert line.get_stroke_opacity() == 1
    assert order[id(scene.data.point_layer)] > order[id(line)]


# -- overlaps ------------------------------------------------------------------------------------------
EPS = 0.02  # scene units (a pixel at 1080p is 0.0074): boxes closer than this to overlapping count as apart


def bbox(mob) -> tuple[np.ndarray, np.ndarray]:
    return mob.get_corner(DL)[:2], mob.get_corner(UR)[:2]


def overlap(a, b, eps: float = EPS) -> bool:
    (alo, ahi), (blo, bhi) = a, b
    return bool(np.all(np.minimum(ahi, bhi) - np.maximum(alo, blo) > eps))


def visible(mob) -> bool:
    return len(mob.get_family()) > 0 and any(
        len(m.points) and (m.get_fill_opacity() > 0.05 or m.get_stroke_opacity() > 0.05) for m in mob.get_family()
    )


def text_boxes(root_groups, extra=()) -> list[tuple[str, tuple]]:
    """Every visible text or legend box under ``root_groups``: a boxed label or a legend counts as one box."""
    items, taken = [], set()
    families = [m for g in root_groups for m in g.get_family()]
    for m in families:
        if id(m) in taken or not isinstance(m, VGroup) or not len(m.submobjects):
            continue
        if isinstance(m.submobjects[0], RoundedRectangle) and m.submobjects[0].get_fill_opacity() > 0.05:
            items.append((_name(m), bbox(m)))
            taken.update(id(f) for f in m.get_family())
    for name, m in extra:
        if visible(m) and id(m) not in taken:
            items.append((name, bbox(m)))
            taken.update(id(f) for f in m.get_family())
    for m in families:
        if isinstance(m, Text) and id(m) not in taken and visible(m):
            items.append((m.original_text, bbox(m)))
            taken.update(id(f) for f in m.get_family())
    return items


def _name(group) -> str:
    words = [m.original_text for m in group.get_family() if isinstance(m, Text)]
    return " / ".join(words)[:60] or type(group).__name__


def panel_extras(panels) -> list[tuple[str, object]]:
    """Texts made of glyphs (numbers, the header's values) and the data legend, by name."""
    out = []
    for p in panels:
        for t in getattr(p, "ticks", ()):
            out.append(("tick", t))
        if isinstance(p, DataPanel):
            out.append(("data legend", p.legend))
        vals = getattr(p, "_values", None)
        if vals is not None:
            out += [(f"header value {i}", v) for i, v in enumerate(vals) if len(v.points)]
    return out


def current_points(panels) -> list[np.ndarray]:
    out = []
    for p in panels:
        for h in getattr(p, "heads", ()):
            if isinstance(h, Mobject) and h.get_fill_opacity() > 0 and len(h.points):
                out.append(h.get_center()[:2])
    return out


def check_frame(label: str, panels, roots) -> list[str]:
    items = text_boxes(roots, panel_extras(panels))
    problems = []
    for (na, a), (nb, b) in itertools.combinations(items, 2):
        if overlap(a, b):
            problems.append(f"{label}: {na!r} overlaps {nb!r}")
    for c in current_points(panels):
        for n, (lo, hi) in items:
            if np.all(c >= lo - 0.06) and np.all(c <= hi + 0.06):
                problems.append(f"{label}: {n!r} covers the current point at {np.round(c, 2)}")
    return problems


def sampled(scene, group, fractions=(0.0, 0.25, 0.5, 0.75, 1.0)):
    for f in fractions:
        t = f * scene.ctx.clock.t_max
        scene.tracker.set_value(t)
        group.update(0)
        yield f


def scene_cases():
    lab = train(Config())
    yield "fit lab", FitScene, {"trace": lab}
    yield "fit lr 0.2", FitScene, {"trace": train(Config(lr=0.2))}
    yield "fit diverging", FitScene, {"trace": train(Config(lr=0.5, steps=30))}
    yield "compare 2", CompareScene, {"traces": [train(Config(lr=lr)) for lr in (0.1, 0.2)]}
    six = [train(Config(lr=lr, steps=40)) for lr in (0.05, 0.1, 0.2, 0.3, 0.33, 0.34)]
    yield "compare 6", CompareScene, {"traces": six}


CASES = {name: (cls, kw) for name, cls, kw in scene_cases()}


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("case", list(CASES))
def test_no_text_overlaps_another_or_covers_the_current_point(case, theme):
    cls, kw = CASES[case]
    kw = dict(kw)
    scene, group = build_scene(cls, kw.pop("trace", None), theme=theme, **kw)
    roots = [g for p in scene.panels for g in (p.static, p.stepwise, p.dynamic)]
    problems = []
    for f in sampled(scene, group):
        problems += check_frame(f"{case} {theme} at {f:.0%}", scene.panels, roots)
    assert not problems, "\n".join(dict.fromkeys(problems))


def drawn_states(panel) -> np.ndarray:
    """Screen points of the states every run has passed, as drawn on the map (its markers)."""
    pts = [m.points.reshape(-1, 4, 3)[:, 0, :2] for m in getattr(panel, "markers", ()) if len(m.points)]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


@pytest.mark.parametrize("case", ["fit lab", "fit lr 0.2", "compare 2", "compare 6"])
def test_legends_and_the_minimum_label_leave_the_paths_in_sight(case):
    cls, kw = CASES[case]
    kw = dict(kw)
    scene, group = build_scene(cls, kw.pop("trace", None), **kw)
    covers = [("minimum label", scene.contour.opt_label)]
    if hasattr(scene, "legend"):
        covers.append(("legend", scene.legend.static[0]))
    for f in sampled(scene, group, (1.0,)):
        states = drawn_states(scene.contour)
        assert len(states)
        for name, mob in covers:
            lo, hi = bbox(mob)
            inside = np.all((states >= lo) & (states <= hi), axis=1)
            # the paths all end at the minimum: only states clear of its marker count
            far = np.linalg.norm(states - scene.contour.star.get_center()[:2], axis=1) > 0.3
            assert not np.any(inside & far), f"{case} at {f:.0%}: the {name} covers {int(np.sum(inside & far))} states"


@pytest.mark.parametrize("case", list(CASES))
def test_the_minimum_label_sits_by_its_marker(case):
    """Near enough to read as the marker's own (a 6-run map once pushed it 1.3 units away)."""
    cls, kw = CASES[case]
    kw = dict(kw)
    scene, group = build_scene(cls, kw.pop("trace", None), **kw)
    for f in sampled(scene, group, (0.0, 1.0)):
        away = gap(bbox(scene.contour.opt_label), bbox(scene.contour.star))
        assert away <= LABEL_BUFFS[-1] + 0.05, f"{case} at {f:.0%}: the minimum label is {away:.2f} from its marker"


# -- axis labels ---------------------------------------------------------------------------------------
def frame_of(panel) -> tuple[np.ndarray, np.ndarray]:
    ax = panel.axes
    lo = np.array(ax.c2p(ax.x_range[0], ax.y_range[0]))[:2]
    hi = np.array(ax.c2p(ax.x_range[1], ax.y_range[1]))[:2]
    return lo, hi


def gap(a, b) -> float:
    """The distance between two boxes (0 when they touch or overlap)."""
    (alo, ahi), (blo, bhi) = a, b
    d = np.maximum(np.maximum(blo - ahi, alo - bhi), 0.0)
    return float(np.linalg.norm(d))


def axis_label_problems(panels) -> list[str]:
    problems = []
    framed = [p for p in panels if isinstance(p, (DataPanel, ContourPanel))]
    frames = {id(p): frame_of(p) for p in panels if hasattr(p, "axes")}
    for p in framed:
        (x0, y0), (x1, y1) = lo, hi = frames[id(p)]
        xl, yl = p.axis_labels
        (a, b) = bbox(xl)
        # the horizontal axis' name: under its own axis, within its length, just below the tick labels
        if not (a[0] >= x0 - 0.05 and b[0] <= x1 + 0.05 and b[1] <= y0 and b[1] >= y0 - 0.8):
            problems.append(f"{type(p).__name__}: {xl.original_text!r} is not under its axis ({a}, {b} vs {lo}, {hi})")
        (c, d) = bbox(yl)
        beside = d[0] <= x0 and d[0] >= x0 - 0.9 and y0 <= (c[1] + d[1]) / 2 <= y1
        above = y1 - 0.05 <= c[1] <= y1 + 0.6 and c[0] <= x0 + 0.3 and d[0] >= x0 - 0.9
        if not (beside or above):
            problems.append(f"{type(p).__name__}: {yl.original_text!r} is not at its axis ({c}, {d} vs {lo}, {hi})")
        # and its own axes are the nearest
        for lab in (xl, yl):
            own = gap(bbox(lab), frames[id(p)])
            for q in panels:
                if q is not p and id(q) in frames and gap(bbox(lab), frames[id(q)]) <= own + 0.3:
                    problems.append(f"{lab.original_text!r} of {type(p).__name__} is as near {type(q).__name__}")
    return problems


@pytest.mark.parametrize("case", ["fit lab", "fit diverging", "compare 6"])
def test_every_axis_label_sits_by_its_own_axis(case):
    cls, kw = CASES[case]
    kw = dict(kw)
    scene, _ = build_scene(cls, kw.pop("trace", None), **kw)
    problems = axis_label_problems(scene.panels)
    assert not problems, "\n".join(problems)


# -- the header ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["fit lab", "fit lr 0.2", "fit diverging"])
def test_the_headers_live_values_are_evenly_spaced(case):
    cls, kw = CASES[case]
    kw = dict(kw)
    scene, group = build_scene(cls, kw.pop("trace", None), **kw)
    header = scene.header
    for f in sampled(scene, group):
        spans = header.value_spans()
        gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)]
        assert min(gaps) >= 0.25, (f, gaps)
        assert max(gaps) - min(gaps) <= 0.12, f"{case} at {f:.0%}: gaps {np.round(gaps, 2)}"


# -- the other scenes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", ["dark", "light"])
def test_surface_scene_flat_panels_keep_apart(theme):
    """The surface scene's flat panels (header, data, loss, banner); the 3-D panel's labels are projected."""
    from descent.scenes.surface import SurfaceScene

    scene, group = build_scene(SurfaceScene, train(Config()), theme=theme)
    roots = [g for p in scene.flat for g in (p.static, p.stepwise, p.dynamic)]
    problems = []
    for f in sampled(scene, group):
        problems += check_frame(f"surface {theme} at {f:.0%}", scene.flat, roots)
    problems += axis_label_problems(scene.flat)
    assert not problems, "\n".join(dict.fromkeys(problems))


ARROW_CLEARANCE = 0.25  # scene units: about the arrow head's width; its outlined shaft nearer than this touches


def arrow_problems(label: str, panels, roots) -> list[str]:
    """The gradient arrow (shaft and head) keeps clear of every text and label box; its level curve
    passes under none of them (it is drawn over them)."""
    items = text_boxes(roots, panel_extras(panels))
    problems = []
    for p in panels:
        if not isinstance(p, GradientArrow) or not visible(p.dynamic):
            continue
        pts = np.concatenate([m.points[:, :2] for m in (p.shaft, p.tip) if len(m.points)] or [np.zeros((0, 2))])
        # along the shaft, not only its ends
        ends = p.shaft.points[[0, -1], :2] if len(p.shaft.points) else np.zeros((0, 2))
        if len(ends) == 2:
            pts = np.concatenate([pts, ends[0] + np.linspace(0, 1, 20)[:, None] * (ends[1] - ends[0])])
        level = p.level.points[:, :2]
        for n, (lo, hi) in items:
            near = np.linalg.norm(np.maximum(np.maximum(lo - pts, pts - hi), 0.0), axis=1)
            if len(near) and near.min() < ARROW_CLEARANCE:
                problems.append(f"{label}: the gradient arrow comes {near.min():.2f} from {n!r}")
            if np.any(np.all((level > lo + EPS) & (level < hi - EPS), axis=1)):
                problems.append(f"{label}: the gradient's level curve runs through {n!r}")
    return problems


@pytest.fixture(scope="module")
def lesson_runs():
    from descent.lesson import lesson_runs

    return lesson_runs()


@pytest.mark.parametrize("chapter", ["data", "model", "training", "rates", "summary"])
def test_lesson_chapters_keep_their_texts_apart_at_every_beat(chapter, lesson_runs):
    """Each chapter played without frames (Manim skips the animations); checked at the end of every beat.
    (The surface chapter's labels live in 3-D and are not checked here.)"""
    from descent.scenes.lesson import CHAPTER_SCENES

    problems: list[str] = []
    base = CHAPTER_SCENES[chapter]

    def beat(self, line, *animations, **kw):
        base.beat(self, line, *animations, **kw)
        panels = [m for m in vars(self).values() if isinstance(m, Panel)]
        for v in vars(self).values():
            if isinstance(v, list):
                panels += [m for m in v if isinstance(m, Panel)]
        shown = {id(m) for m in self.get_mobject_family_members()}
        on_screen = [p for p in panels if id(p.static) in shown or id(p.dynamic) in shown]
        problems.extend(check_frame(f"{chapter} after {line.id}", on_screen, self.mobjects))
        problems.extend(axis_label_problems(on_screen))
        problems.extend(arrow_problems(f"{chapter} after {line.id}", on_screen, self.mobjects))
        for p in on_screen:
            if isinstance(p, ContourPanel) and gap(bbox(p.opt_label), bbox(p.star)) > LABEL_BUFFS[-1] + 0.05:
                problems.append(f"{chapter} after {line.id}: the minimum label is far from its marker")

    cls = type("Probe", (base,), {"runs": lesson_runs, "beat": beat})
    scene = cls()
    scene.renderer.skip_animations = True
    scene.renderer._original_skipping_status = True
    scene.setup()
    scene.construct()
    assert not problems, "\n".join(dict.fromkeys(problems))


def test_lesson_gradient_arrow_never_runs_into_a_label(lesson_runs):
    """Chapter 4 moves the arrow with the point for its first steps: in every frame of them (not only at the
    beats' ends) the arrow stays off every text and label box of the map."""
    from descent.scenes.lesson import CHAPTER_SCENES
    from descent.scenes.script import early_step

    scene = type("Probe", (CHAPTER_SCENES["training"],), {"runs": lesson_runs})()
    scene.setup()
    roots = [g for p in scene.panels for g in (p.static, p.stepwise, p.dynamic)]
    last = scene.t_of(scene.ctx.clock, early_step(lesson_runs.main))
    problems, shown = [], 0
    for t in np.linspace(0.0, last, 61):
        scene.driver.push(float(t))
        shown += scene.arrow.visible
        problems += arrow_problems(f"training at t={t:.2f}", scene.panels, roots)
    assert shown > 30
    assert not problems, "\n".join(dict.fromkeys(problems))


@pytest.mark.parametrize("chapter", ["model", "summary"])
def test_lesson_points_are_drawn_over_its_own_fitted_line(chapter, lesson_runs):
    """The chapters that draw their own line (not a data panel's) put the points over it too."""
    from descent.scenes.lesson import CHAPTER_SCENES

    scene = type("Probe", (CHAPTER_SCENES[chapter],), {"runs": lesson_runs})()
    scene.renderer.skip_animations = True
    scene.renderer._original_skipping_status = True
    scene.setup()
    scene.construct()
    order = {id(m): i for i, m in enumerate(scene.get_mobject_family_members())}
    assert id(scene.fit) in order and id(scene.data.dots) in order
    assert order[id(scene.data.dots)] > order[id(scene.fit)]


# -- the 3-D surface's labels ----------------------------------------------------------------------------
#: Room every label of the 3-D plot keeps from the surface (scene units: 4 pixels at 480p, 8 at 1080p).
SURFACE_ROOM = 0.06


def projected_faces(panel, camera) -> np.ndarray:
    """The surface's faces as the camera draws them: screen quadrilaterals, shape (faces, 4, 2)."""
    corners = np.concatenate([f.points[0:16:4] for f in panel.surface.submobjects])
    return camera.project_points(corners.copy())[:, :2].reshape(-1, 4, 2)


def covered(points: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Which ``points`` (n, 2) lie inside any of ``quads`` (m, 4, 2) (even-odd rule, any winding)."""
    inside = np.zeros((len(points), len(quads)), dtype=bool)
    x, y = points[:, 0, None], points[:, 1, None]
    for i in range(4):
        (x0, y0), (x1, y1) = quads[:, i].T, quads[:, (i + 1) % 4].T
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside.any(axis=1)


def touching_surface(mob, quads: np.ndarray, room: float = SURFACE_ROOM) -> bool:
    """Whether ``mob``'s box, grown by ``room``, reaches any face (sampled every 0.01 unit)."""
    lo, hi = bbox(mob)
    lo, hi = lo - room, hi + room
    near = quads[(quads[..., 0].max(1) >= lo[0]) & (quads[..., 0].min(1) <= hi[0])]
    near = near[(near[..., 1].max(1) >= lo[1]) & (near[..., 1].min(1) <= hi[1])]
    if not len(near):
        return False
    xs = np.linspace(lo[0], hi[0], max(2, int((hi[0] - lo[0]) / 0.01) + 1))
    ys = np.linspace(lo[1], hi[1], max(2, int((hi[1] - lo[1]) / 0.01) + 1))
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return bool(covered(grid, near).any())


def plot_outline(panel, camera) -> np.ndarray:
    """Points along the floor's box and the height axis, as the camera draws them (what the labels name)."""
    w0, w1 = panel.w_range
    b0, b1 = panel.b_range
    corners = [(w0, b0, 0), (w1, b0, 0), (w1, b1, 0), (w0, b1, 0), (w0, b0, 0)]
    s = np.linspace(0, 1, 50)[:, None]
    pts = [np.array(p) + s * (np.array(q) - np.array(p)) for p, q in itertools.pairwise(corners)]
    pts.append(np.array([w0, b1, 0]) + s * np.array([0, 0, panel.z_max]))
    xyz = np.concatenate(pts)
    return camera.project_points(np.array([panel.point3(*p) for p in xyz]))[:, :2]


def surface_label_problems(name: str, labels, panel, camera) -> list[str]:
    """Every label of the plot keeps ``SURFACE_ROOM`` from the surface, stays by the plot's box (the floor's
    edges and the height axis it names: within 0.9 unit) and off the other labels."""
    quads, outline = projected_faces(panel, camera), plot_outline(panel, camera)
    problems = []
    for mob in labels:
        text = _texts_of(mob)
        if touching_surface(mob, quads):
            problems.append(f"{name}: {text!r} touches the surface")
        lo, hi = bbox(mob)
        away = np.linalg.norm(np.maximum(np.maximum(lo - outline, outline - hi), 0.0), axis=1).min()
        if away > 0.9:
            problems.append(f"{name}: {text!r} is {away:.2f} from the plot it labels")
    for a, b in itertools.combinations(labels, 2):
        if overlap(bbox(a), bbox(b), eps=0.0):
            problems.append(f"{name}: {_texts_of(a)!r} overlaps {_texts_of(b)!r}")
    return problems


def _texts_of(mob) -> str:
    words = [m.original_text for m in mob.get_family() if isinstance(m, Text)]
    return " ".join(words) or f"label at {np.round(mob.get_center()[:2], 2)}"


def plot_labels(group) -> list:
    """The plot's own labels in a scene's label group: all but the panel title (the widest text, top left)."""
    title = max(group.submobjects, key=lambda m: m.width)
    return [m for m in group.submobjects if m is not title]


def between(start, end, a: float) -> tuple:
    """A camera state ``a`` of the way from ``start`` to ``end`` as an animation of its trackers moves it (at
    Manim's default rate, smooth): (phi, theta, focal distance, zoom, screen shift)."""
    k = smooth(a)
    return (*(s + k * (e - s) for s, e in zip(start[:4], end[:4], strict=True)), start[4] + k * (end[4] - start[4]))


#: Moments of a closing move at which the labels are checked (fractions of it).
MOVE = np.linspace(0.0, 1.0, 21)


SURFACE_CASES = {"lab": Config(), "lr 0.5": Config(lr=0.5, steps=30)}


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_surface_labels_keep_clear_of_the_surface(theme):
    """The tick values and axis names of the 3-D plot, in the descent's view and on the closing map
    (the b ticks once sat on the surface's raised rim)."""
    from descent.scenes.surface import SurfaceScene

    problems = []
    for case, config in SURFACE_CASES.items():
        scene, _ = build_scene(SurfaceScene, train(config), theme=theme)
        scene._set_camera(scene.descent_view)
        labels, map_labels = plot_labels(scene._axis_labels()), plot_labels(scene._map_labels())
        problems += surface_label_problems(f"{case} {theme} descent", labels, scene.surface, scene.camera)
        scene._set_camera(scene.map_view)
        problems += surface_label_problems(f"{case} {theme} map", map_labels, scene.surface, scene.camera)
    assert not problems, "\n".join(dict.fromkeys(problems))


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_surface_labels_keep_clear_while_the_camera_turns(theme):
    """All through the closing move, the labels shown (the descent's fading out, the map's fading in) keep
    clear of the surface as the camera then draws it."""
    from descent.scenes.surface import SurfaceScene

    problems = []
    for case, config in SURFACE_CASES.items():
        scene, _ = build_scene(SurfaceScene, train(config), theme=theme)
        scene._set_camera(scene.descent_view)
        labels, map_labels = plot_labels(scene._axis_labels()), plot_labels(scene._map_labels())
        for a in MOVE:
            shown, map_shown = scene.label_opacities(a)
            scene._set_camera(between(scene.descent_view, scene.map_view, a))
            for name, group, opacity in (("descent", labels, shown), ("map", map_labels, map_shown)):
                if opacity > 0:
                    where = f"{case} {theme}: the {name}'s labels at {a:.0%} of the closing move"
                    problems += surface_label_problems(where, group, scene.surface, scene.camera)
    assert not problems, "\n".join(dict.fromkeys(problems))


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_lesson_surface_labels_keep_clear_of_the_surface(theme, lesson_runs):
    """Chapter 3's labels, for its camera and while they fade out as it turns down to the map."""
    from descent.scenes.lesson import CHAPTER_SCENES

    scene = type("Probe", (CHAPTER_SCENES["surface"],), {"runs": lesson_runs, "theme": theme})()
    scene.setup()
    cam = scene.camera
    opening = (cam.get_phi(), cam.get_theta(), cam.get_focal_distance(), cam.get_zoom(), scene.opening_shift)
    above = (0.0, -np.pi / 2, 400.0, scene.map_zoom, scene.map_shift)  # where beat_map takes the camera
    labels = list(scene.axis_labels)
    problems = []
    for a in MOVE[MOVE < 0.25]:  # the labels fade out in the move's first quarter
        phi, theta, focal, zoom, shift = between(opening, above, a)
        trackers = (cam.phi_tracker, cam.theta_tracker, cam.focal_distance_tracker, cam.zoom_tracker)
        for tracker, value in zip(trackers, (phi, theta, focal, zoom), strict=True):
            tracker.set_value(value)
        cam.screen_shift = shift
        cam.reset_rotation_matrix()
        problems += surface_label_problems(f"lesson {theme} at {a:.0%} of the turn", labels, scene.surface, cam)
    assert not problems, "\n".join(dict.fromkeys(problems))
