"""Analytic accounting for a TransformerLM configuration: parameters, FLOPs per token, training memory, MFU.

Every function takes a "config": a `TransformerLM`, its `.config` dict, or any mapping/object with the constructor
fields (`vocab_size, context_length, d_model, num_layers, num_heads, d_ff` plus optional `ffn_type`, `norm_type`,
`tie_embeddings`).

Conventions (stated once, used everywhere):
- Parameters: `total` counts every tensor once (a tied matrix once). `without_input_embedding` subtracts the token
  embedding only (the handout's "~17M non-embedding" for TinyStories: 17,576,448); `without_embeddings` also
  subtracts the LM head (12,456,448; what `TransformerLM.get_num_params()` returns, the A4 staff convention).
- FLOPs: a (m×k)·(k×n) matmul costs 2mkn. Per token the forward pass costs 2·N_matmul (every weight except the
  embedding lookup, LM head included) plus attention 4·L·T·d (QKᵀ and AV over a full context of T keys, no causal
  halving: the PaLM/Chinchilla convention MFU figures use). Backward costs twice the forward, so a training step
  costs 3× forward per token (6N + 12·L·T·d). Norms, softmax and pointwise ops are ignored (< 1%).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cs336_basics.errors import ConfigError

__all__ = [
    "PEAK_FLOPS",
    "MemoryEstimate",
    "ParameterCount",
    "count_parameters",
    "estimate_mfu",
    "flops_per_token",
    "lookup_peak_flops",
    "training_memory",
]

# Dense peak FLOP/s from the vendors' datasheets (no structured sparsity). "fp32" is plain IEEE fp32 on CUDA cores;
# "tf32" is fp32 matmuls on tensor cores (torch.backends.cuda.matmul.allow_tf32). SXM parts unless noted.
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "A100": {"bf16": 312e12, "fp16": 312e12, "tf32": 156e12, "fp32": 19.5e12},
    "H100 PCIe": {"bf16": 756e12, "fp16": 756e12, "tf32": 378e12, "fp32": 51e12},
    "H100": {"bf16": 989e12, "fp16": 989e12, "tf32": 494.5e12, "fp32": 67e12},
    "H200": {"bf16": 989e12, "fp16": 989e12, "tf32": 494.5e12, "fp32": 67e12},
    "B200": {"bf16": 2250e12, "fp16": 2250e12, "tf32": 1100e12, "fp32": 80e12},
}


def lookup_peak_flops(device_name: str, dtype: str = "bf16") -> float:
    """Peak FLOP/s for a GPU name as `torch.cuda.get_device_name()` reports it (e.g. "NVIDIA H100 80GB HBM3")."""
    upper = device_name.upper()
    # Longest key first, so "H100 PCIe" wins over "H100".
    for key in sorted(PEAK_FLOPS, key=len, reverse=True):
        if key.upper() in upper:
            table = PEAK_FLOPS[key]
            if dtype not in table:
                raise ConfigError(f"no peak figure for dtype {dtype!r}; known: {', '.join(table)}")
            return table[dtype]
    raise ConfigError(f"no peak FLOP/s known for device {device_name!r}; known: {', '.join(PEAK_FLOPS)}")


def _fields(config: Any) -> dict[str, Any]:
    if hasattr(config, "config") and isinstance(config.config, Mapping):
        config = config.config
    if isinstance(config, Mapping):
        source = dict(config)
    elif dataclasses.is_dataclass(config):
        source = dataclasses.asdict(config)
    else:
        source = vars(config)
    required = ("vocab_size", "context_length", "d_model", "num_layers", "num_heads", "d_ff")
    missing = [k for k in required if k not in source]
    if missing:
        raise ConfigError(f"model config lacks {', '.join(missing)}")
    out = {k: int(source[k]) for k in required}
    out["ffn_type"] = source.get("ffn_type", "swiglu")
    out["norm_type"] = "none" if source.get("remove_rmsnorm") else source.get("norm_type", "rmsnorm")
    out["tie_embeddings"] = bool(source.get("tie_embeddings", source.get("weight_tying", False)))
    multiple = int(source.get("vocab_pad_multiple", 1))
    out["head_rows"] = -(-out["vocab_size"] // multiple) * multiple  # LM-head rows (vocab padded for alignment)
    return out


@dataclasses.dataclass(frozen=True)
class ParameterCount:
    total: int
    embedding: int  # the token-embedding matrix
    lm_head: int  # 0 when tied to the embedding
    without_input_embedding: int
    without_embeddings: int


def count_parameters(config: Any) -> ParameterCount:
    c = _fields(config)
    d, d_ff, vocab, layers = c["d_model"], c["d_ff"], c["vocab_size"], c["num_layers"]
    ffn = (3 if c["ffn_type"] == "swiglu" else 2) * d * d_ff
    norms = 2 * d if c["norm_type"] == "rmsnorm" else 0
    per_layer = 4 * d * d + ffn + norms
    final_norm = d if c["norm_type"] == "rmsnorm" else 0
    embedding = (c["head_rows"] if c["tie_embeddings"] else vocab) * d
    lm_head = 0 if c["tie_embeddings"] else c["head_rows"] * d
    body = layers * per_layer + final_norm
    total = body + embedding + lm_head
    return ParameterCount(
        total=total,
        embedding=embedding,
        lm_head=lm_head,
        without_input_embedding=total - embedding,
        without_embeddings=body,
    )


def _matmul_params(c: dict[str, Any]) -> int:
    """Weights that take part in a matmul for every token: all blocks' projections and the LM head."""
    d, d_ff = c["d_model"], c["d_ff"]
    ffn = (3 if c["ffn_type"] == "swiglu" else 2) * d * d_ff
    return c["num_layers"] * (4 * d * d + ffn) + c["head_rows"] * d


