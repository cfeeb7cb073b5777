"""Batched sampling from a TransformerLM with a KV cache.

Pieces, each small enough to reuse (A5's rollout engine builds on them):
- `KVCache`: preallocated per-layer key/value buffers with `update` (write new keys, return the filled prefix),
  `advance`, `reset`.
- `Decoder`: runs the model over a left-padded batch (`prefill`) and then one token per row (`step`), keeping the
  per-row positions and the key-validity mask. Its logits equal a full forward pass over each row's unpadded tokens.
- `sample_next_token`: temperature (0 = greedy), top-k, top-p on one row of logits per sequence.
- `generate`: prompts (lists of ids, or a tensor with an optional attention mask, left- or right-padded) →
  continuations, stopping at `eos_token_id` (not included) or after `max_new_tokens`.

Context cropping: a row only ever sees its last `context_length` tokens, as a full forward pass over the cropped
sequence would. When the cache is full, the decoder re-runs the prefill on each row's last `context_length` tokens
(RoPE positions restart at 0, so cached keys cannot be shifted).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cs336_basics.errors import ConfigError
from cs336_basics.nn_utils import softmax

__all__ = ["Decoder", "KVCache", "generate", "sample_next_token"]


class KVCache:
    """Keys and values for `num_layers` layers, shaped (batch, heads, max_len, head_dim) each.

    Attention layers call `update(layer_idx, k, v)` during a forward pass; the caller calls `advance(n)` once the
    whole model has consumed n new positions. Buffers are allocated on the first update (dtype follows the keys,
    so bf16 under autocast).
    """

    def __init__(self, num_layers: int, max_len: int):
        self.num_layers = num_layers
        self.max_len = max_len
        self.length = 0
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def update(self, layer_idx: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        new = k.shape[-2]
        end = self.length + new
        if end > self.max_len:
            raise ConfigError(f"KV cache overflow: {end} positions > capacity {self.max_len}")
        if self.k is None:
            shape = (self.num_layers, *k.shape[:-2], self.max_len, k.shape[-1])
            self.k = torch.empty(shape, dtype=k.dtype, device=k.device)
            self.v = torch.empty(shape, dtype=v.dtype, device=v.device)
        self.k[layer_idx, ..., self.length : end, :] = k
        self.v[layer_idx, ..., self.length : end, :] = v
        return self.k[layer_idx, ..., :end, :], self.v[layer_idx, ..., :end, :]

    def advance(self, n: int) -> None:
        self.length += n

    def reset(self) -> None:
        self.length = 0


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


class Decoder:
    """Incremental decoding state for a batch of sequences (left-padded inside the cache)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.context_length: int = model.context_length
        self.cache: KVCache | None = None
        self.positions: Tensor | None = None  # (B,) position of each row's last token
        self.key_valid: Tensor | None = None  # (B, cache slots) True where the slot holds a real token

    @property
    def length(self) -> int:
        return 0 if self.cache is None else self.cache.length

    def prefill(self, sequences: Sequence[Sequence[int]]) -> Tensor:
        """Run every row's tokens (each 1..context_length long) and return the last-token logits (B, V)."""
        if any(len(s) == 0 or len(s) > self.context_length for s in sequences):
            raise ConfigError(f"each sequence must hold 1..{self.context_length} tokens")
        device = _model_device(self.model)
        batch, width = len(sequences), max(len(s) for s in sequences)
        lengths = torch.tensor([len(s) for s in sequences], device=device)
        tokens = torch.zeros(batch, width, dtype=torch.long, device=device)
        for row, seq in enumerate(sequences):
            tokens[row, width - len(seq) :] = torch.as_tensor(list(seq), dtype=torch.long)
        slots = torch.arange(width, device=device)
        pad = (width - lengths).unsqueeze(1)  # (B, 1)
        self.key_valid = slots.unsqueeze(0) >= pad
        positions = (slots.unsqueeze(0) - pad).clamp(min=0)
        causal = torch.ones(width, width, dtype=torch.bool, device=device).tril()
        # Padding slots attend to themselves only, so no attention row is empty (an empty row would give NaN).
        eye = torch.eye(width, dtype=torch.bool, device=device)
        mask = (causal & self.key_valid[:, None, :]) | eye
        self.cache = KVCache(len(self.model.layers), self.context_length)
        logits = self.model(tokens, positions, kv_cache=self.cache, attn_mask=mask.unsqueeze(1))
        self.cache.advance(width)
        self.positions = lengths - 1
        return logits[:, -1, :]

    def step(self, tokens: Tensor) -> Tensor:
        """Append one token per row (shape (B,)) and return the logits for the next one (B, V)."""
        if self.cache is None:
            raise ConfigError("call prefill before step")
        if self.cache.length >= self.context_length:
            raise ConfigError("the KV cache is full; re-run prefill on the cropped sequences")
        self.positions = self.positions + 1
        ones = torch.ones(tokens.shape[0], 1, dtype=torch.bool, device=tokens.device)
        self.key_valid = torch.cat([self.key_valid, ones], dim=1)
        mask = self.key_valid[:, None, None, :]  # (B, 1, 1, keys): a new token sees every real earlier token
        logits = self.model(tokens.unsqueeze(1), self.positions.unsqueeze(1), kv_cache=self.cache, attn_mask=mask)
        self.cache.advance(1)
        return logits[:, -1, :]


