"""Numerically stable softmax / log-softmax / cross-entropy, perplexity and global-norm gradient clipping."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from jaxtyping import Float, Int
from torch import Tensor

__all__ = [
    "clip_gradient",
    "cross_entropy",
    "global_grad_norm",
    "gradient_clipping",
    "log_softmax",
    "perplexity",
    "softmax",
]


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x - max) / sum(exp(x - max)) along `dim`; adding a constant to x leaves the result unchanged."""
    shifted = x - x.amax(dim=dim, keepdim=True)
    exps = shifted.exp()
    return exps / exps.sum(dim=dim, keepdim=True)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """x - logsumexp(x) along `dim`, with the max subtracted first (finite for very large inputs)."""
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


def cross_entropy(inputs: Float[Tensor, "... V"], targets: Int[Tensor, " ..."]) -> Float[Tensor, ""]:
    """Mean over every leading position of logsumexp(o) - o[target].

    Low-precision logits (bf16 under autocast) are upcast once; `torch.logsumexp` subtracts the max internally, so
    logits ×1000 stay finite. Under torch.compile the upcast, reduction and gather fuse into one pass.
    """
    if inputs.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(inputs.shape)} and targets {tuple(targets.shape)} disagree on leading dims")
    logits = inputs.to(torch.promote_types(inputs.dtype, torch.float32))  # bf16/fp16 → fp32; fp64 stays
    target_logits = logits.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    return (torch.logsumexp(logits, dim=-1) - target_logits).mean()


def perplexity(inputs: Float[Tensor, "... V"], targets: Int[Tensor, " ..."]) -> Float[Tensor, ""]:
    """exp(mean cross-entropy)."""
    return cross_entropy(inputs, targets).exp()


def global_grad_norm(parameters: Iterable[torch.nn.Parameter]) -> Tensor:
    """L2 norm of all gradients taken together (parameters without a gradient are skipped), as a 0-d fp32 tensor."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    # Low-precision gradients are reduced in fp32; fp64 stays fp64. Per-tensor norms meet on the first grad's device.
    dtype = torch.promote_types(torch.float32, grads[0].dtype)
    norms = [torch.linalg.vector_norm(g, dtype=torch.promote_types(g.dtype, dtype)) for g in grads]
    return torch.linalg.vector_norm(torch.stack([n.to(device=grads[0].device, dtype=dtype) for n in norms]))


def clip_gradient(parameters: Iterable[torch.nn.Parameter], max_norm: float, eps: float = 1e-6) -> Tensor:
    """Scale every gradient in place by max_norm / (norm + eps) when the global norm exceeds max_norm.

    Returns the pre-clip global norm as a 0-d tensor (no host sync; call `.item()` when logging). The scale is
    clamped to 1 instead of branching on the norm, which is the same rule without a GPU→CPU round trip.
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    params = [p for p in parameters if p.grad is not None]
    total = global_grad_norm(params)
    if not params:
        return total
    scale = (max_norm / (total + eps)).clamp(max=1.0)
    for p in params:
        p.grad.mul_(scale.to(device=p.grad.device, dtype=p.grad.dtype))
    return total


gradient_clipping = clip_gradient
