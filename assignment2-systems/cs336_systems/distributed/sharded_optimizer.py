"""Optimizer-state sharding: each rank keeps optimizer state only for the parameters it owns.

`ShardedOptimizer(params, optimizer_cls, **kwargs)` is itself a `torch.optim.Optimizer` whose `param_groups` hold
every parameter (so `zero_grad`, LR schedulers and `add_param_group` behave as usual). Each parameter is assigned
to one rank (greedy by size to the least-loaded rank), and an inner `optimizer_cls` steps only the local ones, with
exactly that class's math. After the inner step every parameter is broadcast from its owner.

Hyperparameters: the inner optimizer's groups are rebuilt from the wrapper's groups before each step (every key
except "params"), so a scheduler that edits `wrapper.param_groups` is honoured.

Unlike ZeRO-1 this still needs fully all-reduced gradients on every rank and broadcasts whole parameters; ZeRO-1
reduce-scatters gradients and all-gathers parameters instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch.optim import Optimizer


class ShardedOptimizer(Optimizer):
    def __init__(self, params, optimizer_cls: type[Optimizer], **kwargs: Any):
        # Optimizer.__init__ calls self.add_param_group for each group, so this bookkeeping must exist first.
        self.optimizer_cls = optimizer_cls
        self.inner_kwargs = kwargs
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1
        self.owner: dict[int, int] = {}  # id(param) -> rank
        self.load = [0] * self.world_size  # elements owned per rank
        self.inner: Optimizer | None = None
        self._inner_group_of: list[dict | None] = []  # wrapper group index -> inner group (None: nothing local)
        super().__init__(params, defaults=kwargs)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)  # fills defaults, rejects duplicates
        group = self.param_groups[-1]
        local = []
        for p in group["params"]:
            owner = min(range(self.world_size), key=lambda r: (self.load[r], r))
            self.owner[id(p)] = owner
            self.load[owner] += p.numel()
            if owner == self.rank:
                local.append(p)
        inner_group = None
        if local:
            inner_group = {k: v for k, v in group.items() if k != "params"} | {"params": local}
            if self.inner is None:  # torch raises on an empty parameter list, so build it lazily
                self.inner = self.optimizer_cls([inner_group], **self.inner_kwargs)
            else:
                self.inner.add_param_group(inner_group)
            inner_group = self.inner.param_groups[-1]
        self._inner_group_of.append(inner_group)

    def _sync_hyperparameters(self) -> None:
        for group, inner_group in zip(self.param_groups, self._inner_group_of, strict=True):
            if inner_group is not None:
                for k, v in group.items():
                    if k != "params":
                        inner_group[k] = v

    @torch.no_grad()
    def _broadcast_from_owners(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                dist.broadcast(p.data, src=self.owner[id(p)])

    def step(self, closure: Callable[[], float] | None = None, **kwargs: Any):
        loss = None
        if self.inner is not None:
            self._sync_hyperparameters()
            loss = self.inner.step(closure, **kwargs)
        elif closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.world_size > 1:
            self._broadcast_from_owners()
        return loss
