"""descent: turn a gradient-descent run into a lecture-quality animation.

The Python API behind the ``descent`` command line. Train a run, keep its
trace, render it:

>>> from descent import Config, train
>>> trace = train(Config(lr=0.2, steps=3))
>>> trace.n_states, round(float(trace.loss[-1]), 2)
(4, 4.19)
>>> from descent import render
>>> result = render(trace, "fit", quality="l", out_dir="media", progress=False)  # doctest: +SKIP
>>> result.mp4.name  # doctest: +SKIP
'fit_sgd_lr0.2_steps3.mp4'

The package has four layers, each importing only those before it:
:mod:`descent.trainer` (torch, never Manim) → :mod:`descent.scenes` (Manim
scenes and panels; never trains) → :mod:`descent.outputs` (rendering to
files) and :mod:`descent.publish` (course pages) → :mod:`descent.cli` (Click).
Importing ``descent`` imports neither torch nor Manim.
"""

from ._version import __version__, versions
from .batch import BatchOptions, BatchResult, run_batch
from .course import Course, build_course, load_course
from .lesson import LessonResult, render_lesson
from .narrate import render_narrated
from .outputs.clip import FramesResult, RenderError, RenderResult, render, render_frames
from .outputs.files import DiskFull, FolderBusy, Interrupted
from .scenes import SCENES, SceneSpec
from .show import Clip, show
from .trainer import OPTIMIZERS, Config, ConfigError, OptimizerSpec, Trace, TraceError, train

__all__ = [
    "BatchOptions",
    "BatchResult",
    "Course",
    "Config",
    "DiskFull",
    "FramesResult",
    "FolderBusy",
    "Interrupted",
    "LessonResult",
    "ConfigError",
    "OPTIMIZERS",
    "OptimizerSpec",
    "RenderError",
    "RenderResult",
    "SCENES",
    "SceneSpec",
    "Trace",
    "TraceError",
    "build_course",
    "load_course",
    "render",
    "render_frames",
    "render_lesson",
    "render_narrated",
    "show",
    "Clip",
    "run_batch",
    "train",
    "versions",
    "__version__",
]
