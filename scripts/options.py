"""Click options shared by the ``descent`` commands, as small decorators.

Every config key of :class:`trainer.Config` becomes an option with its
default in the help text; ``--config FILE.toml`` supplies the same keys and
the command line wins over it. Values are range-checked by Click types, and
NaN or infinity is refused everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from descent.outputs.clip import QUALITIES
from descent.scenes.show import SHOW_OPTIONS, parse_show
from descent.scenes.theme import THEMES
from descent.trainer import MAX_STEPS, OPTIMIZERS, Config, load_toml

__all__ = ["FiniteFloat", "ShowList", "training_options", "render_options", "config_from_options", "TRAINING_KEYS"]


class FiniteFloat(click.ParamType):
    """A float that must be finite, with optional (open or closed) bounds."""

    name = "float"

    def __init__(
        self, min: float | None = None, min_open: bool = False, max: float | None = None, max_open: bool = False
    ) -> None:
        self.min, self.min_open, self.max, self.max_open = min, min_open, max, max_open

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float) and math.isfinite(value):
            rv = value
        else:
            try:
                rv = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.min is not None and (rv <= self.min if self.min_open else rv < self.min):
            self.fail(f"{value} must be {'>' if self.min_open else '>='} {self.min}", param, ctx)
        if self.max is not None and (rv >= self.max if self.max_open else rv > self.max):
            self.fail(f"{value} must be {'<' if self.max_open else '<='} {self.max}", param, ctx)
        return rv


class ShowList(click.ParamType):
    """Comma-separated names of optional layers (``residuals,gradient``), each from :data:`SHOW_OPTIONS`."""

    name = "layers"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        try:
            return parse_show(value if isinstance(value, (tuple, list)) else str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


_DEFAULTS = Config()

# (key, click type, help) for every config key; the default comes from Config.
_TRAINING: list[tuple[str, Any, str]] = [
    ("slope", FiniteFloat(), "Slope of the true line f(x) = slope·x + bias."),
    ("bias", FiniteFloat(), "Bias of the true line."),
    ("noise", FiniteFloat(min=0), "Standard deviation of the Gaussian noise on y."),
    ("x_min", FiniteFloat(), "First input x."),
    ("x_max", FiniteFloat(), "Inputs stop before this x."),
    ("x_step", FiniteFloat(min=0, min_open=True), "Spacing of the inputs."),
    ("seed", click.IntRange(0, 2**63 - 1), "Seed of the noise (and of the mini-batch order)."),
    ("w0", FiniteFloat(), "Start value of the weight w."),
    ("b0", FiniteFloat(), "Start value of the bias b."),
    ("lr", FiniteFloat(min=0, min_open=True), "Learning rate."),
    ("steps", click.IntRange(1, MAX_STEPS), f"Number of updates (1 to {MAX_STEPS})."),
    ("optimizer", click.Choice(OPTIMIZERS), "Optimizer."),
    ("momentum", FiniteFloat(min=0, max=1, max_open=True), "Momentum β for momentum and nesterov."),
    ("batch_size", click.IntRange(min=1), "Mini-batch size; full batch when omitted."),
]
TRAINING_KEYS = tuple(k for k, _, _ in _TRAINING)
if set(TRAINING_KEYS) != {f.name for f in fields(Config)}:  # a new config key needs its option
    raise RuntimeError("scripts.options: the training options and Config's keys differ")


def _default_text(key: str) -> str:
    value = getattr(_DEFAULTS, key)
    return "full batch" if value is None else str(value)


def training_options(func: Callable | None = None, *, multiple_lr: bool = False) -> Callable:
    """Add ``--config`` and one option per config key to a command.

    With ``multiple_lr``, ``--lr`` may be repeated (a sweep or a comparison).
    """
    if func is None:
        return lambda f: training_options(f, multiple_lr=multiple_lr)
    for key, type_, help_ in reversed(_TRAINING):
        many = multiple_lr and key == "lr"
        func = click.option(
            "--" + key.replace("_", "-"),
            key,
            type=type_,
            default=None,
            multiple=many,
            help=f"{help_}{' Repeat for several runs.' if many else ''}  [default: {_default_text(key)}]",
        )(func)
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="TOML file with config keys (the command line wins over it).",
    )(func)
    return func


def config_from_options(config_file: Path | None, options: dict[str, Any]) -> Config:
    """Defaults ← TOML file ← command line, validated into one :class:`Config`."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(load_toml(config_file))
    values.update({k: options[k] for k in TRAINING_KEYS if options.get(k) is not None})
    return Config.from_mapping(values, where=str(config_file) if config_file else "options")


def render_options(func: Callable | None = None, *, out_dir: str = "media") -> Callable:
    """Options shared by every command that renders video (``out_dir``: the default folder)."""
    if func is None:
        return lambda f: render_options(f, out_dir=out_dir)
    opts = [
        click.option(
            "-q",
            "--quality",
            type=click.Choice(list(QUALITIES)),
            default="l",
            show_default=True,
            help="Manim preset: l 480p15, m 720p30, h 1080p60, p 1440p60, k 2160p60.",
        ),
        click.option(
            "--fps", type=FiniteFloat(min=1, max=240), default=None, help="Frame rate (overrides the preset's)."
        ),
        click.option(
            "--theme",
            type=click.Choice(list(THEMES)),
            default="dark",
            show_default=True,
            help="dark for video and projectors, light for white course pages.",
        ),
        click.option(
            "--out-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path(out_dir),
            show_default=True,
            help="Where the finished files go.",
        ),
        click.option(
            "--name", default=None, help="Base name of the output files (default: derived from the parameters)."
        ),
        click.option(
            "--preset",
            type=click.Choice(
                ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
            ),
            default="veryfast",
            show_default=True,
            help="x264 speed/size trade-off.",
        ),
        click.option(
            "--seconds-per-step",
            type=FiniteFloat(min=0, min_open=True, max=60),
            default=None,
            help="Pacing of the descent.  [default: 0.667, capped at 24 s in all]",
        ),
        click.option(
            "--duration",
            "descent_seconds",
            type=FiniteFloat(min=0, min_open=True, max=3600),
            default=None,
            help="Total seconds of the descent (overrides --seconds-per-step).",
        ),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        click.option(
            "--no-wait",
            is_flag=True,
            help="If another run is writing to --out-dir, exit (code 2) naming it instead of waiting.",
        ),
        click.option(
            "--show",
            type=ShowList(),
            default=None,
            metavar="LAYER[,LAYER]",
            help=f"Optional layers of the fit scene: {', '.join(SHOW_OPTIONS)} (comma-separated).",
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def scene_options_from(options: dict[str, Any]) -> dict[str, Any]:
    """The scene parameters the render options set."""
    out: dict[str, Any] = {}
    if options.get("seconds_per_step") is not None:
        out["seconds_per_step"] = options["seconds_per_step"]
    if options.get("descent_seconds") is not None:
        out["descent_seconds"] = options["descent_seconds"]
    if options.get("show"):
        out["show"] = tuple(options["show"])
    return out
