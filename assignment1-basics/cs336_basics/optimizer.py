"""AdamW (decoupled weight decay, handout order), the handout's toy SGD and the cosine schedule with warmup."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from cs336_basics.errors import ConfigError

__all__ = ["SGD", "AdamW", "get_cosine_lr", "lr_cosine_schedule"]


class SGD(torch.optim.Optimizer):
    """The handout's example: p ← p − lr/√(t+1)·g with a per-parameter step counter t starting at 0."""

    def __init__(self, params, lr: float = 1e-3):
        if lr < 0:
            raise ConfigError(f"invalid learning rate {lr}")
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                t = state.get("t", 0)
                p.add_(p.grad, alpha=-group["lr"] / math.sqrt(t + 1))
                state["t"] = t + 1
        return loss


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay, in the handout's order (Loshchilov & Hutter, Algorithm 2).

    Per parameter: m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  α_t = α √(1−β2^t) / (1−β1^t);
    p ← p − α_t m / (√v + ε);  p ← p − α λ p  (decay uses the base α, after the Adam step).
    State per parameter: `t` (int, 1 on the first update), `m`, `v` — tensors and Python scalars only, so it
    round-trips through `torch.load(weights_only=True)`. `group["lr"]` is read every step (schedules overwrite it).

    `foreach=True` (default) updates each group with multi-tensor kernels (a handful of launches for the whole model
    instead of ~6 per parameter); `foreach=False` is the plain per-parameter loop. Both give the same numbers.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        *,
        foreach: bool = True,
    ):
        if lr < 0:
            raise ConfigError(f"invalid learning rate {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ConfigError(f"betas must lie in [0, 1), got {betas}")
        if eps < 0:
            raise ConfigError(f"invalid eps {eps}")
        if weight_decay < 0:
            raise ConfigError(f"invalid weight_decay {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach))

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if p.grad.is_sparse:
                    raise RuntimeError("AdamW does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["v"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["t"] += 1
            if group.get("foreach", True):
                self._step_foreach(group, params)
            else:
                self._step_loop(group, params)
        return loss

    def _step_loop(self, group: dict, params: list[torch.Tensor]) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for p in params:
            state = self.state[p]
            t, m, v, g = state["t"], state["m"], state["v"], p.grad
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            alpha_t = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
            p.addcdiv_(m, v.sqrt().add_(eps), value=-alpha_t)
            if wd:
                p.mul_(1 - lr * wd)

    def _step_foreach(self, group: dict, params: list[torch.Tensor]) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        # Multi-tensor kernels need one device and dtype per call.
        buckets: dict[tuple, list[torch.Tensor]] = {}
        for p in params:
            buckets.setdefault((p.device, p.dtype), []).append(p)
        for bucket in buckets.values():
            grads = [p.grad for p in bucket]
            ms = [self.state[p]["m"] for p in bucket]
            vs = [self.state[p]["v"] for p in bucket]
            steps = [self.state[p]["t"] for p in bucket]
            torch._foreach_mul_(ms, beta1)
            torch._foreach_add_(ms, grads, alpha=1 - beta1)
            torch._foreach_mul_(vs, beta2)
            torch._foreach_addcmul_(vs, grads, grads, value=1 - beta2)
            denom = torch._foreach_sqrt(vs)
            torch._foreach_add_(denom, eps)
            step_sizes = [-lr * math.sqrt(1 - beta2**t) / (1 - beta1**t) for t in steps]
            torch._foreach_addcdiv_(bucket, ms, denom, step_sizes)
            if wd:
                torch._foreach_mul_(bucket, 1 - lr * wd)


def get_cosine_lr(
    it: int,
    max_learning_rate: float,
    min_learning_rate: float,
    warmup_iters: int,
    cosine_cycle_iters: int,
) -> float:
    """Linear warmup for it < T_w (it = 0 gives 0), cosine from max to min on T_w ≤ it ≤ T_c, then min.

    T_w = 0 skips the warmup; T_c = T_w makes the cosine branch a single point at max.
    """
    if warmup_iters < 0 or cosine_cycle_iters < warmup_iters:
        raise ConfigError(
            f"need 0 <= warmup_iters <= cosine_cycle_iters, got warmup_iters={warmup_iters}, "
            f"cosine_cycle_iters={cosine_cycle_iters}"
        )
    if it < warmup_iters:
        return max_learning_rate * it / warmup_iters
    if it > cosine_cycle_iters:
        return min_learning_rate
    if cosine_cycle_iters == warmup_iters:
        return max_learning_rate
    progress = (it - warmup_iters) / (cosine_cycle_iters - warmup_iters)
    return min_learning_rate + 0.5 * (1 + math.cos(math.pi * progress)) * (max_learning_rate - min_learning_rate)


lr_cosine_schedule = get_cosine_lr
