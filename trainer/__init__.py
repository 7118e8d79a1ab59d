"""descent's trainer: pure computation, no drawing.

Config → :func:`train` → :class:`Trace` (JSON schema ``descent.trace/1``),
plus the closed-form analysis a lecturer needs (optimum, Hessian, lr_max,
the loss surface on a grid, a view window). This package never imports manim.

Examples
--------
>>> from descent.trainer import Config, train
>>> trace = train(Config(lr=0.2))
>>> trace.config.lr, trace.n_states
(0.2, 16)
"""

from .analysis import Moments, Window, loss_at, loss_grid, nice_step, view_window
from .config import MAX_STEPS, Config, ConfigError, load_toml
from .optimizers import OPTIMIZERS, OptimizerSpec
from .trace import DIVERGENCE_LOSS, DIVERGENCE_REASONS, SCHEMA, Trace, TraceError, atomic_write
from .train import make_data, train

__all__ = [
    "Config",
    "ConfigError",
    "DIVERGENCE_LOSS",
    "DIVERGENCE_REASONS",
    "OptimizerSpec",
    "MAX_STEPS",
    "Moments",
    "OPTIMIZERS",
    "SCHEMA",
    "Trace",
    "TraceError",
    "Window",
    "atomic_write",
    "load_toml",
    "loss_at",
    "loss_grid",
    "make_data",
    "nice_step",
    "train",
    "view_window",
]
