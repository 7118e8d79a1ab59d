"""Reusable panels that every scene composes: header, data, contour, loss curve.

Each panel draws its static parts once (``panel.static``) and owns a few
moving mobjects (``panel.dynamic``) that :meth:`Panel.show` sets to a
:class:`~descent.scenes.helpers.State`. A scene adds all static parts first and all
dynamic parts last, and one updater driven by the step tracker calls
``show`` on every panel with the same state, so all panels agree at every
frame (see :class:`StepDriver`).

Examples
--------
>>> from descent.trainer import Config, train
>>> from descent.scenes.panels import Context, DataPanel, Box
>>> ctx = Context.for_trace(train(Config()))
>>> panel = DataPanel(ctx, Box(-3.5, 0.5, 6.0, 4.0))
>>> panel.show([ctx.clock.at(0.0)])  # one state per run the panel draws
>>> len(panel.static) > 0
True
"""

from .banner import Banner
from .base import Box, Context, Panel, Run, loss_spans_decades
from .contour import ContourPanel
from .data import DataPanel
from .draw import AffineMap, dots_mobject, dots_points, label, number_label, polyline_points
from .driver import StepDriver
from .header import Header
from .loss import LossPanel

__all__ = [
    "AffineMap",
    "Banner",
    "Box",
    "ContourPanel",
    "Context",
    "DataPanel",
    "Header",
    "LossPanel",
    "Panel",
    "Run",
    "StepDriver",
    "dots_mobject",
    "dots_points",
    "label",
    "loss_spans_decades",
    "number_label",
    "polyline_points",
]
