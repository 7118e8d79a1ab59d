"""The fit scene's optional layers (``--show residuals,gradient``) and the update readout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import descent.outputs.renderer as renderer_module
from descent.cli.main import cli
from descent.outputs.clip import RenderError, render
from descent.scenes.fit import SHOW_OPTIONS, FitScene
from descent.scenes.helpers import clip_segment, fmt_num
from descent.scenes.panels import Box, StepDriver
from descent.scenes.panels.gradient import UpdateReadout, clipped_segments, cut_out, gradient_at
from descent.scenes.panels.residuals import POINT_RADIUS, residual_segments
from descent.scenes.show import parse_show
from descent.scenes.theme import THEMES
from descent.trainer import Config, loss_at, train

from .conftest import build_scene
from .test_renderer_stock import FastRecorder, StockRecorder

MINUS = "\u2212"


def at(scene, group, t: float):
    scene.tracker.set_value(t)
    group.update(0)
    return scene.ctx.clock.at(t)


@pytest.fixture(scope="module")
def lab():
    trace = train(Config())
    scene, group = build_scene(FitScene, trace, show=("residuals", "gradient"))
    return trace, scene, group


# -- residuals ------------------------------------------------------------------------------------
def expected_segments(x, y, w, b, x_range, y_range) -> np.ndarray:
    """Each residual clipped on its own by Liang–Barsky (NaN when nothing of it is in view)."""
    out = np.full((len(x), 2, 2), np.nan)
    lo, hi = (x_range[0], y_range[0]), (x_range[1], y_range[1])
    for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
        seg = clip_segment((xi, yi), (xi, w * xi + b), lo, hi)
        if seg is not None:
            out[i] = [seg[0], seg[1]]
    return out


@pytest.mark.parametrize(
    "w, b",
    [(1.0, -1.0), (-15.0, -10.0), (40.0, 3.0), (0.0, 100.0), (0.0, -100.0), (0.3, 0.2)],
)
def test_residual_segments_match_clipping_each_one(w, b):
    rng = np.random.default_rng(7)
    x = rng.uniform(-4, 4, 300)  # some beyond the view in x
    y = x - 1 + rng.normal(0, 3, 300)  # some above and below the view
    x_range, y_range = (-3.0, 3.0), (-5.0, 4.0)
    got = residual_segments(x, y, w, b, x_range, y_range)
    want = expected_segments(x, y, w, b, x_range, y_range)
    assert got.shape == (300, 2, 2)
    hidden = np.isnan(want[:, 0, 0])
    # a segment beyond an edge is hidden; one that only touches it is a point on the edge
    assert np.array_equal(np.isnan(got[:, 0, 0]), hidden)
    assert np.allclose(got[~hidden], want[~hidden], rtol=0, atol=1e-9)
    shown = got[~hidden]
    assert np.all((shown[:, :, 0] >= x_range[0]) & (shown[:, :, 0] <= x_range[1]))
    assert np.all((shown[:, :, 1] >= y_range[0]) & (shown[:, :, 1] <= y_range[1]))


def test_drawn_residuals_run_from_each_point_to_the_line(lab):
    trace, scene, group = lab
    res, data = scene.residuals, scene.data
    for t in (0.0, 0.4, 2.0, 6.5, float(trace.last_k)):
        st = at(scene, group, t)
        drawn = res.drawn
        assert len(drawn) and res.segments.points.shape == (4 * len(drawn), 3)
        start = np.array([data.axes.p2c(p)[:2] for p in drawn[:, 0]])
        end = np.array([data.axes.p2c(p)[:2] for p in drawn[:, 1]])
        assert np.allclose(start[:, 0], end[:, 0], atol=1e-9)  # vertical
        for (xs, ys), (_, ye) in zip(start, end, strict=True):
            i = int(np.argmin(np.abs(trace.x - xs)))
            fit = st.w * trace.x[i] + st.b
            y0, y1 = data.y_range
            assert ye == pytest.approx(min(max(fit, y0), y1), abs=1e-9)  # at the line, or at the view's edge
            # from the point (a dot's radius and a gap short of it) towards the line
            gap = abs(data.map.point(xs, ys)[1] - data.map.point(xs, trace.y[i])[1])
            assert gap == pytest.approx(res.cut, abs=1e-9) or trace.y[i] > y1 or trace.y[i] < y0
            assert (ye - ys) * (fit - trace.y[i]) >= 0
        # the colour is the theme's, distinct from the points, the true line and the fit
        th = scene.ctx.theme
        assert res.segments.get_stroke_color().to_hex().upper() == th.residual.upper()
        assert th.residual not in (th.points, th.truth, th.run)
        assert res.cut > POINT_RADIUS


# -- the gradient arrow ---------------------------------------------------------------------------
def arrow_and_tangent(scene):
    """The arrow's unit screen direction, its length, and the level curve's tangent nearest the point."""
    g = scene.gradient
    head = scene.contour.heads[0].get_center()
    start, end = g.shaft.points[0], g.tip.points[0]  # the tip's first anchor is the arrow's point
    assert np.allclose(start, head, atol=1e-9)
    d = end - start
    pieces = g.level.points.reshape(-1, 4, 3)
    a, z = pieces[:, 0], pieces[:, 3]
    u = z - a
    s = np.clip(np.einsum("ij,ij->i", head - a, u) / np.einsum("ij,ij->i", u, u), 0, 1)
    dist = np.linalg.norm(a + s[:, None] * u - head, axis=1)
    i = int(np.argmin(dist))
    return d / np.linalg.norm(d), float(np.linalg.norm(d)), u[i] / np.linalg.norm(u[i]), float(dist[i])


def test_the_contour_panel_has_equal_aspect(lab):
    _, scene, _ = lab
    ex, ey = scene.contour.map.ex, scene.contour.map.ey
    assert np.linalg.norm(ex) == pytest.approx(np.linalg.norm(ey), rel=1e-9)
    assert abs(float(ex @ ey)) < 1e-12


@pytest.mark.parametrize("t", [0.0, 0.37, 1.0, 2.5, 7.8, 15.0])
def test_arrow_is_perpendicular_to_the_level_curve_through_the_point(lab, t):
    trace, scene, group = lab
    st = at(scene, group, t)
    assert scene.gradient.visible
    direction, length, tangent, off = arrow_and_tangent(scene)
    assert length == pytest.approx(scene.gradient.length, abs=1e-9)
    assert off < 2e-3  # the level curve passes through the point
    assert abs(float(direction @ tangent)) < 0.02  # a right angle, to about a degree
    # and it points downhill: a small step along it (back in w, b) lowers the loss
    m = scene.contour.map
    M = np.stack([m.ex[:2], m.ey[:2]], axis=1)
    dw, db = np.linalg.solve(M, direction[:2]) * 1e-3
    assert loss_at(trace.moments, st.w + dw, st.b + db) < loss_at(trace.moments, st.w, st.b)
    # the direction is −∇L there, the trace's gradients mixed as the point mixes the states
    gw, gb = gradient_at(trace.grad_w, trace.grad_b, st.kf)
    exact = 2 * np.array(
        [
            st.w * trace.moments.xx + st.b * trace.moments.x - trace.moments.xy,
            st.w * trace.moments.x + st.b - trace.moments.y,
        ]
    )
    assert np.allclose([gw, gb], exact, rtol=1e-6, atol=1e-9)


def test_arrow_and_level_curve_hide_outside_the_view():
    trace = train(Config(lr=0.4, steps=12))  # diverges out of the window
    scene, group = build_scene(FitScene, trace, show=("gradient",))
    outside = [
        t
        for t in np.linspace(0, scene.ctx.clock.t_max, 200)
        if not scene.contour.contains(*(lambda s: (s.w, s.b))(scene.ctx.clock.at(float(t))))
    ]
    assert outside, "the run never left the view"
    for t in outside[:: max(1, len(outside) // 5)]:
        at(scene, group, float(t))
        g = scene.gradient
        assert not g.visible
        assert len(g.shaft.points) == len(g.tip.points) == len(g.level.points) == 0
    at(scene, group, 0.0)
    assert scene.gradient.visible and len(scene.gradient.level.points)


def test_clipped_segments_and_cut_out():
    theta = np.linspace(0, 2 * np.pi, 721)
    ring = np.stack([3 * np.cos(theta), 2 * np.sin(theta)], axis=1)
    a, z = clipped_segments(ring, (-2.0, -5.0), (5.0, 1.0))
    pts = np.concatenate([a, z])
    assert np.all((pts >= (-2 - 1e-12, -5 - 1e-12)) & (pts <= (5 + 1e-12, 1 + 1e-12)))
    # every point of the ring inside the box lies on a kept segment
    inside = ring[(ring[:, 0] >= -2) & (ring[:, 0] <= 5) & (ring[:, 1] >= -5) & (ring[:, 1] <= 1)]
    assert len(inside) > 100 and all(np.min(np.linalg.norm(pts - p, axis=1)) < 1e-9 for p in inside)
    # cutting a rectangle out leaves nothing inside it and keeps everything outside it
    a3, z3 = np.pad(a, ((0, 0), (0, 1))), np.pad(z, ((0, 0), (0, 1)))
    lo, hi = (1.0, -1.0), (4.0, 0.5)
    ca, cz = cut_out(a3, z3, lo, hi)
    mids = (ca + cz) / 2
    assert not np.any(np.all((mids[:, :2] > lo) & (mids[:, :2] < hi), axis=1))
    kept = np.sum(np.linalg.norm(cz - ca, axis=1))
    total = np.sum(np.linalg.norm(z3 - a3, axis=1))
    inner = [clip_segment(p[:2], q[:2], lo, hi) for p, q in zip(a3, z3, strict=True)]
    inner_len = sum(float(np.linalg.norm(s[1] - s[0])) for s in inner if s is not None)
    assert inner_len > 0.5  # the rectangle did cut something
    assert kept == pytest.approx(total - inner_len, rel=1e-9)


# -- the update readout ---------------------------------------------------------------------------
READOUT_BOX = Box(0.0, -3.2, 9.0, 1.3)


def readout_scene(config: Config, box: Box = READOUT_BOX):
    trace = train(config)
    scene, _ = build_scene(FitScene, trace)
    readout = UpdateReadout(scene.ctx, box)
    driver = StepDriver(scene.ctx.clock, [readout])
    return trace, readout, driver


def test_readout_shows_the_plain_update_with_the_traces_numbers():
    trace, readout, driver = readout_scene(Config())
    lr = trace.config.lr
    for k in range(trace.last_k):
        driver.push(k + 0.4)  # on the way from state k to k + 1
        assert readout.shown_k == k
        lines = readout.shown_texts
        assert lines[0] == f"step {k} → {k + 1} · lr = 0.1"
        for line, name, val, grad in ((lines[1], "w", trace.w, trace.grad_w), (lines[2], "b", trace.b, trace.grad_b)):
            g = fmt_num(grad[k])
            g = f"({g})" if g.startswith(MINUS) else g
            assert line == f"{name} ← {name} − lr·∂L/∂{name} = {fmt_num(val[k])} − 0.1·{g} = {fmt_num(val[k + 1])}"
            # the result printed is the trace's next state, and the rule gives it
            assert line.rsplit(" = ", 1)[1] == fmt_num(val[k] - lr * grad[k]) == fmt_num(val[k + 1])
    driver.push(float(trace.last_k))
    k = trace.last_k
    assert readout.shown_texts == [
        f"step {k}: the final values",
        f"w = {fmt_num(trace.w[k])}   ∂L/∂w = {fmt_num(trace.grad_w[k])}",
        f"b = {fmt_num(trace.b[k])}   ∂L/∂b = {fmt_num(trace.grad_b[k])}",
    ]


def test_readout_stays_in_its_box_and_changes_once_per_step():
    box = Box(-1.0, -3.0, 5.0, 1.0)  # narrower than the lines: they shrink to fit
    trace, readout, driver = readout_scene(Config(), box)
    assert readout.size < THEMES["dark"].sizes.values
    for t in np.linspace(0, driver.clock.t_max, 40):
        driver.push(float(t))
        for mob in readout.text:
            if len(mob.points):
                assert mob.get_left()[0] >= box.left - 1e-6 and mob.get_right()[0] <= box.right + 1e-6
                assert mob.get_top()[1] <= box.top + 1e-6 and mob.get_bottom()[1] >= box.bottom - 1e-6
    before = driver.version
    driver.push(2.2)
    driver.push(2.3)  # the same step: the text is not rebuilt
    assert readout.shown_k == 2 and driver.version == before + 1


@pytest.mark.parametrize(
    "config, marker",
    [(Config(optimizer="momentum", steps=6), "momentum β = 0.9"), (Config(optimizer="adam", lr=0.5, steps=4), "Adam")],
)
def test_readout_for_other_optimizers_shows_the_step_taken(config, marker):
    trace, readout, driver = readout_scene(config)
    for k in range(trace.last_k):
        driver.push(k + 0.5)
        lines = readout.shown_texts
        assert marker in lines[0] and "←" not in "".join(lines)
        assert lines[1] == (
            f"∂L/∂w = {fmt_num(trace.grad_w[k])}   Δw = {fmt_num(trace.w[k + 1] - trace.w[k])}"
            f"   w = {fmt_num(trace.w[k + 1])}"
        )


def test_readout_for_mini_batches_uses_the_batch_gradient():
    trace, readout, driver = readout_scene(Config(batch_size=8, steps=5))
    driver.push(1.5)
    line = readout.shown_texts[1]
    g = fmt_num(trace.batch_grad_w[1])
    g = f"({g})" if g.startswith(MINUS) else g
    assert line == f"w ← w − lr·∂L_B/∂w = {fmt_num(trace.w[1])} − 0.1·{g} = {fmt_num(trace.w[2])}"
    assert fmt_num(trace.w[1] - 0.1 * trace.batch_grad_w[1]) == fmt_num(trace.w[2])


# -- the parameter, the command line, the render ------------------------------------------------
def test_show_is_a_validated_parameter(tmp_path):
    assert SHOW_OPTIONS == ("residuals", "gradient")
    assert parse_show("residuals, gradient,residuals") == ("residuals", "gradient")
    for bad in (("nope",), "residuals", ("residuals", "residuals")):
        with pytest.raises(TypeError, match="show"):
            type("Bad", (FitScene,), {"show": bad})
    with pytest.raises(RenderError, match="show"):
        render(train(Config(steps=2)), scene="compare", out_dir=tmp_path, scene_options={"show": ("gradient",)})
    scene, _ = build_scene(FitScene, train(Config(steps=2)))
    assert scene.residuals is None and scene.gradient is None
    assert [type(p).__name__ for p in scene.panels] == ["Header", "DataPanel", "ContourPanel", "LossPanel", "Banner"]


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["render", "fit", "--show", "residuals,arrows"], "unknown layer 'arrows' (choose from residuals, gradient)"),
        (["render", "fit", "--show", ""], "name at least one layer"),
        (["render", "compare", "--show", "residuals"], "--show is an option of the fit scene"),
        (["render", "surface", "--show", "gradient"], "--show is an option of the fit scene"),
        (["batch", "--show", "gradient", "--no-compare"], "--show is an option of 'descent render', not of batch"),
    ],
)
def test_bad_show_is_one_line_and_exit_2(runner, args, needle):
    r = runner.invoke(cli, [*args, "--steps", "2", "--quiet"])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error:") and needle in lines[0], r.output
    assert list(Path(".").iterdir()) == []


def colour_pixels(img: np.ndarray, hex_colour: str, tol: float = 40.0) -> int:
    rgb = np.array([int(hex_colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)], dtype=float)
    return int((np.linalg.norm(img[..., :3].astype(float) - rgb, axis=-1) < tol).sum())


def test_render_with_show_draws_both_layers_and_records_them(runner, tmp_path):
    train(Config(steps=3)).save("t.json")  # --show with --trace: not taken for a training option
    r = runner.invoke(
        cli,
        ["render", "fit", "--trace", "t.json", "--show", "residuals,gradient", "-q", "l", "--fps", "10"]
        + ["--duration", "1", "--quiet", "--out-dir", "out", "--name", "shown"],
    )
    assert r.exit_code == 0, r.output
    meta = json.loads(Path("out/shown.json").read_text())
    assert meta["render"]["scene_options"]["show"] == ["residuals", "gradient"]
    poster = np.asarray(Image.open("out/shown.png").convert("RGB"))
    th = THEMES["dark"]
    h, w = poster.shape[:2]
    left, right = poster[:, : w // 2], poster[:, w // 2 :]
    assert colour_pixels(left, th.residual) > 100  # the residuals, in the data panel
    assert colour_pixels(right, th.gradient) > 30  # the arrow and the level curve, in parameter space
    assert colour_pixels(right, th.residual) == 0 and colour_pixels(left, th.gradient) == 0


def test_fast_renderer_draws_the_layers_as_stock_manim_does(monkeypatch, tmp_path):
    """The layers live in the dynamic layer: descent's renderer writes Manim's own frames."""
    trace = train(Config(steps=3))
    options = {"descent_seconds": 1.0, "hold_seconds": 0.3, "intro_seconds": 0.3, "show": SHOW_OPTIONS}
    made = []

    def recording(base):
        class Recording(base):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        return Recording

    frames = []
    for recorder, out in ((StockRecorder, "stock"), (FastRecorder, "fast")):
        with monkeypatch.context() as m:
            m.setattr(renderer_module, "ProgressRenderer", recording(recorder))
            render(trace, "fit", quality="l", fps=10, out_dir=tmp_path / out, progress=False, scene_options=options)
        frames.append(made[-1].frames)
    fast = made[-1]
    assert fast.fast and fast._layer_image is not None
    stock_frames, fast_frames = frames
    assert len(stock_frames) == len(fast_frames) > 0
    differ = [i for i, (a, b) in enumerate(zip(stock_frames, fast_frames, strict=True)) if not np.array_equal(a, b)]
    assert not differ, f"{len(differ)} frames differ from stock, first {differ[0]}"
