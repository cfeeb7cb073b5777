"""How the training loop spreads over processes: a small registry of parallelism strategies (`run.parallel`).

`none` (built in) is one process and the model as it is. `ddp` and `fsdp` are data parallel over torch.distributed
and live in the cs336-systems package (assignment 2 builds on assignment 1, never the reverse): asking for them
imports `cs336_systems.distributed.train_parallel`, which registers them. Nothing here imports cs336_systems until
then, and a missing package is a one-line error naming it.

The training loop talks to a strategy only through `Parallelism`'s methods: set up the process (group) and device,
wrap the model, bracket each micro-step's backward (skip or finish gradient synchronisation), clip by the global
gradient norm, reduce metrics, and describe which state-dict tensors are sharded (for checkpoints). Every method of
a data-parallel strategy that communicates is a collective: all ranks call it at the same point.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch

from cs336_basics.config import TrainConfig
from cs336_basics.errors import ConfigError

# name -> module that registers it on import (plug-ins that are not part of this package)
_PROVIDERS = {
    "ddp": ("cs336_systems.distributed.train_parallel", "cs336-systems"),
    "fsdp": ("cs336_systems.distributed.train_parallel", "cs336-systems"),
}
_REGISTRY: dict[str, Callable[[TrainConfig], Parallelism]] = {}


class Parallelism:
    """The `none` strategy: one process; every hook is the single-process behaviour. Data-parallel strategies
    subclass it and override what they change."""

    name = "none"

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.rank = 0
        self.world_size = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- process and model -------------------------------------------------------------------------------------
    def setup(self) -> torch.device:
        """Join the process group (if any) and pick this rank's device."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1:
            raise ConfigError(
                f"this process is one of WORLD_SIZE={world} ranks (torchrun) but run.parallel is 'none'; "
                "pass --parallel ddp or --parallel fsdp"
            )
        from cs336_basics.train import select_device

        return select_device(self.cfg.run.device)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module the loop calls for forward passes (a DDP/FSDP container, or `model` itself)."""
        return model

    @contextlib.contextmanager
    def micro_step(self, wrapped: torch.nn.Module, last: bool) -> Iterator[None]:
        """Brackets one micro-step's forward + backward; `last` = the final micro-step of an optimizer step
        (where data-parallel strategies synchronise gradients)."""
        yield

    def clip_grad_norm(self, wrapped: torch.nn.Module, max_norm: float) -> torch.Tensor:
        """Clip every gradient by the global norm over all ranks' parameters; return the pre-clip norm."""
        from cs336_basics.nn_utils import clip_gradient

        return clip_gradient(wrapped.parameters(), max_norm)

    def shard_layout(self, wrapped: torch.nn.Module) -> dict[str, tuple[int, int]]:
        """{state_dict key: (full rows, rows per rank)} of the dim-0 sharded tensors; empty = all replicated."""
        return {}

    def full_state_dict(self, wrapped: torch.nn.Module, model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
        """Collective. The model's full (unsharded) state_dict on rank 0, None on the other ranks."""
        return model.state_dict()

    # ---- communication -----------------------------------------------------------------------------------------
    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """In-place sum/max over ranks (identity for one process)."""
        return tensor

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank."""
        return obj

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        """Leave the process group (when this strategy created it)."""


def register_parallelism(name: str, factory: Callable[[TrainConfig], Parallelism]) -> None:
    """Make `run.parallel = name` build its strategy with `factory(cfg)`."""
    _REGISTRY[name] = factory


register_parallelism("none", Parallelism)


def create_parallelism(cfg: TrainConfig) -> Parallelism:
    """The strategy named by `cfg.run.parallel`, importing its provider package on first use."""
    name = cfg.run.parallel
    if name not in _REGISTRY and name in _PROVIDERS:
        module, package = _PROVIDERS[name]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            raise ConfigError(
                f"--parallel {name} is provided by the {package} package ({module}), which is not installed; "
                "install it (uv sync --all-packages in the monorepo) or use --parallel none"
            ) from exc
    if name not in _REGISTRY:
        raise ConfigError(f"unknown parallelism {name!r}; available: {', '.join(sorted({*_REGISTRY, *_PROVIDERS}))}")
    return _REGISTRY[name](cfg)
