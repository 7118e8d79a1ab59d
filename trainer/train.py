"""Train ŷ = w·x + b with PyTorch and record every state.

Gradients come from autograd and updates from ``torch.optim``'s rules; everything is
float64 and every random draw goes through a local :class:`torch.Generator`
(a Manim Scene reseeds numpy's global generator, so nothing global is used).

Examples
--------
>>> from descent.trainer import Config, train
>>> trace = train(Config())            # the lab: lr 0.1, 15 steps from (-15, -10)
>>> trace.n_states, trace.diverged
(16, False)
>>> bool(trace.loss[-1] < trace.loss[0])
True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .analysis import Moments, view_window
from .config import Config, ConfigError
from .optimizers import OPTIMIZERS
from .trace import DIVERGENCE_LOSS, Trace

if TYPE_CHECKING:
    import torch

__all__ = ["make_data", "train"]


def make_data(config: Config, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The lab's data: x on a grid, y = slope·x + bias + noise·N(0, 1)."""
    import torch  # imported on first use: commands that only draw never pay for it

    if generator is None:
        generator = torch.Generator().manual_seed(config.seed)
    x = torch.arange(config.x_min, config.x_max, config.x_step, dtype=torch.float64)
    if x.numel() < 2:
        raise ConfigError(f"the x grid must hold at least 2 points (got {x.numel()})")
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    y = config.slope * x + config.bias + config.noise * noise
    return x, y


def _mse(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((w * x + b - y) ** 2).mean()


def train(config: Config) -> Trace:
    """Run the descent ``config`` describes and return its full trace.

    ``states[k]`` is the state after k updates with the full-data loss and
    gradient there. Training stops at the first state that is non-finite or
    whose loss exceeds :data:`DIVERGENCE_LOSS`; that k is ``diverged_at``.
    """
    import torch

    config.validate()
    gen = torch.Generator().manual_seed(config.seed)
    x, y = make_data(config, gen)
    n = x.numel()
    moments = Moments.from_data(x.numpy(), y.numpy())
    if moments.problem():  # checked first: the descent itself would only overflow
        raise ConfigError(moments.problem())
    w = torch.tensor(config.w0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(config.b0, dtype=torch.float64, requires_grad=True)
    opt = OPTIMIZERS[config.optimizer].make(config, [w, b])
    batch_size = n if config.batch_size is None else config.batch_size
    minibatch = batch_size < n

    rows: list[tuple[float, float, float, float, float]] = []
    batch_rows: list[tuple[float, float]] = []
    diverged_at: int | None = None
    reason: str | None = None
    order = torch.empty(0, dtype=torch.long)
    cursor = 0

    for k in range(config.steps + 1):
        loss = _mse(w, b, x, y)
        gw, gb = torch.autograd.grad(loss, (w, b))
        row = (w.item(), b.item(), loss.item(), gw.item(), gb.item())
        if not all(math.isfinite(v) for v in row):
            diverged_at, reason = k, "non_finite"
            break
        if row[2] > DIVERGENCE_LOSS:
            diverged_at, reason = k, "loss_limit"
            break
        rows.append(row)
        if k == config.steps:
            break
        if minibatch:
            if cursor >= n:
                cursor = 0
            if cursor == 0:
                order = torch.randperm(n, generator=gen)
            idx = order[cursor : cursor + batch_size]
            cursor += batch_size
            bgw, bgb = torch.autograd.grad(_mse(w, b, x[idx], y[idx]), (w, b))
            batch_rows.append((bgw.item(), bgb.item()))
            w.grad, b.grad = bgw, bgb
        else:
            w.grad, b.grad = gw, gb
        opt.step()

    if not rows:
        raise ConfigError(f"the start point (w0={config.w0}, b0={config.b0}) already has a loss above 1e12")
    cols = np.array(rows, dtype=np.float64).T
    xs, ys = x.numpy().copy(), y.numpy().copy()
    w_opt, b_opt, _ = moments.optimum()
    window = view_window((config.w0, config.b0), (w_opt, b_opt), zip(cols[0], cols[1], strict=False))
    batch = np.array(batch_rows, dtype=np.float64).T if minibatch and batch_rows else None
    return Trace(
        config=config,
        x=xs,
        y=ys,
        w=cols[0],
        b=cols[1],
        loss=cols[2],
        grad_w=cols[3],
        grad_b=cols[4],
        diverged_at=diverged_at,
        diverged_reason=reason,
        moments=moments,
        window=window,
        batch_grad_w=batch[0] if batch is not None else None,
        batch_grad_b=batch[1] if batch is not None else None,
    )
