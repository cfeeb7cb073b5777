"""Registers our FlashAttention-2 with the assignment 1 model's attention-backend registry.

After `register_flash_backends()`, `TransformerLM(..., attn_backend="flash_triton")` (or "flash_torch") uses it.
Backends receive (batch, heads, seq, d_k) tensors; the model's causal convention is bottom-right aligned, which is the
same as ours when n_queries == n_keys; other shapes (KV-cache decoding) fall back to torch SDPA with an explicit mask.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from cs336_systems.flash_attention import FlashAttentionPytorch, get_flash_attention_triton

__all__ = ["register_flash_backends"]


def _fallback(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    n_q, n_k = q.shape[-2], k.shape[-2]
    mask = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril(diagonal=n_k - n_q)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _common_dtype(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    # Under autocast the projections are already in one dtype; anything else is cast to q's dtype.
    return q, k.to(q.dtype), v.to(q.dtype)


@functools.cache
def _flash_triton_apply():
    """The Triton Function's `apply`, run eagerly inside compiled models (a graph break): torch 2.11's dynamo fails to
    trace the kernel launcher (lazy import, autotune lookup); the kernels are compiled by Triton either way. Built
    on first use, since `torch.compiler.disable` imports dynamo (and with it Triton), which `import cs336_systems`
    must not do."""
    return torch.compiler.disable(get_flash_attention_triton().apply)


def flash_triton_backend(q: Tensor, k: Tensor, v: Tensor, is_causal: bool) -> Tensor:
    if is_causal and q.shape[-2] != k.shape[-2]:
        return _fallback(q, k, v)
    return _flash_triton_apply()(*_common_dtype(q, k, v), is_causal)


def flash_torch_backend(q: Tensor, k: Tensor, v: Tensor, is_causal: bool) -> Tensor:
    if is_causal and q.shape[-2] != k.shape[-2]:
        return _fallback(q, k, v)
    return FlashAttentionPytorch.apply(*_common_dtype(q, k, v), is_causal)


def register_flash_backends() -> None:
    """Idempotent: (re)registers "flash_triton" and "flash_torch" in cs336_basics.model."""
    from cs336_basics.model import register_attention_backend

    register_attention_backend("flash_triton", flash_triton_backend, overwrite=True)
    register_attention_backend("flash_torch", flash_torch_backend, overwrite=True)
