"""The optimizers the trainer knows: one table, read by training, labels and names.

Adding an optimizer is one :class:`OptimizerSpec` entry here (plus its tests):
the config accepts its name, the trainer builds it, the clips label it and the
command line offers it. Its ``make`` returns anything with a ``step()`` that updates
the parameters from their ``.grad``: a ``torch.optim.Optimizer`` will do.

The built-in ones run ``torch.optim``'s own update rules through their functional
form (``torch.optim.sgd.sgd``, ``torch.optim.adam.adam``): the same arithmetic as
``torch.optim.SGD`` and ``torch.optim.Adam``, without the classes' ``step`` wrapper,
whose first call imports ``torch._dynamo`` (about 1.5 s of every command that trains).

Examples
--------
>>> from descent.trainer import Config
>>> from descent.trainer.optimizers import OPTIMIZERS
>>> [OPTIMIZERS[name].describe(Config(optimizer=name)) for name in OPTIMIZERS]
['', 'momentum β = 0.9', 'Nesterov β = 0.9', 'Adam']
>>> [OPTIMIZERS[name].label(Config(optimizer=name, momentum=0.5)) for name in OPTIMIZERS]
['sgd', 'momentum 0.5', 'nesterov 0.5', 'adam']
>>> OPTIMIZERS["sgd"].plain_gd, OPTIMIZERS["adam"].plain_gd
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config

__all__ = ["OptimizerSpec", "OPTIMIZERS"]


@dataclass(frozen=True)
class OptimizerSpec:
    """How one optimizer is built from a config, and how it is named on screen and in files.

    Parameters
    ----------
    name
        The config value (``--optimizer NAME``).
    make
        ``(config, params) -> optimizer``: anything whose ``step()`` updates ``params`` from
        their ``.grad`` (a ``torch.optim.Optimizer`` will do); imports torch itself.
    describe
        ``config -> str``: how a clip's header names it, e.g. ``"momentum β = 0.9"``
        (empty for plain gradient descent, the default the header need not name).
    plain_gd
        Whether lr_max = 2/λ_max governs divergence (plain full-batch gradient descent).
    uses_momentum
        Whether ``config.momentum`` matters (so names and labels show it).
    """

    name: str
    make: Callable[[Config, list[Any]], Any]
    describe: Callable[[Config], str]
    plain_gd: bool = False
    uses_momentum: bool = False

    def label(self, config: Config) -> str:
        """A short label for legends and file names: the name, and β where it matters."""
        return f"{self.name} {config.momentum:g}" if self.uses_momentum else self.name


class _SGD:
    """``torch.optim.SGD`` (plain, heavy-ball or Nesterov momentum, no dampening or weight decay)."""

    def __init__(self, params: list[Any], lr: float, momentum: float = 0.0, nesterov: bool = False) -> None:
        self.params, self.lr, self.momentum, self.nesterov = params, lr, momentum, nesterov
        self.buffers: list[Any] = [None] * len(params)  # filled by the first step, as the class does

    def step(self) -> None:
        import torch
        from torch.optim.sgd import sgd

        with torch.no_grad():
            sgd(
                self.params,
                [p.grad for p in self.params],
                self.buffers,
                foreach=False,
                weight_decay=0.0,
                momentum=self.momentum,
                lr=self.lr,
                dampening=0.0,
                nesterov=self.nesterov,
                maximize=False,
            )


class _Adam:
    """``torch.optim.Adam`` with its defaults (β = 0.9, 0.999, ε = 1e-8, no weight decay)."""

    def __init__(self, params: list[Any], lr: float) -> None:
        import torch

        self.params, self.lr = params, lr
        self.exp_avgs = [torch.zeros_like(p) for p in params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in params]
        # the step count's dtype as the class keeps it (float32 unless float64 is torch's default)
        dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        self.steps = [torch.tensor(0.0, dtype=dtype) for _ in params]

    def step(self) -> None:
        import torch
        from torch.optim.adam import adam

        with torch.no_grad():
            adam(
                self.params,
                [p.grad for p in self.params],
                self.exp_avgs,
                self.exp_avg_sqs,
                [],
                self.steps,
                foreach=False,
                amsgrad=False,
                beta1=0.9,
                beta2=0.999,
                lr=self.lr,
                weight_decay=0.0,
                eps=1e-8,
                maximize=False,
            )


def _sgd(config: Config, params: list[Any]) -> _SGD:
    return _SGD(params, lr=config.lr)


def _momentum(config: Config, params: list[Any]) -> _SGD:
    return _SGD(params, lr=config.lr, momentum=config.momentum)


def _nesterov(config: Config, params: list[Any]) -> _SGD:
    return _SGD(params, lr=config.lr, momentum=config.momentum, nesterov=True)


def _adam(config: Config, params: list[Any]) -> _Adam:
    return _Adam(params, lr=config.lr)


#: name → spec, in the order the command line lists them.
OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in (
        OptimizerSpec("sgd", _sgd, lambda c: "", plain_gd=True),
        OptimizerSpec("momentum", _momentum, lambda c: f"momentum β = {c.momentum:g}", uses_momentum=True),
        OptimizerSpec("nesterov", _nesterov, lambda c: f"Nesterov β = {c.momentum:g}", uses_momentum=True),
        OptimizerSpec("adam", _adam, lambda c: "Adam"),
    )
}
