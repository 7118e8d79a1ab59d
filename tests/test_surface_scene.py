"""SurfaceScene: the path lies on the surface, panels agree, it renders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from descent.outputs.clip import render
from descent.scenes.surface import SurfaceScene
from descent.trainer import Config, loss_at, train

from .conftest import build_scene, update_snapshots
from .test_render import CONTROL, frames_match, probe


def build(trace, **params):
    return build_scene(SurfaceScene, trace, **params)


@pytest.fixture(scope="module")
def lab():
    trace = train(Config())
    return (trace, *build(trace))


def test_path_points_lie_on_the_surface(lab):
    trace, scene, group = lab
    scene.tracker.set_value(scene.ctx.clock.t_max)
    group.update(0)
    ax = scene.surface.axes
    anchors = scene.surface.path.points[::4]  # the corner at each state
    assert len(anchors) == trace.last_k
    for k, p in enumerate(anchors):
        w, b, z = ax.p2c(p)
        assert (w, b) == pytest.approx((trace.w[k], trace.b[k]), abs=1e-9)
        assert z == pytest.approx(float(loss_at(trace.moments, w, b)), abs=1e-9)
        assert z == pytest.approx(trace.loss[k], abs=1e-9)


def test_surface_is_the_trainers_loss(lab):
    trace, scene, _ = lab
    ax = scene.surface.axes
    faces = scene.surface.surface.submobjects
    assert 16 * 16 <= len(faces) <= 32 * 32
    for face in faces[:: max(1, len(faces) // 40)]:
        for p in face.points[::4]:  # the corners (anchors) of each face
            w, b, z = ax.p2c(p)
            assert z == pytest.approx(float(loss_at(trace.moments, w, b)), abs=1e-9)
    # not the mirrored bowl of the classic lab's helper: the lowest face is at the optimum
    lowest = min(faces, key=lambda f: f.get_center()[2])
    w, b, _ = ax.p2c(lowest.get_center())
    w_opt, b_opt, _ = trace.optimum
    win = trace.window
    assert abs(w - w_opt) < (win.w[1] - win.w[0]) / 16 and abs(b - b_opt) < (win.b[1] - win.b[0]) / 16


def test_data_panel_and_3d_point_agree(lab):
    trace, scene, group = lab
    ax3 = scene.surface.axes
    for t in np.linspace(0, scene.ctx.clock.t_max, 41):
        scene.tracker.set_value(float(t))
        group.update(0)
        st = scene.ctx.clock.at(float(t))
        head = scene.surface.head.points
        centre = head.mean(axis=0)  # the camera-facing disc's centre
        w, b, z = ax3.p2c(centre)
        assert (w, b) == pytest.approx((st.w, st.b), abs=1e-6)
        x0, y0 = scene.data.axes.p2c(scene.data.lines[0].get_start())[:2]
        x1, y1 = scene.data.axes.p2c(scene.data.lines[0].get_end())[:2]
        assert (y1 - y0) / (x1 - x0) == pytest.approx(st.w, rel=1e-6, abs=1e-6)
        assert scene.header.shown_texts[0] == f"step {st.k_shown} of {trace.config.steps}"


def test_diverging_path_stays_in_the_box():
    trace = train(Config(lr=0.5, steps=30))
    scene, group = build(trace)
    scene.tracker.set_value(scene.ctx.clock.t_max)
    group.update(0)
    sp = scene.surface
    pts = np.array([sp.axes.p2c(p) for p in sp.path.points])
    assert len(pts) and np.all(np.isfinite(pts))
    assert np.all(pts[:, 2] <= sp.z_max * (1 + 1e-9))
    assert np.all((pts[:, 0] >= trace.window.w[0] - 1e-9) & (pts[:, 0] <= trace.window.w[1] + 1e-9))
    assert len(sp.exit.points) > 0 and len(sp.head.points) == 0  # left the box: marker, no point
    assert scene.banner.active


@pytest.fixture(scope="module")
def surface_clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("surface")
    trace = train(Config())
    return trace, render(trace, "surface", quality="l", out_dir=out, progress=False)


def test_surface_clip_renders(surface_clip):
    trace, res = surface_clip
    info = probe(res.mp4)
    assert (info["codec"], info["width"], info["height"], info["fps"]) == ("h264", 854, 480, 15.0)
    assert info["frames"] == SurfaceScene.planned_frames(trace, 15)


def test_surface_last_frame_snapshot(surface_clip):
    _, res = surface_clip
    control = CONTROL / "surface_lab_dark_480p.png"
    got = np.asarray(Image.open(res.poster).convert("RGB"), dtype=np.int16)
    if update_snapshots():
        Image.fromarray(got.astype(np.uint8)).save(control, optimize=True)
    want = np.asarray(Image.open(control).convert("RGB"), dtype=np.int16)
    ok, why = frames_match(got, want)
    assert ok, why


def test_diverging_surface_renders(tmp_path):
    res = render(
        train(Config(lr=0.5, steps=30)),
        "surface",
        out_dir=tmp_path,
        progress=False,
        scene_options={"closing_top_view": False, "descent_seconds": 2.0},
    )
    assert probe(res.mp4)["frames"] > 0


def test_faces_drawn_in_one_pass_look_as_manim_draws_them(monkeypatch):
    """The camera's one-pass face drawing gives Manim's own picture, and is the one used."""
    import descent.scenes.surface as surface_mod

    scene, _ = build(train(Config(steps=3)))
    scene.add(scene.surface.static)
    cam = scene.renderer.camera
    seen = []
    real = cam.display_vectorized
    monkeypatch.setattr(cam, "display_vectorized", lambda vm, ctx: (seen.append(vm), real(vm, ctx)))
    for phi, theta in ((62, -120), (20, -95), (80, -60)):
        scene.set_camera_orientation(phi=phi * np.pi / 180, theta=theta * np.pi / 180)
        seen.clear()
        scene.renderer.update_frame(scene)
        fast = scene.renderer.get_frame()[..., :3].astype(np.int16)
        assert not any(getattr(vm, "descent_face", False) for vm in seen)  # no face went through Manim
        with monkeypatch.context() as m:
            m.setattr(surface_mod, "_plain_face", lambda vm: False)
            scene.renderer.update_frame(scene)
        slow = scene.renderer.get_frame()[..., :3].astype(np.int16)
        ok, why = frames_match(fast, slow)
        assert ok, (phi, theta, why)
        assert np.abs(fast - fast[0, 0]).max() > 50  # the surface is there at all


def test_flat_panels_are_painted_once_while_the_camera_moves():
    scene, _ = build(train(Config(steps=3)))
    flat = [p.static for p in scene.flat]
    scene.flat_static_ids = {id(s) for s in flat}
    scene.add(scene.surface.static, *flat)
    anim = scene.camera.phi_tracker.animate.set_value(0.5).build()
    scene.add(scene.camera.phi_tracker)
    moving = scene.get_moving_mobjects(anim)
    assert scene.surface.static in moving
    assert not any(s in moving for s in flat)


def test_closing_view_is_a_map_that_fills_the_panel():
    """From straight above and far away: the box's top and bottom project onto one rectangle
    (no perspective trapezoid), as large as the panel allows at equal scales of w and b."""
    from descent.scenes.fit import fit_layout

    scene, _ = build(train(Config()))
    sp, cam = scene.surface, scene.camera
    box = fit_layout()["contour"]

    def corners(z):
        return np.array([sp.point3(w, b, z) for w in sp.w_range for b in sp.b_range])

    scene._set_camera(scene.map_view)
    low, high = cam.project_points(corners(0.0))[:, :2], cam.project_points(corners(sp.z_max))[:, :2]
    width, height = np.ptp(low[:, 0]), np.ptp(low[:, 1])
    assert np.abs(high - low).max() < 0.02 * max(width, height)  # heights barely move a point: a map
    assert width / height == pytest.approx(np.ptp(sp.w_range) / np.ptp(sp.b_range), rel=0.01)  # w and b alike
    inner_w, inner_h = box.width - sum(scene.map_margins[:2]), box.height - sum(scene.map_margins[2:])
    assert max(width / inner_w, height / inner_h) == pytest.approx(1.0, abs=0.01)  # as large as it fits
    assert box.left < low[:, 0].min() and low[:, 0].max() < box.right
    assert box.bottom < low[:, 1].min() and low[:, 1].max() < box.top

    scene._set_camera(scene.descent_view)  # the descent's view fills the panel too: the surface, its floor
    faces = np.concatenate([f.points[0:16:4] for f in sp.surface.submobjects])
    z_top = sp.point3(sp.w_range[0], sp.b_range[1], sp.z_max)  # and the height axis
    seen = cam.project_points(np.concatenate([corners(0.0), faces, [z_top]]))[:, :2]
    left, right, bottom, top = scene.descent_margins
    fill = max(np.ptp(seen[:, 0]) / (box.width - left - right), np.ptp(seen[:, 1]) / (box.height - bottom - top))
    assert fill == pytest.approx(1.0, abs=0.01)


def test_each_view_leaves_its_labels_the_room_they_take():
    """The margins around the plot are what its labels take: with them, plot and labels fill the panel
    (less a small pad, the title's row above), whatever the window's numbers."""
    from manim import DL, UR

    from descent.scenes.fit import fit_layout

    box = fit_layout()["contour"]
    for trace in (train(Config()), train(Config(slope=0.01, bias=0.003, noise=0.001, w0=0.5, b0=-0.2))):
        scene, _ = build(trace)
        title = scene._axis_labels()[-1]
        for view, axes in ((scene.descent_view, "wbz"), (scene.map_view, "wb")):
            scene._set_camera(view)
            labels = scene.surface.labels_for(scene.camera.project_points, axes)
            seen = scene.camera.project_points(scene._plot_points())[:, :2]
            lo = np.min([seen.min(axis=0), *(m.get_corner(DL)[:2] for m in labels)], axis=0)
            hi = np.max([seen.max(axis=0), *(m.get_corner(UR)[:2] for m in labels)], axis=0)
            pad = scene.MARGIN_PAD
            assert box.left + pad - 0.01 <= lo[0] and hi[0] <= box.right - pad + 0.01
            assert box.bottom + pad - 0.01 <= lo[1] and hi[1] <= title.get_bottom()[1] - pad + 0.01
            # and the plot is as large as that allows: it touches the room's sides in one direction
            slack = min(
                lo[0] - box.left - pad + box.right - pad - hi[0],
                lo[1] - box.bottom - pad + (title.get_bottom()[1] - pad - hi[1]),
            )
            assert slack < 0.05, slack


def test_surface_clip_ends_on_the_map(surface_clip):
    """The last frame is the map: the camera looks straight down from far away, the map's labels shown."""
    trace, res = surface_clip
    scene, _ = build(trace)
    poster = np.asarray(Image.open(res.poster).convert("RGB"), dtype=np.int16)
    # the map's rectangle, in pixels: its corners at the panel's bottom-left and top-right
    scene._set_camera(scene.map_view)
    sp = scene.surface
    ends = scene.camera.project_points(
        np.array([sp.point3(sp.w_range[0], sp.b_range[0], 0), sp.point3(sp.w_range[1], sp.b_range[1], 0)])
    )
    (x0, y0), (x1, y1) = [(int((x / 14.222 + 0.5) * 854), int((0.5 - y / 8) * 480)) for x, y, _ in ends]
    inside = poster[y1 + 4 : y0 - 4, x0 + 4 : x1 - 4]
    outside = poster[y1 + 4 : y0 - 4, x1 + 5 : x1 + 8]
    background = poster[2, 2]
    assert np.abs(inside - background).max(axis=2).mean() > 20  # the surface covers its rectangle
    assert np.abs(outside - background).max(axis=2).mean() < 20  # and stops at its edge (no trapezoid)
