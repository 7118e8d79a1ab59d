"""The numbers the explorer and a clip's transcript show beside a run, from its trace's own summary.

``lr_max`` and the lowest loss L* come from :class:`descent.trainer.Trace` (its data's moments), never
recomputed here or in a page; this module only reads them and finds the first step within 10 % of L*.

Examples
--------
>>> from descent.trainer import Config, train
>>> stats = run_stats(train(Config(lr=0.2, steps=30)))
>>> stats["lr"], round(stats["lr_ratio"], 3), stats["near_step"], stats["diverged_at"]
(0.2, 0.601, 12, None)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from descent.outputs import files as fs
from descent.trainer import Trace

__all__ = ["near_level", "near_step", "run_stats", "sidecar_stats"]


def near_level(trace: Trace) -> float:
    """The loss a run must reach to count as arrived: 1.1·L* (or a hair above 0 when L* is 0)."""
    l_opt = float(trace.optimum[2])
    return 1.1 * l_opt if l_opt > 1e-12 * float(trace.loss[0]) else 1e-12 * float(trace.loss[0])


def near_step(trace: Trace) -> int | None:
    """The first step at which the run's loss is at or below 1.1·L* (None if it never is)."""
    hits = np.nonzero(np.asarray(trace.loss, dtype=float) <= near_level(trace))[0]
    return int(hits[0]) if hits.size else None


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def run_stats(trace: Trace) -> dict[str, Any]:
    """What a page shows beside one run: lr, lr_max, their ratio, L*, the step within 10 % of L*, the
    steps run, the final loss, the step it diverged at (None) and why.

    Parameters
    ----------
    trace
        The run.

    Returns
    -------
    dict
        JSON-ready (non-finite numbers as None).
    """
    lr_max = _finite(trace.lr_max)
    lr = float(trace.config.lr)
    return {
        "lr": lr,
        "optimizer": trace.config.optimizer,
        "lr_max": lr_max,
        "lr_ratio": lr / lr_max if lr_max else None,
        "l_opt": _finite(trace.optimum[2]),
        "near_step": near_step(trace),
        "steps": trace.last_k,
        "final_loss": _finite(trace.loss[-1]),
        "diverged_at": trace.diverged_at,
        "divergence": trace.divergence_text,
    }


def sidecar_stats(folder: Path, name: str, check: Mapping) -> dict[str, Any] | None:
    """:func:`run_stats` of the clip whose sidecar ``folder/name`` matches ``check`` (its size and SHA-256
    in a manifest); None when the file does not match or holds no single valid trace."""
    if not fs.verify(Path(folder), name, check):
        return None
    try:
        meta = json.loads((Path(folder) / name).read_text(encoding="utf-8"))
        return run_stats(Trace.from_dict(meta["trace"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
