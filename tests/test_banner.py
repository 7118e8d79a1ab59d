"""The divergence banner belongs to the moment it describes: never on screen before the run diverges."""

from __future__ import annotations

import math

import av
import numpy as np
import pytest
from PIL import Image

from descent.scenes.fit import FitScene
from descent.scenes.theme import get_theme
from descent.trainer import Config, train

from .conftest import build_scene


@pytest.fixture(scope="module")
def diverging():
    trace = train(Config(lr=0.5, steps=30))
    assert trace.diverged and trace.diverged_at == 16
    return trace


def visible(box) -> bool:
    return box is not None and box[0].get_fill_opacity() > 0.5 and box[1].get_fill_opacity() > 0.5


def headline(box) -> str:
    return box[1][0].original_text


def test_banner_is_absent_before_the_divergence_and_present_after(diverging):
    scene, group = build_scene(FitScene, diverging)
    banner, clock = scene.banner, scene.ctx.clock
    assert headline(banner.box).startswith("Diverged at step 16")
    assert banner.exit_box is not None and "Diverged" not in headline(banner.exit_box)
    first_out = next(k for k in range(diverging.n_states) if not scene.contour.contains(diverging.w[k], diverging.b[k]))
    seen = set()
    for t in np.linspace(0, clock.t_max, 241):
        scene.tracker.set_value(float(t))
        group.update(0)
        st = clock.at(float(t))
        k = math.floor(st.kf)
        # the step that diverged is never drawn: its banner waits for the last state the run reached
        assert visible(banner.box) == (k >= diverging.last_k), (t, st.kf)
        if visible(banner.box):
            assert scene.header.shown_texts[0] == f"step {diverging.last_k} of 30"
        # before that, once the path has left the view, the banner says only that
        assert visible(banner.exit_box) == (first_out <= k < diverging.last_k), (t, st.kf)
        assert not (visible(banner.box) and visible(banner.exit_box))
        if visible(banner.exit_box):
            assert not scene.contour.contains(diverging.w[k], diverging.b[k])  # the state passed is off the map
        seen.add((visible(banner.box), visible(banner.exit_box)))
    assert seen == {(False, False), (False, True), (True, False)}


@pytest.mark.parametrize("lr, steps, leaves", [(0.3331, 15, False), (0.34, 40, True)])
def test_a_growing_run_that_has_not_diverged_is_called_diverging_once_it_leaves_the_view(lr, steps, leaves):
    """Above lr_max but below the loss limit: the sentence has no step in it and shows from the first
    state off the map (or, for a run that stays on it, from its last state), never before."""
    trace = train(Config(lr=lr, steps=steps))
    assert not trace.diverged
    scene, group = build_scene(FitScene, trace)
    banner, clock = scene.banner, scene.ctx.clock
    assert banner.active and banner.exit_box is None and headline(banner.box).startswith("Diverging")
    out = [k for k in range(trace.n_states) if not scene.contour.contains(trace.w[k], trace.b[k])]
    moment = min(out[0], trace.last_k) if out else trace.last_k
    assert leaves == bool(out)
    for t in np.linspace(0, clock.t_max, 80):
        scene.tracker.set_value(float(t))
        group.update(0)
        k = math.floor(clock.at(float(t)).kf)
        assert visible(banner.box) == (k >= moment), (t, k, moment)


def test_the_rendered_frames_show_each_banner_at_its_moment(tmp_path, diverging):
    """Decoded frames: no warning colour in the banner's place before the path leaves the view, the
    'leaving' banner while it is off the map, and the poster's 'diverged' banner only at the end."""
    from manim import DL, UR, config

    from descent.outputs.clip import render

    fps, per_step = 10, 0.2
    opts = {"intro_seconds": 0, "hold_seconds": 0.4, "seconds_per_step": per_step}
    res = render(diverging, "fit", quality="l", fps=fps, out_dir=tmp_path, progress=False, scene_options=opts)
    scene, group = build_scene(FitScene, diverging, **opts)
    banner, clock = scene.banner, scene.ctx.clock
    descent = type(scene).descent_length(diverging)
    th = get_theme("dark")
    warn = np.array([int(th.warn[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    with av.open(str(res.mp4)) as c:
        frames = [f.to_ndarray(format="rgb24").astype(float) for f in c.decode(video=0)]
    h, w = frames[0].shape[:2]
    scale = w / config.frame_width

    def pixels(mob):
        (x0, y0), (x1, y1) = mob.get_corner(DL)[:2], mob.get_corner(UR)[:2]
        cols = slice(int((x0 + config.frame_width / 2) * scale) + 3, int((x1 + config.frame_width / 2) * scale) - 3)
        rows = slice(int((config.frame_height / 2 - y1) * scale) + 3, int((config.frame_height / 2 - y0) * scale) - 3)
        return rows, cols

    area = pixels(banner.box[0])
    head = pixels(banner.box[1][0])  # the headline, where the two banners differ
    last = frames[-1]  # the final state, as encoded (the poster is the same picture without H.264 loss)
    assert np.abs(last - np.asarray(Image.open(res.poster).convert("RGB"), dtype=float)).mean() < 4
    kinds = set()
    for i, frame in enumerate(frames):
        t = min(i / fps / descent, 1.0) * clock.t_max
        if abs(t - round(t)) < 0.05 and t < clock.t_max:
            continue  # a frame at a step change (floor(kf) changes at whole tracker values): either side may show
        k = math.floor(clock.at(t).kf)
        warm = float((np.linalg.norm(frame[area] - warn, axis=2) < 60).mean())
        same_as_last = float(np.abs(frame[head] - last[head]).mean())
        if k >= diverging.last_k:
            kinds.add("diverged")
            assert warm > 0.4 and same_as_last < 4, (i, warm, same_as_last)
        elif banner.exit_at is not None and k >= banner.exit_at:
            kinds.add("leaving")
            assert warm > 0.4 and same_as_last > 8, (i, warm, same_as_last)
        else:
            kinds.add("none")
            assert warm < 0.05, (i, warm)
    assert kinds == {"none", "leaving", "diverged"}, (len(frames), kinds, descent, clock.t_max)


def test_compare_legend_says_diverged_only_once_the_run_has():
    """The comparison's legend: no 'diverged' in a row before that run stops, its numbers say so after."""
    from manim import Text

    from descent.scenes.compare import CompareScene

    traces = [train(Config(lr=lr)) for lr in (0.05, 0.6)]
    wild = traces[1]
    assert wild.diverged and not traces[0].diverged
    scene, group = build_scene(CompareScene, None, traces=traces)
    legend = scene.legend
    names = [m.original_text for m in legend.static.get_family() if isinstance(m, Text)]
    assert not any("diverged" in n for n in names), names
    glyphs, drawn = legend.glyphs[1], legend.values[1]

    def says(text: str) -> bool:
        base = legend.rows[1].get_bottom()[1] + 0.03
        want = glyphs.points(text, legend.value_x, base)
        return drawn.points.shape == want.shape and np.allclose(drawn.points, want)

    seen = []
    for t in np.linspace(0.0, scene.ctx.clock.t_max, 25):
        scene.tracker.set_value(t)
        group.update(0)
        k = scene.driver.states_at(float(t))[1].k_shown  # the step the wild run's row shows
        seen.append((k, says(f"diverged at step {wild.diverged_at}")))
    assert not seen[0][1] and seen[-1][1]
    # from the step the run stopped at (the banner's moment in a single-run clip), never before
    assert all(said == (k >= wild.last_k) for k, said in seen), seen
