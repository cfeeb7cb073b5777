"""FlashAttention-2: a tiled pure-PyTorch autograd.Function (the CPU oracle) and a dispatcher to the Triton one.

Both Functions follow one contract (spec §1.3.1):

    O = Cls.apply(Q, K, V, is_causal)      # Q (..., N_q, d), K/V (..., N_k, d); O has Q's shape and dtype

The forward saves exactly `(L, Q, K, V, O)` where L (Q.shape[:-1], fp32) is the logsumexp of the scaled, masked
scores; the backward follows the FA2 equations with D = rowsum(dO ∘ O). Causal masking is top-left aligned
(query i may see key j iff i >= j), with the softmax scale 1/sqrt(d).

The Triton Function lives in `cs336_systems.kernels` and is imported only when asked for, so that importing this
module (and `cs336_systems`) never needs Triton or a GPU.
"""

from __future__ import annotations

import math
import os

import torch
from torch import Tensor

from cs336_systems.errors import ConfigError

__all__ = [
    "FlashAttentionPytorch",
    "flash_attention",
    "get_flash_attention_triton",
    "reference_attention",
    "triton_available",
]

MASK_VALUE = -1e6  # added to disallowed scores (spec: not -inf, so fully masked tiles stay finite)


def check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    """Shape/dtype validation shared by both implementations; raises ConfigError naming the problem."""
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ConfigError(
            f"q, k, v must have the same rank >= 2, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.shape[:-2] != k.shape[:-2] or k.shape != v.shape:
        raise ConfigError(f"incompatible q/k/v shapes {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ConfigError(f"q and k head dims differ: {q.shape[-1]} vs {k.shape[-1]}")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise ConfigError(f"q, k, v dtypes differ: {q.dtype}, {k.dtype}, {v.dtype}")
    if not q.dtype.is_floating_point:
        raise ConfigError(f"attention needs floating-point inputs, got {q.dtype}")
    if q.shape[-2] == 0 or k.shape[-2] == 0:
        raise ConfigError("attention needs at least one query and one key")


def reference_attention(q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> tuple[Tensor, Tensor]:
    """Naive attention in the inputs' dtype: returns (O, L). The float64 oracle in tests (pass float64 inputs)."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    s = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        n_q, n_k = q.shape[-2], k.shape[-2]
        allowed = torch.arange(n_q, device=q.device)[:, None] >= torch.arange(n_k, device=q.device)[None, :]
        s = torch.where(allowed, s, s + MASK_VALUE)
    lse = torch.logsumexp(s, dim=-1)
    return torch.softmax(s, dim=-1) @ v, lse


# ---------------------------------------------------------------------------------------------------------------
# Tiled PyTorch forward (Algorithm 1) and the FA2 backward (equations 13-19).


def _tiled_forward(q: Tensor, k: Tensor, v: Tensor, is_causal: bool, tile_q: int, tile_k: int) -> tuple[Tensor, Tensor]:
    """Q (B, Nq, d), K/V (B, Nk, d) → O (B, Nq, d) in Q's dtype, L (B, Nq) fp32. Running m, l, O_acc in fp32."""
    batch, n_q, d = q.shape
    n_k = k.shape[1]
    scale = 1.0 / math.sqrt(d)
    o = torch.empty_like(q)
    lse = torch.empty(batch, n_q, dtype=torch.float32, device=q.device)
    for qs in range(0, n_q, tile_q):
        qi = q[:, qs : qs + tile_q].float()
        rows = qi.shape[1]
        m = torch.full((batch, rows), float("-inf"), dtype=torch.float32, device=q.device)
        l_sum = torch.zeros(batch, rows, dtype=torch.float32, device=q.device)
        acc = torch.zeros(batch, rows, d, dtype=torch.float32, device=q.device)
        q_idx = torch.arange(qs, qs + rows, device=q.device)
        # Causal: key tiles entirely above the diagonal (first key > last query) contribute nothing; skip them.
        k_end = min(n_k, qs + rows) if is_causal else n_k
        for ks in range(0, k_end, tile_k):
            kj = k[:, ks : ks + tile_k].float()
            vj = v[:, ks : ks + tile_k].float()
            s = (qi @ kj.transpose(1, 2)) * scale
            if is_causal:
                k_idx = torch.arange(ks, ks + kj.shape[1], device=q.device)
                s = torch.where(q_idx[:, None] >= k_idx[None, :], s, s + MASK_VALUE)
            m_new = torch.maximum(m, s.amax(dim=-1))
            p = torch.exp(s - m_new[..., None])
            alpha = torch.exp(m - m_new)
            l_sum = alpha * l_sum + p.sum(dim=-1)
            acc = alpha[..., None] * acc + p @ vj
            m = m_new
        o[:, qs : qs + rows] = (acc / l_sum[..., None]).to(q.dtype)
        lse[:, qs : qs + rows] = m + torch.log(l_sum)
    return o, lse


def flash_backward_reference(
    q: Tensor, k: Tensor, v: Tensor, o: Tensor, do: Tensor, lse: Tensor, is_causal: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """FA2 backward in plain PyTorch (materialises N_q x N_k per batch), fp32 internally, grads in the input dtype."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    qf, kf, vf, of, dof = (t.float() for t in (q, k, v, o, do))
    d_vec = (dof * of).sum(dim=-1)  # D = rowsum(dO ∘ O), computed once
    s = (qf @ kf.transpose(-2, -1)) * scale
    if is_causal:
        n_q, n_k = q.shape[-2], k.shape[-2]
        allowed = torch.arange(n_q, device=q.device)[:, None] >= torch.arange(n_k, device=q.device)[None, :]
        s = torch.where(allowed, s, s + MASK_VALUE)
    p = torch.exp(s - lse[..., None])
    dv = p.transpose(-2, -1) @ dof
    dp = dof @ vf.transpose(-2, -1)
    ds = p * (dp - d_vec[..., None])
    dq = (ds @ kf) * scale
    dk = (ds.transpose(-2, -1) @ qf) * scale
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


_compiled_backward = None


def _backward_fn():
    """Eager by default on CPU; `CS336_FLASH_BACKWARD=compile` wraps the backward in torch.compile (spec §1.3.4)."""
    global _compiled_backward
    if os.environ.get("CS336_FLASH_BACKWARD", "eager") != "compile":
        return flash_backward_reference
    if _compiled_backward is None:
        _compiled_backward = torch.compile(flash_backward_reference)
    return _compiled_backward


def _flatten(t: Tensor) -> Tensor:
    return t.reshape(-1, t.shape[-2], t.shape[-1])


class FlashAttentionPytorch(torch.autograd.Function):
    """Tiled FA2 in pure PyTorch. Deliberately simple and slow: the oracle the Triton kernels are debugged against."""

    TILE_Q = 16
    TILE_K = 16

    @staticmethod
    def forward(ctx, Q: Tensor, K: Tensor, V: Tensor, is_causal: bool = False) -> Tensor:
        check_qkv(Q, K, V)
        o, lse = _tiled_forward(
            _flatten(Q),
            _flatten(K),
            _flatten(V),
            bool(is_causal),
            FlashAttentionPytorch.TILE_Q,
            FlashAttentionPytorch.TILE_K,
        )
        o = o.reshape(Q.shape)
        lse = lse.reshape(Q.shape[:-1])
        ctx.save_for_backward(lse, Q, K, V, o)
        ctx.is_causal = bool(is_causal)
        return o

    @staticmethod
    def backward(ctx, dO: Tensor):
        lse, q, k, v, o = ctx.saved_tensors
        dq, dk, dv = _backward_fn()(q, k, v, o, dO, lse, ctx.is_causal)
        return dq, dk, dv, None


# ---------------------------------------------------------------------------------------------------------------
# Dispatch.


def triton_available() -> bool:
    """True when Triton imports and can run: a CUDA device, or the interpreter (TRITON_INTERPRET=1)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"


def get_flash_attention_triton() -> type:
    """The Triton-backed Function class (imports Triton on first use)."""
    try:
        from cs336_systems.kernels.flash_triton import FlashAttentionTriton
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(f"the Triton FlashAttention needs the `triton` package: {exc}") from exc
    return FlashAttentionTriton


def flash_attention(q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False, impl: str = "auto") -> Tensor:
    """FlashAttention-2 on (..., N, d) inputs. impl: "torch" (tiled PyTorch), "triton", or "auto" (Triton on CUDA)."""
    if impl not in ("auto", "torch", "triton"):
        raise ConfigError(f"unknown flash attention impl {impl!r}; expected auto, torch or triton")
    if impl == "auto":
        impl = "triton" if q.is_cuda and triton_available() else "torch"
    if impl == "triton":
        return get_flash_attention_triton().apply(q, k, v, is_causal)
    return FlashAttentionPytorch.apply(q, k, v, is_causal)


def __getattr__(name: str):
    # `from cs336_systems.flash_attention import FlashAttentionTriton` works, importing Triton only then.
    if name == "FlashAttentionTriton":
        return get_flash_attention_triton()
    raise AttributeError(name)
