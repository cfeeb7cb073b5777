"""Transformer building blocks written from scratch: Linear, Embedding, RMSNorm, SiLU, the two FFNs and RoPE.

Only `nn.Parameter` and `nn.Module` come from torch.nn; initialisation uses `torch.nn.init.trunc_normal_` as the
handout requires. Weights follow the PyTorch layout (Linear `weight` is (d_out, d_in)), so the reference state dicts
load with `strict=True`. Everything is re-exported from `cs336_basics.model`.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from jaxtyping import Float, Int
from torch import Tensor, nn

from cs336_basics.errors import ConfigError


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


class Linear(nn.Module):
    """y = x Wᵀ with no bias. `weight` is (out_features, in_features), truncated-normal σ² = 2/(d_in + d_out), ±3σ.

    The forward pass reads `self.weight` at call time and keeps no other state, so hooks that swap
    `.weight.data` (A2's FSDP) see their change.
    """

    def __init__(self, in_features: int, out_features: int, device=None, dtype=None):
        super().__init__()
        _check_positive(in_features=in_features, out_features=out_features)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = math.sqrt(2.0 / (self.in_features + self.out_features))
        nn.init.trunc_normal_(self.weight, mean=0.0, std=std, a=-3 * std, b=3 * std)

    def forward(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_out"]:
        # matmul against the transposed view is the same GEMM F.linear issues; no copy of the weight is made.
        return x @ self.weight.t()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias=False"


class Embedding(nn.Module):
    """Lookup table `weight` (num_embeddings, embedding_dim), truncated normal σ = 1 cut at ±3."""

    def __init__(self, num_embeddings: int, embedding_dim: int, device=None, dtype=None):
        super().__init__()
        _check_positive(num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.weight = nn.Parameter(torch.empty(num_embeddings, embedding_dim, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.weight, mean=0.0, std=1.0, a=-3.0, b=3.0)

    def forward(self, token_ids: Int[Tensor, " ..."]) -> Float[Tensor, "... d"]:
        # Plain indexing: its backward (index_put with accumulate) is allowed under deterministic algorithms.
        return self.weight[token_ids]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · g, computed in fp32 and cast back to the input dtype. The gain starts at ones."""

    def __init__(self, d_model: int, eps: float = 1e-5, device=None, dtype=None):
        super().__init__()
        _check_positive(d_model=d_model)
        self.d_model = d_model
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(d_model, device=device, dtype=dtype))

    def forward(self, x: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
        in_dtype = x.dtype
        x32 = x.float()
        # rsqrt of the mean square: one reduction and pointwise ops, which torch.compile fuses into one kernel.
        inv_rms = torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (x32 * inv_rms * self.weight.float()).to(in_dtype)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}"


def silu(x: Tensor) -> Tensor:
    """SiLU(x) = x·σ(x)."""
    return x * torch.sigmoid(x)


class _StackedLinearSavingParts(torch.autograd.Function):
    """x @ cat(weights)ᵀ whose backward keeps the weights themselves, not their concatenation.

    The plain `x @ torch.cat(weights).t()` makes autograd save the concatenated copy until backward: a full copy of
    those weights per layer. A2's FSDP frees gathered weights right after use and re-gathers them in backward, which
    only works if autograd saves the gathered tensors themselves; this Function concatenates again in backward.
    Under autocast the forward matmul runs in the autocast dtype; backward computes in the output gradient's dtype
    (autograd casts each gradient back to its input's dtype)."""

    @staticmethod
    def forward(ctx, x, *weights):
        ctx.save_for_backward(x, *weights)
        return x @ torch.cat(weights, dim=0).t()

    @staticmethod
    def backward(ctx, grad_out):
        x, *weights = ctx.saved_tensors
        dtype = grad_out.dtype
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out @ torch.cat([w.to(dtype) for w in weights], dim=0)
        grads_w = [None] * len(weights)
        if any(ctx.needs_input_grad[1:]):
            g_w = grad_out.reshape(-1, grad_out.shape[-1]).t() @ x.reshape(-1, x.shape[-1]).to(dtype)
            grads_w = list(g_w.split([w.shape[0] for w in weights], dim=0))
        return grad_x, *grads_w


def stacked_linear(x: Tensor, weights: list[Tensor], *, save_parts: bool = False) -> Tensor:
    """`x @ cat(weights)ᵀ`: several projections of the same input as one GEMM. `save_parts=True` keeps the weights
    rather than their concatenation for backward (same result; what sharded-weight wrappers such as A2's FSDP need)."""
    if save_parts and torch.is_grad_enabled():
        return _StackedLinearSavingParts.apply(x, *weights)
    return x @ torch.cat(weights, dim=0).t()