def flops_per_token(config: Any, *, seq_len: int | None = None, backward: bool = True) -> float:
    """FLOPs per token for a forward pass (`backward=False`) or a training step (forward + backward = 3×).

    `seq_len` defaults to the context length (attention cost grows with the number of keys).
    """
    c = _fields(config)
    t = c["context_length"] if seq_len is None else seq_len
    forward = 2 * _matmul_params(c) + 4 * c["num_layers"] * t * c["d_model"]
    return float(3 * forward if backward else forward)


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes for one training step with AdamW; `activations` are what autograd saves for backward."""

    parameters: int
    gradients: int
    optimizer_state: int
    activations: int

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer_state + self.activations


def training_memory(
    config: Any,
    batch_size: int,
    *,
    seq_len: int | None = None,
    param_bytes: int = 4,
    activation_bytes: int = 4,
    materialized_attention: bool = True,
) -> MemoryEstimate:
    """Training-memory estimate: fp32 parameters, gradients and AdamW's m and v, plus saved activations.

    Saved activations per token and layer (elements): the two norm inputs and outputs (4d), Q, K, V (3d), the
    attention output (d), the FFN hidden states (SwiGLU: W1x, W3x, SiLU(W1x), their product = 4·d_ff; SiLU FFN:
    2·d_ff), plus the h·T attention scores and h·T probabilities when attention is materialised ("ours"; a flash
    kernel saves only the output and log-sum-exp, `materialized_attention=False`). Final norm (2d), logits and
    their softmax (2V) once per token. `activation_bytes=2` models bf16 autocast.
    """
    c = _fields(config)
    t = c["context_length"] if seq_len is None else seq_len
    d, d_ff, heads = c["d_model"], c["d_ff"], c["num_heads"]
    ffn_elems = (4 if c["ffn_type"] == "swiglu" else 2) * d_ff
    attn_elems = 2 * heads * t if materialized_attention else heads
    per_layer = 8 * d + ffn_elems + attn_elems
    per_token = c["num_layers"] * per_layer + 2 * d + 2 * c["vocab_size"]
    n_params = count_parameters(c).total
    return MemoryEstimate(
        parameters=n_params * param_bytes,
        gradients=n_params * param_bytes,
        optimizer_state=2 * n_params * 4,
        activations=batch_size * t * per_token * activation_bytes,
    )


def estimate_mfu(tokens_per_s: float, config: Any, peak_flops: float | str, *, seq_len: int | None = None) -> float:
    """Model FLOPs utilisation of a training run: achieved training FLOP/s over the hardware peak.

    `peak_flops` is FLOP/s, or a device name looked up in `PEAK_FLOPS` at bf16.
    """
    peak = lookup_peak_flops(peak_flops) if isinstance(peak_flops, str) else float(peak_flops)
    if peak <= 0:
        raise ConfigError(f"peak_flops must be positive, got {peak_flops}")
    return tokens_per_s * flops_per_token(config, seq_len=seq_len) / peak
