"""A still picture of every run's loss curve on one axis, drawn with the scenes' own panel."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from descent.trainer import Trace

from .video import staged_path

__all__ = ["render_loss_plot"]


def render_loss_plot(
    traces: Sequence[Trace], dst: Path, theme: str = "dark", width: int = 1280, by: str = "lr"
) -> Path:
    """A still picture of every run's loss curve on one axis (the lab's LOSS vs LOSS2 plot); the legend
    names each run along ``by`` as the comparison clip does (``lr 0.1``, ``sgd``, ``momentum 0.9``)."""
    from manim import tempconfig
    from manim.camera.camera import Camera
    from PIL import Image

    from descent.scenes.compare import Legend, check_comparable
    from descent.scenes.helpers import StepClock
    from descent.scenes.panels import Box, Context, LossPanel, Run
    from descent.scenes.theme import get_theme

    check_comparable(traces)
    th = get_theme(theme)
    height = int(width * 9 / 16)
    with tempconfig(
        {
            "pixel_width": width,
            "pixel_height": height,
            "background_color": th.background,
            "disable_caching": True,
            "verbosity": "ERROR",
        }
    ):
        longest = max(traces, key=lambda t: t.n_states)
        ctx = Context.for_trace(longest, th)
        clocks = [StepClock.uniform(t.w, t.b, t.loss) for t in traces]
        runs = [Run(t, th.series[i % len(th.series)], clocks[i]) for i, t in enumerate(traces)]
        panel = LossPanel(ctx, Box(-0.35, -0.35, 12.6, 6.9), runs=runs)
        states = [c.state_at_step(float(t.last_k)) for c, t in zip(clocks, traces, strict=False)]
        panel.show_step(states)
        panel.show(states)
        corner = panel.axes.c2p(panel.x_range[1], panel.y_range[1])
        legend = Legend(ctx, runs, [corner[0] - 4.3, corner[1] - 0.15, 0], by)
        legend.show_step(states)
        cam = Camera()  # a still: one capture, no scene, no video
        cam.capture_mobjects([panel.static, panel.stepwise, panel.dynamic, legend.static, legend.stepwise])
        tmp = staged_path(dst)
        try:
            Image.fromarray(cam.pixel_array[..., :3]).save(tmp, format="PNG")
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
    return dst
