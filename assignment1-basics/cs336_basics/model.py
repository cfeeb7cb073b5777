"""The Transformer LM: attention, the pre-norm block, the full model, its ablation switches and its file format.

Read top to bottom: scaled dot-product attention (a module-level function that attention looks up by global name, so
A2 can swap it) → the attention-backend registry → causal multi-head self-attention → `TransformerBlock` →
`TransformerLM` (+ `save_pretrained`/`from_pretrained`, `generate`) → staff-compatible aliases. The layers live in
`cs336_basics.layers` (re-exported here), the directory format in `cs336_basics.pretrained`, sampling and the KV
cache in `cs336_basics.generation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from cs336_basics.errors import ConfigError
from cs336_basics.layers import (
    Embedding,
    Linear,
    RMSNorm,
    RotaryEmbedding,
    RotaryPositionalEmbedding,
    SiLUFFN,
    SwiGLU,
    default_d_ff,
    silu,
    stacked_linear,
)
from cs336_basics.nn_utils import softmax
from cs336_basics.pretrained import config_from_object, normalize_config

__all__ = [
    "BasicsTransformerLM",
    "CausalMultiHeadSelfAttention",
    "Embedding",
    "Linear",
    "RMSNorm",
    "RotaryEmbedding",
    "RotaryPositionalEmbedding",
    "SiLUFFN",
    "SwiGLU",
    "TransformerBlock",
    "TransformerLM",
    "attention_backends",
    "default_d_ff",
    "register_attention_backend",
    "scaled_dot_product_attention",
    "silu",
]


def scaled_dot_product_attention(
    Q: Float[Tensor, "... q d_k"],
    K: Float[Tensor, "... k d_k"],
    V: Float[Tensor, "... k d_v"],
    mask: Bool[Tensor, "... q k"] | None = None,
) -> Float[Tensor, "... q d_v"]:
    """softmax(QKᵀ/√d_k, over keys) V. `mask` is True where a query may attend; it broadcasts over leading dims.

    A query row whose mask is all False has no defined output and comes back as NaN (callers building padded batches
    let every row attend at least to itself).
    """
    scores = (Q @ K.transpose(-2, -1)) * (1.0 / math.sqrt(Q.shape[-1]))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    # The softmax runs in fp32 even under bf16 autocast (a no-op cast in fp32); probabilities go back to V's dtype.
    return softmax(scores.float(), dim=-1).to(V.dtype) @ V


# ---------------------------------------------------------------------------------------------------------------
# Attention backends: fn(q, k, v, is_causal) -> out, all shaped (batch, heads, seq, d_k).

AttentionBackend = Callable[[Tensor, Tensor, Tensor, bool], Tensor]


def _causal_mask(q_len: int, k_len: int, device: torch.device) -> Tensor:
    """Query i (the last q_len of k_len positions) may attend to key j iff j <= i + (k_len - q_len)."""
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(diagonal=k_len - q_len)


def _ours_backend(q: Tensor, k: Tensor, v: Tensor, is_causal: bool) -> Tensor:
    mask = _causal_mask(q.shape[-2], k.shape[-2], q.device) if is_causal else None
    # A plain global-name reference is resolved in this module's namespace at call time, so monkeypatching
    # `cs336_basics.model.scaled_dot_product_attention` (A2 does) takes effect, and torch.compile traces it.
    return scaled_dot_product_attention(q, k, v, mask)


def _torch_backend(q: Tensor, k: Tensor, v: Tensor, is_causal: bool) -> Tensor:
    # torch's fused kernels (flash / memory-efficient / cuDNN); a speed option, not the graded implementation.
    return F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)


_ATTENTION_BACKENDS: dict[str, AttentionBackend] = {"ours": _ours_backend, "torch": _torch_backend}


def register_attention_backend(name: str, fn: AttentionBackend, *, overwrite: bool = False) -> None:
    """Make `fn(q, k, v, is_causal) -> out` selectable as `attn_backend=name` (A2 registers its FlashAttention)."""
    if not callable(fn):
        raise ConfigError(f"attention backend {name!r} must be callable")
    if name in _ATTENTION_BACKENDS and not overwrite:
        raise ConfigError(f"attention backend {name!r} is already registered (pass overwrite=True to replace it)")
    _ATTENTION_BACKENDS[name] = fn


def attention_backends() -> list[str]:
    """Names accepted by `attn_backend=`."""
    return sorted(_ATTENTION_BACKENDS)


def _get_backend(name: str) -> AttentionBackend:
    try:
        return _ATTENTION_BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown attention backend {name!r}; known: {', '.join(attention_backends())}") from None


def _masked_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, backend: str) -> Tensor:
    """Attention under an explicit boolean mask (KV-cache decoding, padded batches)."""
    if backend == "ours":
        return scaled_dot_product_attention(q, k, v, mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# ---------------------------------------------------------------------------------------------------------------


class CausalMultiHeadSelfAttention(nn.Module):
    """Causal multi-head self-attention with optional RoPE on Q and K.

    Head h owns rows [h·d_k, (h+1)·d_k) of q/k/v_proj.weight ("(h d)" split). Q, K and V come from one matmul over
    the three weights concatenated at call time (the state dict keeps `q_proj`/`k_proj`/`v_proj`/`output_proj`).
    RoPE: pass `max_seq_len` and `theta` (a table is built) or a shared `positional_encoder`; with neither, no RoPE.
    `save_weight_parts = True` makes backward keep the three weights instead of their concatenation (A2's FSDP).
    """

    save_weight_parts = False

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        max_seq_len: int | None = None,
        theta: float | None = None,
        *,
        positional_encoder: RotaryPositionalEmbedding | None = None,
        attn_backend: str = "ours",
        device=None,
        dtype=None,
    ):
        super().__init__()
        if not isinstance(num_heads, int) or num_heads <= 0 or d_model % num_heads:
            raise ConfigError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        _get_backend(attn_backend)
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.attn_backend = attn_backend
        self.layer_idx = 0  # which KV-cache slot this layer uses; TransformerLM numbers its layers
        self.q_proj = Linear(d_model, d_model, device=device, dtype=dtype)
        self.k_proj = Linear(d_model, d_model, device=device, dtype=dtype)
        self.v_proj = Linear(d_model, d_model, device=device, dtype=dtype)
        self.output_proj = Linear(d_model, d_model, device=device, dtype=dtype)
        if positional_encoder is None and max_seq_len is not None and theta is not None:
            positional_encoder = RotaryPositionalEmbedding(theta, self.d_k, max_seq_len, device=device)
        if positional_encoder is not None and positional_encoder.d_k != self.d_k:
            raise ConfigError(f"RoPE d_k={positional_encoder.d_k} does not match the head dimension {self.d_k}")
        self.rope = positional_encoder

    def forward(
        self,
        x: Float[Tensor, "... T d"],
        token_positions: Int[Tensor, "... T"] | None = None,
        *,
        kv_cache=None,
        attn_mask: Bool[Tensor, "... 1 q k"] | None = None,
    ) -> Float[Tensor, "... T d"]:
        weights = [self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]
        qkv = stacked_linear(x, weights, save_parts=self.save_weight_parts)
        q, k, v = rearrange(qkv, "... T (three h d) -> three ... h T d", three=3, h=self.num_heads)
        if self.rope is not None:
            positions = token_positions
            if positions is not None:
                positions = positions.unsqueeze(-2)  # (..., T) -> (..., 1, T): same rotation for every head
            q, k = self.rope(q, positions), self.rope(k, positions)
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer_idx, k, v)
        if attn_mask is None:
            out = _get_backend(self.attn_backend)(q, k, v, True)
        else:
            out = _masked_attention(q, k, v, attn_mask, self.attn_backend)
        return self.output_proj(rearrange(out, "... h T d -> ... T (h d)"))


class TransformerBlock(nn.Module):
    """Pre-norm block y = x + attn(ln1(x)); z = y + ffn(ln2(y)), or post-norm y = ln1(x + attn(x)); z = ln2(y + ffn(y)).

    Switches: `norm_type` "rmsnorm" | "none" (identity), `norm_position` "pre" | "post", `use_rope`, `ffn_type`
    "swiglu" | "silu". The staff form `TransformerBlock(d_model=, num_heads=, d_ff=, positional_encoder=...)` works.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        max_seq_len: int | None = None,
        theta: float | None = None,
        *,
        positional_encoder: RotaryPositionalEmbedding | None = None,
        norm_type: str = "rmsnorm",
        norm_position: str = "pre",
        use_rope: bool = True,
        ffn_type: str = "swiglu",
        attn_backend: str = "ours",
        norm_eps: float = 1e-5,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if norm_type not in ("rmsnorm", "none"):
            raise ConfigError(f"norm_type must be 'rmsnorm' or 'none', got {norm_type!r}")
        if norm_position not in ("pre", "post"):
            raise ConfigError(f"norm_position must be 'pre' or 'post', got {norm_position!r}")
        if ffn_type not in ("swiglu", "silu"):
            raise ConfigError(f"ffn_type must be 'swiglu' or 'silu', got {ffn_type!r}")
        if not use_rope:
            positional_encoder, max_seq_len, theta = None, None, None
        self.norm_position = norm_position
        self.attn = CausalMultiHeadSelfAttention(
            d_model,
            num_heads,
            max_seq_len,
            theta,
            positional_encoder=positional_encoder,
            attn_backend=attn_backend,
            device=device,
            dtype=dtype,
        )
        make_norm = (
            (lambda: RMSNorm(d_model, eps=norm_eps, device=device, dtype=dtype))
            if norm_type == "rmsnorm"
            else nn.Identity
        )
        self.ln1 = make_norm()
        self.ln2 = make_norm()
        ffn_cls = SwiGLU if ffn_type == "swiglu" else SiLUFFN
        self.ffn = ffn_cls(d_model, d_ff, device=device, dtype=dtype)

    def forward(
        self,
        x: Float[Tensor, "... T d"],
        token_positions: Int[Tensor, "... T"] | None = None,
        *,
        kv_cache=None,
        attn_mask: Tensor | None = None,
    ) -> Float[Tensor, "... T d"]:
        if self.norm_position == "pre":
            x = x + self.attn(self.ln1(x), token_positions, kv_cache=kv_cache, attn_mask=attn_mask)
            return x + self.ffn(self.ln2(x))
        x = self.ln1(x + self.attn(x, token_positions, kv_cache=kv_cache, attn_mask=attn_mask))
        return self.ln2(x + self.ffn(x))


# ---------------------------------------------------------------------------------------------------------------


class TransformerLM(nn.Module):
    """token_embeddings → layers → ln_final → lm_head, returning logits (batch, seq, vocab).

    `.config` holds the constructor kwargs (what `save_pretrained` writes). `tie_embeddings=True` shares one (V, d)
    matrix between the embedding and the head; the state dict then still has both keys (same tensor).

    `vocab_pad_multiple=m` (default 1: off) rounds the LM head's rows up to a multiple of m (e.g. 64: GPT-2's 50,257
    becomes 50,304). The extra rows start at zero and are sliced off the logits, so the model computes the same
    function; the GEMMs get aligned shapes (faster tensor-core kernels). With tied embeddings the shared matrix is
    padded too. The padded rows are real parameters in the state dict.
    """

    def __init__(
        self,
        vocab_size: int,
        context_length: int,
        d_model: int,
        num_layers: int,
        num_heads: int,
        d_ff: int,
        rope_theta: float = 10000.0,
        *,
        norm_type: str = "rmsnorm",
        norm_position: str = "pre",
        use_rope: bool = True,
        ffn_type: str = "swiglu",
        tie_embeddings: bool = False,
        attn_backend: str = "ours",
        norm_eps: float = 1e-5,
        vocab_pad_multiple: int = 1,
        device=None,
        dtype=None,
    ):
        super().__init__()
        for name, value in dict(
            vocab_size=vocab_size,
            context_length=context_length,
            d_model=d_model,
            num_layers=num_layers,
            num_heads=num_heads,
            d_ff=d_ff,
            vocab_pad_multiple=vocab_pad_multiple,
        ).items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if d_model % num_heads:
            raise ConfigError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        if use_rope and (d_model // num_heads) % 2:
            raise ConfigError(f"RoPE needs an even head dimension, got d_model/num_heads={d_model // num_heads}")
        self.config: dict[str, Any] = dict(
            vocab_size=vocab_size,
            context_length=context_length,
            d_model=d_model,
            num_layers=num_layers,
            num_heads=num_heads,
            d_ff=d_ff,
            rope_theta=float(rope_theta),
            norm_type=norm_type,
            norm_position=norm_position,
            use_rope=bool(use_rope),
            ffn_type=ffn_type,
            tie_embeddings=bool(tie_embeddings),
            attn_backend=attn_backend,
            norm_eps=float(norm_eps),
        )
        if vocab_pad_multiple != 1:
            self.config["vocab_pad_multiple"] = vocab_pad_multiple  # only when used: older config files stay valid
        self.vocab_size = vocab_size
        self.padded_vocab_size = -(-vocab_size // vocab_pad_multiple) * vocab_pad_multiple
        self.context_length = context_length
        embedding_rows = self.padded_vocab_size if tie_embeddings else vocab_size
        self.token_embeddings = Embedding(embedding_rows, d_model, device=device, dtype=dtype)
        # One RoPE table shared by every layer (its buffers are non-persistent, so it adds no state-dict keys).
        rope = (
            RotaryPositionalEmbedding(rope_theta, d_model // num_heads, context_length, device=device)
            if use_rope
            else None
        )
        self.layers = nn.ModuleList(
            TransformerBlock(
                d_model,
                num_heads,
                d_ff,
                positional_encoder=rope,
                norm_type=norm_type,
                norm_position=norm_position,
                use_rope=use_rope,
                ffn_type=ffn_type,
                attn_backend=attn_backend,
                norm_eps=norm_eps,
                device=device,
                dtype=dtype,
            )
            for _ in range(num_layers)
        )
        for i, layer in enumerate(self.layers):
            layer.attn.layer_idx = i
        self.ln_final = (
            RMSNorm(d_model, eps=norm_eps, device=device, dtype=dtype) if norm_type == "rmsnorm" else nn.Identity()
        )
        self.lm_head = Linear(d_model, self.padded_vocab_size, device=device, dtype=dtype)
        if tie_embeddings:
            # The (V, d) embedding with σ = 1 would make huge initial logits; scale to the Linear init instead.
            with torch.no_grad():
                self.token_embeddings.weight.mul_(math.sqrt(2.0 / (vocab_size + d_model)))
            self.lm_head.weight = self.token_embeddings.weight
        if self.padded_vocab_size != vocab_size:
            with torch.no_grad():
                self.lm_head.weight[vocab_size:].zero_()

    # -- forward -----------------------------------------------------------------------------------------------

    def hidden_states(
        self,
        in_indices: Int[Tensor, "... T"],
        token_positions: Int[Tensor, "... T"] | None = None,
        *,
        kv_cache=None,
        attn_mask: Tensor | None = None,
    ) -> Float[Tensor, "... T d"]:
        """The final-norm output, before the LM head."""
        seq_len = in_indices.shape[-1]
        if kv_cache is None and token_positions is None and seq_len > self.context_length:
            raise ConfigError(f"input has {seq_len} tokens but the model's context length is {self.context_length}")
        x = self.token_embeddings(in_indices)
        for layer in self.layers:
            x = layer(x, token_positions, kv_cache=kv_cache, attn_mask=attn_mask)
        return self.ln_final(x)

    def forward(
        self,
        in_indices: Int[Tensor, "... T"],
        token_positions: Int[Tensor, "... T"] | None = None,
        *,
        kv_cache=None,
        attn_mask: Tensor | None = None,
    ) -> Float[Tensor, "... T V"]:
        logits = self.lm_head(self.hidden_states(in_indices, token_positions, kv_cache=kv_cache, attn_mask=attn_mask))
        if self.padded_vocab_size != self.vocab_size:
            logits = logits[..., : self.vocab_size]
        return logits

    def loss(self, in_indices: Int[Tensor, "... T"], targets: Int[Tensor, "... T"]) -> Tensor:
        """Mean next-token cross-entropy. Logits stay in the compute dtype; the loss upcasts inside one fused pass."""
        from cs336_basics.nn_utils import cross_entropy

        return cross_entropy(self(in_indices), targets)

    # -- accounting --------------------------------------------------------------------------------------------

    def get_num_params(self, non_embedding: bool = True) -> int:
        """Parameter count. `non_embedding=True` subtracts the token-embedding matrix AND the LM head (the A4 staff
        convention: 12,456,448 for the TinyStories shape); a tied matrix is counted once. See
        `cs336_basics.accounting.count_parameters` for the handout's "head counts as non-embedding" number."""
        total = sum(p.numel() for p in self.parameters())  # parameters() de-duplicates tied tensors
        if non_embedding:
            total -= self.token_embeddings.weight.numel()
            if self.lm_head.weight is not self.token_embeddings.weight:
                total -= self.lm_head.weight.numel()
        return total

    # -- generation --------------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        x: Tensor | list[int] | list[list[int]],
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_token_id: int | None = None,
        generator: torch.Generator | None = None,
        attention_mask: Tensor | None = None,
    ):
        """Sample continuations; see `cs336_basics.generation.generate`. Returns the new tokens only: a (batch, n)
        tensor for tensor prompts ((1, n) for a 1-D prompt, as the staff model does), lists for list prompts."""
        from cs336_basics.generation import generate

        return generate(
            self,
            x,
            max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            eos_token_id=eos_token_id,
            generator=generator,
            attention_mask=attention_mask,
        )

    # -- files -------------------------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write `config.json` (constructor kwargs) and `model.safetensors` (state dict; a tied head is stored once)."""
        from cs336_basics.pretrained import save_pretrained

        return save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device=None, dtype=None, **overrides) -> TransformerLM:
        """Load a `save_pretrained` directory, or the A4 layout (`model_config.json` + `model.pt` state dict).

        `overrides` replace config entries that do not change the weights (e.g. `attn_backend="torch"`).
        """
        from cs336_basics.pretrained import load_pretrained

        return load_pretrained(cls, directory, device=device, dtype=dtype, **overrides)


class BasicsTransformerLM(TransformerLM):
    """Staff-compatible name. Also accepts one config object (dataclass, namespace or mapping) with the
    constructor fields as attributes/keys, as in the A2 leaderboard snippet `BasicsTransformerLM(Config())`,
    and the staff switch names (`remove_rmsnorm`, `use_post_norm`, `remove_rope`, `weight_tying`)."""

    def __init__(self, *args, **kwargs):
        if len(args) == 1 and not isinstance(args[0], int):
            args, kwargs = (), {**config_from_object(args[0]), **kwargs}
        else:
            kwargs = normalize_config(kwargs)
        super().__init__(*args, **kwargs)
