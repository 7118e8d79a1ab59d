"""What a student sees, checked on the built scenes: drawing order, overlaps, axis labels.

Scenes are built (not rendered) and set to several moments; every text and legend box is
read from the mobjects.
"""

from __future__ import annotations

import numpy as np
import pytest

from descent.scenes.compare import CompareScene
from descent.scenes.fit import FitScene
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
