"""The rollout-engine interface shared by the native, Hugging Face and vLLM backends (spec §4.3.2).

An engine maps prompts (text or token ids) and sampling parameters to completions, keeping the sampled token ids
so training scores exactly what was sampled (never a re-tokenisation of the text). `sync_weights(policy)` makes the
engine sample from the policy's current weights before a rollout phase.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch

from cs336_alignment.errors import AlignmentError, ConfigError

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    """Mirrors vLLM's fields. temperature 0 means greedy; `stop` strings may span several tokens."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 1024
    min_tokens: int = 0  # EOS and stop strings are ignored before this many tokens (4 in the handout's RL runs)
    n: int = 1
    stop: tuple[str, ...] = ()
    include_stop_str_in_output: bool = True  # without it every r1_zero reward is 0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1 or self.n < 1:
            raise ConfigError(f"max_tokens ({self.max_tokens}) and n ({self.n}) must be >= 1")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise ConfigError(f"min_tokens ({self.min_tokens}) must be in [0, max_tokens={self.max_tokens}]")
        object.__setattr__(self, "stop", tuple(self.stop))
        if any(not s for s in self.stop):
            raise ConfigError("stop strings must be non-empty")


@dataclass(frozen=True)
class Completion:
    """One sampled continuation. `token_ids` are the sampled ids (EOS included when the model emitted it)."""

    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    logprobs: list[float] | None = field(default=None, repr=False)


class TextCodec:
    """Text <-> ids for Hugging Face tokenizers and assignment-1 `Tokenizer`s alike (no special tokens added)."""

    def __init__(self, tokenizer: Any, eos_token: str = "<|endoftext|>") -> None:
        self.tokenizer = tokenizer
        self.is_hf = hasattr(tokenizer, "convert_tokens_to_ids")
        if self.is_hf:
            self.eos_id = tokenizer.eos_token_id
            self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        else:
            ids = tokenizer.encode(eos_token)
            self.eos_id = ids[0] if len(ids) == 1 else None
            self.pad_id = self.eos_id if self.eos_id is not None else 0

    def encode(self, text: str) -> list[int]:
        if self.is_hf:
            return self.tokenizer.encode(text, add_special_tokens=False)
        return self.tokenizer.encode(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode` of every text; one parallel call for Hugging Face fast tokenizers."""
        if self.is_hf and texts:
            return [list(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
        return [self.encode(t) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        ids = [i for i in ids if i != self.eos_id]
        if self.is_hf:
            return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return self.tokenizer.decode(ids)


def truncate_at_stop(
    codec: TextCodec, ids: list[int], stop: Sequence[str], include_stop: bool, min_tokens: int = 0
) -> tuple[str, list[int], bool]:
    """Cut a continuation right after (or before) the first stop string: (text, ids, stopped).

    Stop strings completed within the first `min_tokens` tokens are ignored, as vLLM does. The ids are trimmed to
    the shortest prefix whose text contains the stop string, so text and ids agree up to the stop token (which may
    carry a few characters past the stop string, see spec §5.2).
    """
    text = codec.decode(ids)
    # An occurrence counts only if it ends after the text of the first min_tokens - 1 tokens.
    ignored_chars = len(codec.decode(ids[: min_tokens - 1])) if min_tokens > 1 else 0
    hits = []
    for s in stop:
        pos = text.find(s, max(ignored_chars - len(s) + 1, 0))
        if pos >= 0:
            hits.append((pos, s))
    if not hits:
        return text, ids, False
    pos, s = min(hits)
    end = pos + len(s)
    # The shortest prefix whose text reaches `end`: binary search (decoded length grows with the prefix), then a
    # step back while a shorter prefix still reaches it (a partial UTF-8 sequence can decode to a longer "\ufffd").
    lo, hi = 1, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(codec.decode(ids[:mid])) >= end:
            hi = mid
        else:
            lo = mid + 1
    while lo > 1 and len(codec.decode(ids[: lo - 1])) >= end:
        lo -= 1
    return text[: end if include_stop else pos], ids[:lo], True


def per_request_params(params: SamplingParams | Sequence[SamplingParams], num_prompts: int) -> list[SamplingParams]:
    """One SamplingParams per prompt (a single one is shared by every prompt)."""
    if isinstance(params, SamplingParams):
        return [params] * num_prompts
    params = list(params)
    if len(params) != num_prompts:
        raise AlignmentError(f"got {len(params)} SamplingParams for {num_prompts} prompts")
    return params


class RolloutEngine(Protocol):
    """What the SFT/EI/GRPO loops and the evaluation command need from a generator."""

    codec: TextCodec

    def generate(
        self, prompts: Sequence[str] | Sequence[list[int]], params: SamplingParams | Sequence[SamplingParams]
    ) -> list[list[Completion]]: ...

    def sync_weights(self, policy: torch.nn.Module) -> None: ...