def default_d_ff(d_model: int, multiple_of: int = 64) -> int:
    """The staff rule for SwiGLU width: floor(8/3·d / 64)·64 (1344 for d = 512, 2048 for d = 768)."""
    return max(multiple_of, int(8 * d_model / 3) // multiple_of * multiple_of)


class SwiGLU(nn.Module):
    """W2 (SiLU(W1 x) ⊙ W3 x) with w1, w3 (d_ff, d_model) and w2 (d_model, d_ff).

    W1 and W3 run as one matmul over their concatenated rows (one GEMM instead of two); the parameters stay separate
    Linear modules so the state-dict keys are `w1.weight`, `w2.weight`, `w3.weight`. `save_weight_parts = True` makes
    backward keep w1/w3 instead of their concatenation (see `stacked_linear`; A2's FSDP sets it).
    """

    save_weight_parts = False

    def __init__(self, d_model: int, d_ff: int, device=None, dtype=None):
        super().__init__()
        _check_positive(d_model=d_model, d_ff=d_ff)
        self.d_model = d_model
        self.d_ff = d_ff
        self.w1 = Linear(d_model, d_ff, device=device, dtype=dtype)
        self.w2 = Linear(d_ff, d_model, device=device, dtype=dtype)
        self.w3 = Linear(d_model, d_ff, device=device, dtype=dtype)

    def forward(self, x: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
        h = stacked_linear(x, [self.w1.weight, self.w3.weight], save_parts=self.save_weight_parts)
        gate, up = h.split(self.d_ff, dim=-1)
        return self.w2(silu(gate) * up)


class SiLUFFN(nn.Module):
    """W2 SiLU(W1 x), the non-gated ablation. Its default d_ff = 4·d roughly matches SwiGLU's 3·(8/3)·d² parameters."""

    def __init__(self, d_model: int, d_ff: int | None = None, device=None, dtype=None):
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        _check_positive(d_model=d_model, d_ff=d_ff)
        self.d_model = d_model
        self.d_ff = d_ff
        self.w1 = Linear(d_model, d_ff, device=device, dtype=dtype)
        self.w2 = Linear(d_ff, d_model, device=device, dtype=dtype)

    def forward(self, x: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
        return self.w2(silu(self.w1(x)))


class RotaryPositionalEmbedding(nn.Module):
    """RoPE on interleaved pairs (x[2j], x[2j+1]) rotated by pos·Θ^(−2j/d_k); the output stays interleaved.

    cos/sin tables (max_seq_len, d_k/2) are non-persistent buffers, so strict state-dict loading ignores them.
    `token_positions` broadcasts against the batch dims of x: (T,), (1, T), (B, T), or (B, 1, T) inside attention.
    """

    def __init__(self, theta: float, d_k: int, max_seq_len: int, device=None):
        super().__init__()
        _check_positive(d_k=d_k, max_seq_len=max_seq_len)
        if d_k % 2:
            raise ConfigError(f"RoPE needs an even head dimension, got d_k={d_k}")
        if not theta > 0:
            raise ConfigError(f"RoPE theta must be positive, got {theta!r}")
        self.theta = float(theta)
        self.d_k = d_k
        self.max_seq_len = max_seq_len
        inv_freq = self.theta ** (-torch.arange(0, d_k, 2, device=device, dtype=torch.float64) / d_k)
        angles = torch.outer(torch.arange(max_seq_len, device=device, dtype=torch.float64), inv_freq)
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(
        self, x: Float[Tensor, "... T d"], token_positions: Int[Tensor, "... T"] | None = None
    ) -> Float[Tensor, "... T d"]:
        if x.shape[-1] != self.d_k:
            raise ConfigError(f"RoPE built for d_k={self.d_k} got input with last dim {x.shape[-1]}")
        if token_positions is None:
            seq_len = x.shape[-2]
            if seq_len > self.max_seq_len:
                raise ConfigError(f"sequence length {seq_len} exceeds the RoPE table ({self.max_seq_len} positions)")
            cos, sin = self.cos[:seq_len], self.sin[:seq_len]
        else:
            cos, sin = self.cos[token_positions], self.sin[token_positions]
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        x_even, x_odd = x[..., 0::2], x[..., 1::2]
        rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
        return rearrange(rotated, "... half two -> ... (half two)")

    def extra_repr(self) -> str:
        return f"theta={self.theta}, d_k={self.d_k}, max_seq_len={self.max_seq_len}"


class RotaryEmbedding(RotaryPositionalEmbedding):
    """The staff signature `RotaryEmbedding(context_length, dim, theta=10000.0)` with `forward(x, pos_ids=None)`.

    Unlike the 2026 A2 staff copy, the output stays interleaved (same numbers as `RotaryPositionalEmbedding`).
    """

    def __init__(self, context_length: int, dim: int, theta: float = 10000.0, device=None):
        super().__init__(theta, dim, context_length, device=device)

    def forward(self, x: Tensor, pos_ids: Tensor | None = None) -> Tensor:
        return super().forward(x, pos_ids)