def sample_next_token(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One token id per row of `logits` (..., V).

    temperature ≤ 1e-5 → argmax. Otherwise divide by the temperature, keep exactly the k largest logits (top-k),
    then the smallest set of most probable tokens whose probability sums to ≥ top_p (always at least one), and sample.
    """
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ConfigError(f"top_p must lie in (0, 1], got {top_p}")
    if temperature <= 1e-5:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        values, indices = logits.topk(top_k, dim=-1)
        logits = torch.full_like(logits, float("-inf")).scatter(-1, indices, values)
    probs = softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)  # the top token has mass_before 0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def _prompt_lists(prompts, attention_mask: Tensor | None) -> tuple[list[list[int]], str]:
    if isinstance(prompts, Tensor):
        if prompts.dim() == 1:
            prompts = prompts.unsqueeze(0)
            kind = "tensor1d"
        elif prompts.dim() == 2:
            kind = "tensor2d"
        else:
            raise ConfigError(f"prompt tensor must be 1-D or 2-D, got shape {tuple(prompts.shape)}")
        rows = prompts.tolist()
        if attention_mask is not None:
            if attention_mask.shape != prompts.shape:
                raise ConfigError("attention_mask must have the prompts' shape")
            keep = attention_mask.bool().tolist()
            rows = [[t for t, k in zip(row, row_keep) if k] for row, row_keep in zip(rows, keep)]
        return rows, kind
    prompts = list(prompts)
    if prompts and all(isinstance(t, int) for t in prompts):
        return [list(prompts)], "list1d"
    return [list(p) for p in prompts], "list2d"


@torch.no_grad()
def generate(
    model: nn.Module,
    prompts,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | None = None,
    generator: torch.Generator | None = None,
    attention_mask: Tensor | None = None,
    *,
    eos_id: int | None = None,
):
    """Continue each prompt by up to `max_new_tokens` tokens; a row stops at `eos_token_id` (which is not returned).

    `prompts`: a list of ids, a list of lists, or a tensor (T,) / (B, T) whose padding `attention_mask` (1 = real
    token) marks, on either side. Returns the new tokens only: a list (of lists) for list input; for tensor input a
    (B, n) long tensor (staff-compatible, (1, n) for a 1-D prompt) padded with `eos_token_id` (or 0) after a row's
    stop. The model runs in eval mode and its previous mode is restored. `eos_id` is the handout's name for
    `eos_token_id`.
    """
    if eos_token_id is None:
        eos_token_id = eos_id
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    rows, kind = _prompt_lists(prompts, attention_mask)
    vocab = model.vocab_size
    for i, row in enumerate(rows):
        if not row:
            raise ConfigError(f"prompt {i} is empty")
        bad = [t for t in row if not 0 <= t < vocab]
        if bad:
            raise ConfigError(f"prompt {i} holds token id {bad[0]} outside the vocabulary [0, {vocab})")
    sample_next_token(torch.zeros(1, 2), temperature, top_k, top_p)  # validate the sampling options up front
    ctx = model.context_length
    outputs: list[list[int]] = [[] for _ in rows]
    done = [False] * len(rows)
    was_training = model.training
    model.eval()
    try:
        decoder = Decoder(model)
        logits = None
        last = None
        for _ in range(max_new_tokens):
            if logits is None or decoder.length >= ctx:
                logits = decoder.prefill([(r + o)[-ctx:] for r, o in zip(rows, outputs)])
            else:
                logits = decoder.step(last)
            last = sample_next_token(logits, temperature, top_k, top_p, generator)
            for i, tok in enumerate(last.tolist()):
                if done[i]:
                    continue
                if eos_token_id is not None and tok == eos_token_id:
                    done[i] = True
                else:
                    outputs[i].append(tok)
            if all(done):
                break
    finally:
        model.train(was_training)
    if kind == "list1d":
        return outputs[0]
    if kind == "list2d":
        return outputs
    fill = 0 if eos_token_id is None else eos_token_id
    width = max((len(o) for o in outputs), default=0)
    out = torch.full((len(outputs), width), fill, dtype=torch.long, device=_model_device(model))
    for i, o in enumerate(outputs):
        out[i, : len(o)] = torch.tensor(o, dtype=torch.long)
    return out
