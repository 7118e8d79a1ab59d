"""The optimizers the trainer knows: one table, read by training, labels and names.

Adding an optimizer is one :class:`OptimizerSpec` entry here (plus its tests):
the config accepts its name, the trainer builds it, the clips label it and the
command line offers it.

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
    import torch

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
        ``(config, params) -> torch.optim.Optimizer``; imports torch itself.
    describe
        ``config -> str``: how a clip's header names it, e.g. ``"momentum β = 0.9"``
        (empty for plain gradient descent, the default the header need not name).
    plain_gd
        Whether lr_max = 2/λ_max governs divergence (plain full-batch gradient descent).
    uses_momentum
        Whether ``config.momentum`` matters (so names and labels show it).
    """

    name: str
    make: Callable[[Config, list[Any]], torch.optim.Optimizer]
    describe: Callable[[Config], str]
    plain_gd: bool = False
    uses_momentum: bool = False

    def label(self, config: Config) -> str:
        """A short label for legends and file names: the name, and β where it matters."""
        return f"{self.name} {config.momentum:g}" if self.uses_momentum else self.name


def _sgd(config: Config, params: list[Any]) -> torch.optim.Optimizer:
    import torch

    return torch.optim.SGD(params, lr=config.lr)


def _momentum(config: Config, params: list[Any]) -> torch.optim.Optimizer:
    import torch

    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)


def _nesterov(config: Config, params: list[Any]) -> torch.optim.Optimizer:
    import torch

    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=True)


def _adam(config: Config, params: list[Any]) -> torch.optim.Optimizer:
    import torch

    return torch.optim.Adam(params, lr=config.lr)


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
