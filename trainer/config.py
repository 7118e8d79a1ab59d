"""The one configuration object that flows from the command line to the clip.

A :class:`Config` holds everything that determines a training run: the data
(true line, noise, x grid, seed), the start point, and the optimizer. Its
defaults reproduce the classic lab: 60 noisy points around y = x - 1, start
at w = -15, b = -10, plain gradient descent with lr 0.1 for 15 steps.

Examples
--------
>>> from descent.trainer import Config
>>> Config().lr
0.1
>>> Config(lr=0.2).replace(steps=30).steps
30
>>> Config(lr=-1.0).validate()
Traceback (most recent call last):
...
descent.trainer.config.ConfigError: lr must be > 0 (got -1.0)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .inputs import InputFileError, brief, brief_path, printable, read_limited
from .optimizers import OPTIMIZERS

__all__ = ["Config", "ConfigError", "OPTIMIZERS", "MAX_STEPS", "MAX_SEED", "load_toml"]

#: The longest run the trainer accepts.
MAX_STEPS = 100_000
#: A data set larger than this is refused (the trace stores every point).
MAX_POINTS = 100_000
#: torch seeds are 64-bit.
MAX_SEED = 2**63 - 1
#: The most a TOML config file may hold. A config is at most 14 short keys (a few hundred
#: bytes); 1 MB leaves room for any amount of comments while /dev/zero or a huge file is refused.
MAX_TOML_BYTES = 1 << 20


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong kind."""


@dataclass(frozen=True)
class Config:
    """Everything that determines a training run (and so a trace).

    Parameters
    ----------
    slope, bias
        The true line f(x) = slope * x + bias the data scatter around.
    noise
        Standard deviation of the Gaussian noise added to f(x).
    x_min, x_max, x_step
        The inputs are ``arange(x_min, x_max, x_step)`` (x_max excluded).
    seed
        Seed of the local random generator (noise and mini-batch order).
    w0, b0
        The start point of the descent.
    lr
        Learning rate.
    steps
        Number of updates; the trace holds ``steps + 1`` states.
    optimizer
        A name from :data:`~descent.trainer.optimizers.OPTIMIZERS` (``sgd``,
        ``momentum``, ``nesterov``, ``adam``).
    momentum
        Momentum coefficient beta for ``momentum`` and ``nesterov``.
    batch_size
        ``None`` for full-batch descent, or the mini-batch size.
    """

    slope: float = 1.0
    bias: float = -1.0
    noise: float = 0.1
    x_min: float = -3.0
    x_max: float = 3.0
    x_step: float = 0.1
    seed: int = 0
    w0: float = -15.0
    b0: float = -10.0
    lr: float = 0.1
    steps: int = 15
    optimizer: str = "sgd"
    momentum: float = 0.9
    batch_size: int | None = None

    # -- construction -----------------------------------------------------
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The config keys, in their canonical order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, where: str = "config") -> Config:
        """Build and validate a config from a mapping of known keys.

        Unknown keys are an error naming the key, so that a typo never
        silently does nothing.
        """
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            raise ConfigError(f"unknown key {brief(unknown[0])} in {where} (known keys: {', '.join(cls.keys())})")
        coerced = {k: _coerce(k, v) for k, v in values.items()}
        return cls(**coerced).validate()

    def replace(self, **changes: Any) -> Config:
        """A copy with some values changed, validated."""
        return Config.from_mapping({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain, JSON-ready dict in canonical key order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # -- validation -------------------------------------------------------
    def n_points(self) -> int:
        """How many inputs ``arange(x_min, x_max, x_step)`` yields."""
        try:
            return max(0, math.ceil((self.x_max - self.x_min) / self.x_step))
        except (OverflowError, ValueError):  # an infinite span: far too many points
            return MAX_POINTS + 1

    def validate(self) -> Config:
        """Check every value; raise :class:`ConfigError` naming the first bad one."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number (got {value})")
            if isinstance(value, float) and abs(value) > 1e100:
                raise ConfigError(f"{f.name} is out of range (|{f.name}| must be at most 1e100, got {value:.3g})")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0 (got {self.lr})")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ConfigError(f"steps must be between 1 and {MAX_STEPS} (got {self.steps:.6g})")
        if self.noise < 0:
            raise ConfigError(f"noise must be >= 0 (got {self.noise})")
        if self.x_step <= 0:
            raise ConfigError(f"x_step must be > 0 (got {self.x_step})")
        if self.x_max <= self.x_min:
            raise ConfigError(f"x_max must be > x_min (got x_min={self.x_min}, x_max={self.x_max})")
        n = self.n_points()
        if n < 2:
            raise ConfigError(f"the x grid must hold at least 2 points (got {n})")
        if n > MAX_POINTS:
            raise ConfigError(f"the x grid holds more than {MAX_POINTS} points (x_step is too small for the range)")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {brief(self.optimizer)} (choose from {', '.join(OPTIMIZERS)})")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1) (got {self.momentum})")
        if self.optimizer == "nesterov" and self.momentum == 0:  # torch.optim.SGD refuses it too
            raise ConfigError("nesterov needs a momentum above 0 (use optimizer = sgd for plain steps)")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED}")
        if self.batch_size is not None and not 1 <= self.batch_size <= n:
            raise ConfigError(
                f"batch_size must be between 1 and the number of points ({n}) (got {self.batch_size:.6g})"
            )
        return self


_INT_KEYS = {"seed", "steps", "batch_size"}
_STR_KEYS = {"optimizer"}


def _coerce(key: str, value: Any) -> Any:
    """Turn a TOML/JSON value into the type the key wants, or say why not."""
    if key == "batch_size" and (value is None or (not isinstance(value, bool) and value == 0)):
        return None  # 0 or null: full batch
    if key in _STR_KEYS:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string (got {brief(value)})")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number (got {brief(value)})")
    if key in _INT_KEYS:
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{key} must be a whole number (got {value:.6g})")
        return int(value)
    return float(value)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file of config keys (flat, or under a ``[config]`` table).

    Raises :class:`ConfigError` for an unreadable or malformed file and for
    unknown keys; values are coerced and checked when the config is built.
    """
    path = Path(path)
    shown = brief_path(path)
    try:
        raw = read_limited(path, MAX_TOML_BYTES, "config file")
    except InputFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # a byte-order mark (Windows editors write one) is skipped
    except UnicodeDecodeError:
        raise ConfigError(f"config file {shown} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {shown}: {printable(str(exc))}") from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise ConfigError(f"malformed TOML in {shown}: nested too deeply") from None
    if set(data) == {"config"} and isinstance(data["config"], dict):
        data = data["config"]
    unknown = sorted(set(data) - set(Config.keys()))
    if unknown:
        raise ConfigError(f"unknown key {brief(unknown[0])} in {shown}")
    return {k: _coerce(k, v) for k, v in data.items()}
