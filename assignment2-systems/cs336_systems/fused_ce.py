"""Fused LM head + cross-entropy that never materialises the full (tokens x vocab) logits.

`fused_linear_cross_entropy(hidden, weight, targets)` equals
`F.cross_entropy((hidden @ weight.T).float(), targets)` (mean or sum over tokens) but walks the tokens in chunks of
`chunk_size`: only one (chunk x vocab) block of logits exists at a time.

Because the loss is a scalar at the end of the graph, the gradients with respect to `hidden` and `weight` are
computed in the same pass as the loss (per chunk: p = softmax(logits); dlogits = (p - onehot(target)) / n;
dH_chunk = dlogits @ W; dW += dlogits^T @ H_chunk, accumulated in fp32). Backward then only scales them by the
incoming gradient, so the logits are never recomputed. Memory: one chunk of logits in fp32 plus its low-precision
copy, dH (the size of `hidden`) and dW (fp32, the size of `weight`).

Numerics follow the plain model in the compute dtype: the logits GEMM runs in the inputs' dtype (bf16 under the
leaderboard config) and the softmax / log-sum-exp in fp32, like `cross_entropy(logits.float(), targets)`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cs336_systems.errors import ConfigError

__all__ = ["fused_linear_cross_entropy"]


class _FusedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, targets: Tensor, chunk_size: int, mean: bool) -> Tensor:
        n = hidden.shape[0]
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        denom = float(n) if mean else 1.0
        acc = torch.promote_types(hidden.dtype, torch.float32)  # fp32 softmax (fp64 stays fp64)
        total = torch.zeros((), dtype=acc, device=hidden.device)
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=acc, device=weight.device) if need_w else None
        for start in range(0, n, chunk_size):
            h = hidden[start : start + chunk_size]
            t = targets[start : start + chunk_size].unsqueeze(1)
            logits = (h @ weight.t()).to(acc)  # (chunk, vocab): the only logits alive
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t).squeeze(1)).sum()
            if need_h or need_w:
                probs = logits.sub_(lse.unsqueeze(1)).exp_()  # in place: softmax
                probs.scatter_add_(1, t, torch.full_like(t, -1.0, dtype=probs.dtype))
                dlogits = probs.mul_(1.0 / denom).to(hidden.dtype)
                del logits, probs
                if need_h:
                    torch.matmul(dlogits, weight, out=grad_h[start : start + chunk_size])
                if need_w:
                    grad_w += dlogits.t() @ h
        ctx.save_for_backward(grad_h, grad_w)
        ctx.weight_dtype = weight.dtype
        return total / denom

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        grad_h, grad_w = ctx.saved_tensors
        dh = grad_h * grad_out.to(grad_h.dtype) if grad_h is not None else None
        dw = (grad_w * grad_out).to(ctx.weight_dtype) if grad_w is not None else None
        return dh, dw, None, None, None


def fused_linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    targets: Tensor,
    *,
    chunk_size: int = 4096,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy of `hidden @ weight.T` against `targets` without building the full logits.

    hidden: (..., d); weight: (vocab, d); targets: integer (...) with values in [0, vocab). Returns an fp32 scalar,
    the mean (or sum) over all positions.
    """
    if reduction not in ("mean", "sum"):
        raise ConfigError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if weight.dim() != 2 or hidden.shape[-1] != weight.shape[1]:
        raise ConfigError(f"hidden (..., {hidden.shape[-1]}) does not match weight {tuple(weight.shape)}")
    if hidden.dtype != weight.dtype:
        raise ConfigError(f"hidden ({hidden.dtype}) and weight ({weight.dtype}) must share a dtype")
    if targets.shape != hidden.shape[:-1]:
        raise ConfigError(f"targets {tuple(targets.shape)} must have shape {tuple(hidden.shape[:-1])}")
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ConfigError(f"targets must be integer class ids, got {targets.dtype}")
    if targets.numel() == 0:
        raise ConfigError("fused_linear_cross_entropy needs at least one target")
    lo, hi = int(targets.min()), int(targets.max())
    if lo < 0 or hi >= weight.shape[0]:
        raise ConfigError(f"targets must lie in [0, {weight.shape[0]}), got values in [{lo}, {hi}]")
    h2 = hidden.reshape(-1, hidden.shape[-1])
    t1 = targets.reshape(-1).long()
    return _FusedLinearCrossEntropy.apply(h2, weight, t1, chunk_size, reduction == "mean")
