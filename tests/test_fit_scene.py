"""FitScene geometry without rendering video: every panel shows the same state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from manim import DL, UR

from descent.scenes.base import DEFAULT_TRACE, DescentScene
from descent.scenes.fit import FitScene
from descent.scenes.helpers import fmt_num
from descent.trainer import Config, Trace, train

from .conftest import build_scene


def build(trace: Trace, **params):
    return build_scene(FitScene, trace, **params)


def at(scene, group, t):
    scene.tracker.set_value(t)
    group.update(0)
    return scene.ctx.clock.at(t)


def line_params(scene, idx=0):
    """(w, b) of the drawn fitted line, read back from its screen endpoints."""
    ax = scene.data.axes
    x0, y0 = ax.p2c(scene.data.lines[idx].get_start())[:2]
    x1, y1 = ax.p2c(scene.data.lines[idx].get_end())[:2]
    w = (y1 - y0) / (x1 - x0)
    return w, y0 - w * x0


@pytest.fixture(scope="module")
def lab():
    trace = train(Config())
    return (trace, *build(trace))


def test_at_each_state_every_panel_shows_state_k(lab):
    trace, scene, group = lab
    for k in range(trace.n_states):
        st = at(scene, group, float(k))
        assert st.kf == k
        # data space: the line is in sight and its endpoints lie on y = w_k x + b_k
        assert scene.data.lines[0].get_stroke_opacity() == 1
        ax = scene.data.axes
        for p in (scene.data.lines[0].get_start(), scene.data.lines[0].get_end()):
            x, y = ax.p2c(p)[:2]
            assert y == pytest.approx(trace.w[k] * x + trace.b[k], abs=1e-6 * (1 + abs(trace.w[k])))
        # parameter space: the point sits at (w_k, b_k) on the contour axes
        head = scene.contour.heads[0].get_center()
        assert np.allclose(head, scene.contour.axes.c2p(trace.w[k], trace.b[k]), atol=1e-9)
        # loss curve: the marker at (k, L_k) (log axis)
        lh = scene.loss.heads[0].get_center()
        assert np.allclose(lh, scene.loss.axes.c2p(k, np.log10(trace.loss[k])), atol=1e-9)
        # header: the numbers of state k
        assert scene.header.shown_texts == [
            f"step {k} of 15",
            f"w = {fmt_num(trace.w[k])}",
            f"b = {fmt_num(trace.b[k])}",
            f"loss = {fmt_num(trace.loss[k])}",
        ]


def test_panels_agree_between_states(lab):
    trace, scene, group = lab
    for t in np.linspace(0, scene.ctx.clock.t_max, 67):
        st = at(scene, group, float(t))
        w_line, b_line = line_params(scene)
        w_pt, b_pt = scene.contour.axes.p2c(scene.contour.heads[0].get_center())[:2]
        assert (w_line, b_line) == pytest.approx((st.w, st.b), rel=1e-6, abs=1e-6)
        assert (w_pt, b_pt) == pytest.approx((st.w, st.b), rel=1e-9, abs=1e-9)
        k_marker = scene.loss.axes.p2c(scene.loss.heads[0].get_center())[0]
        assert k_marker == pytest.approx(st.kf, abs=1e-9)
        # the state lies between the recorded neighbours (the same interpolation everywhere)
        k0 = int(np.floor(st.kf))
        k1 = min(k0 + 1, trace.last_k)
        a = st.kf - k0
        assert st.w == pytest.approx((1 - a) * trace.w[k0] + a * trace.w[k1])
        # the path (the part passed, then the live piece) ends exactly at the point
        live = scene.contour.live[0].points
        done = scene.contour.paths[0].points
        if len(live):
            path_end = live[-1]
        elif len(done):
            path_end = done[-1]
        else:  # at the start there is no path yet
            path_end = scene.contour.axes.c2p(trace.w[0], trace.b[0])
        assert np.allclose(path_end, scene.contour.heads[0].get_center(), atol=1e-9)


def test_data_space_is_never_a_step_ahead(lab):
    """The classic lab plots the data one iteration ahead of the parameters; we never may."""
    trace, scene, group = lab
    at(scene, group, 0.0)
    assert line_params(scene) == pytest.approx((trace.w[0], trace.b[0]), rel=1e-9)


def test_long_run_is_sampled_but_path_has_every_state():
    from manim import config

    from descent.scenes.helpers import MAX_DRAWN

    trace = train(Config(lr=0.01, steps=5000))
    scene, group = build(trace)
    assert len(scene.ctx.clock.keys) <= 46
    assert FitScene.planned_seconds(trace) <= 30
    at(scene, group, scene.ctx.clock.t_max)
    pts = scene.contour.paths[0].points
    # the drawn path's corners are recorded states, at most MAX_DRAWN of them (a bounded cost per frame)...
    anchors = np.vstack([pts[::4], pts[-1:]])
    states = scene.contour.map(trace.w, trace.b)
    kept = scene.contour._kept[0]
    assert 2 <= len(anchors) <= MAX_DRAWN and len(anchors) == len(kept)
    assert np.allclose(anchors, states[kept], atol=1e-9)
    # ...and every state lies within a fraction of a pixel of the corner drawn before it
    pixel = config.frame_width / config.pixel_width
    before = kept[np.searchsorted(kept, np.arange(trace.n_states), side="right") - 1]
    assert float(np.max(np.linalg.norm(states - states[before], axis=1))) < 0.5 * pixel


def test_diverging_run_keeps_the_view_and_shows_the_banner():
    trace = train(Config(lr=0.5, steps=30))
    assert trace.diverged
    scene, group = build(trace)
    win = scene.contour.window
    assert win.w[1] - win.w[0] < 100
    at(scene, group, 0.0)
    assert scene.banner.box[0].get_fill_opacity() == 0
    at(scene, group, scene.ctx.clock.t_max)
    assert scene.banner.box[0].get_fill_opacity() > 0.5
    assert scene.contour.heads[0].get_fill_opacity() == 0  # the point left the view...
    assert len(scene.contour.exits[0].points) > 0  # ...marked by an arrowhead on the edge
    pts = scene.contour.paths[0].points
    assert len(pts) and np.all(np.isfinite(pts))
    lo = scene.contour.axes.c2p(win.w[0], win.b[0])
    hi = scene.contour.axes.c2p(win.w[1], win.b[1])
    assert np.all(pts[:, 0] >= lo[0] - 1e-6) and np.all(pts[:, 0] <= hi[0] + 1e-6)
    assert np.all(pts[:, 1] >= lo[1] - 1e-6) and np.all(pts[:, 1] <= hi[1] + 1e-6)


def test_scene_parameter_typo_is_refused():
    with pytest.raises(TypeError, match="did you mean 'hold_seconds'"):
        type("Bad", (FitScene,), {"hold_secnds": 1.0})
    with pytest.raises(TypeError, match="bad value"):
        type("Bad", (FitScene,), {"theme": "sepia"})
    ok = type("Slow", (FitScene,), {"seconds_per_step": 1.0})
    assert ok.seconds_per_step == 1.0 and issubclass(ok, DescentScene)


def test_shipped_lab_trace_is_what_the_trainer_records():
    assert DEFAULT_TRACE.read_text() == train(Config()).to_json()
    assert json.loads(Path(DEFAULT_TRACE).read_text())["schema"] == "descent.trace/1"


@pytest.mark.parametrize(
    "config",
    [Config(), Config(noise=0.0, w0=1.0, b0=-1.0), Config(lr=0.5, steps=30)],
    ids=["lab", "at-optimum", "diverging"],
)
def test_contour_labels_never_touch_each_other_or_the_optimum(config):
    scene, _ = build(train(config))
    boxes = [(m.get_corner(DL)[:2], m.get_corner(UR)[:2]) for m in scene.contour.contour_labels]
    assert boxes, "at least one contour is labelled"
    star = scene.contour.star
    s_lo, s_hi = star.get_corner(DL)[:2], star.get_corner(UR)[:2]
    for i, (lo, hi) in enumerate(boxes):
        for lo2, hi2 in boxes[i + 1 :]:
            assert np.any(hi < lo2) or np.any(hi2 < lo), "two contour labels overlap"
        assert np.any(hi < s_lo) or np.any(s_hi < lo), "a contour label covers the optimum"
