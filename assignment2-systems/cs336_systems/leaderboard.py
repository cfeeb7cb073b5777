"""The 2026 leaderboard training step on N ranks: our FSDP + per-block activation checkpointing + fused LM-head
cross-entropy + our FlashAttention-2.

One step = `zero_grad(set_to_none=True)` -> forward -> mean cross-entropy -> backward -> gradient sync -> AdamW.

Split across ranks: FSDP (each rank keeps 1/N of every Linear/Embedding weight as an fp32 master shard, with its
fp32 gradient and AdamW state) and data parallelism over the batch (batch 2 on 2 ranks = one 32,768-token sequence
per rank). Weights are cast to bf16 before the all-gather (`compute_dtype`), so the whole activation stream is
bf16 (the plain model with bf16 weights); RMSNorm and the softmax of the loss run in fp32. Memory per rank for the
8B config: 16 B/param x 8.13 B / 2 = 65 GB of fp32 state, plus one bf16 block input per layer (256 MiB each) and one
block's recomputation.

Every TransformerBlock runs under `FSDP.checkpoint`: only block inputs stay alive; backward recomputes a block
(re-gathering its weights) right before its backward. The LM head and the loss are
`fused_linear_cross_entropy`, which never builds the (tokens x vocab) logits and returns the hidden/weight
gradients computed in the same pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from cs336_basics.model import TransformerLM
from cs336_systems.distributed.fsdp import FSDP
from cs336_systems.errors import ConfigError
from cs336_systems.fused_ce import fused_linear_cross_entropy

__all__ = ["LEADERBOARD_8B", "LeaderboardConfig", "LeaderboardStep", "build_model", "fsdp_lm_loss"]


@dataclass(frozen=True)
class LeaderboardConfig:
    vocab_size: int = 151_936
    context_length: int = 32_768
    d_model: int = 4096
    d_ff: int = 11_008
    num_layers: int = 34
    num_heads: int = 32
    rope_theta: float = 10_000.0
    batch_size: int = 2

    def model_kwargs(self) -> dict:
        kw = asdict(self)
        kw.pop("batch_size")
        return kw


LEADERBOARD_8B = LeaderboardConfig()


def build_model(cfg: LeaderboardConfig, *, device, attn_backend: str, seed: int = 0) -> TransformerLM:
    """fp32 TransformerLM (the masters) created directly on `device`, identically on every rank (same seed)."""
    with torch.random.fork_rng(devices=[torch.device(device)] if torch.device(device).type == "cuda" else []):
        torch.manual_seed(seed)
        return TransformerLM(**cfg.model_kwargs(), attn_backend=attn_backend, device=device, dtype=torch.float32)


def _num_checkpointed(checkpoint_blocks: bool | int, num_layers: int) -> int:
    if checkpoint_blocks is True or checkpoint_blocks is False:
        return num_layers if checkpoint_blocks else 0
    if not isinstance(checkpoint_blocks, int) or not 0 <= checkpoint_blocks <= num_layers:
        raise ConfigError(f"checkpoint_blocks must be a bool or an int in [0, {num_layers}], got {checkpoint_blocks!r}")
    return checkpoint_blocks


def fsdp_lm_loss(
    fsdp: FSDP, x: Tensor, y: Tensor, *, checkpoint_blocks: bool | int = True, chunk_size: int = 4096
) -> Tensor:
    """Mean next-token cross-entropy of the FSDP-wrapped TransformerLM on (x, y), fused LM head. Same function as
    `cross_entropy(model(x), y)` on the plain model. `checkpoint_blocks`: True = every block checkpointed, False =
    none, an int k = the first k blocks (the rest keep their activations: less recomputation, more memory)."""
    model = fsdp.module
    if not isinstance(model, TransformerLM):
        raise ConfigError(f"fsdp_lm_loss needs an FSDP-wrapped TransformerLM, got {type(model).__name__}")
    if model.padded_vocab_size != model.vocab_size:
        raise ConfigError("fsdp_lm_loss does not support vocab_pad_multiple")

    n_ckpt = _num_checkpointed(checkpoint_blocks, len(model.layers))

    def body() -> Tensor:
        h = model.token_embeddings(x)
        for i, layer in enumerate(model.layers):
            h = fsdp.checkpoint(layer, h) if i < n_ckpt else layer(h)
        h = model.ln_final(h)
        return fused_linear_cross_entropy(h, model.lm_head.weight, y, chunk_size=chunk_size)

    return fsdp.run(body)


class LeaderboardStep:
    """Callable full training step on this rank's (x, y); returns the loss (a tensor; no host sync)."""

    def __init__(
        self,
        model: nn.Module,
        *,
        compute_dtype: torch.dtype | None = torch.bfloat16,
        optimizer_factory: Callable | None = None,
        checkpoint_blocks: bool | int = True,
        chunk_size: int = 4096,
    ):
        self.fsdp = FSDP(model, compute_dtype=compute_dtype)
        params = list(self.fsdp.parameters())
        if optimizer_factory is None:
            fused = all(p.is_cuda for p in params)
            optimizer_factory = lambda ps: torch.optim.AdamW(ps, lr=1e-4, weight_decay=0.01, fused=fused)  # noqa: E731
        self.optimizer = optimizer_factory(params)
        _num_checkpointed(checkpoint_blocks, len(self.fsdp.module.layers))  # fail here, not in the first step
        self.checkpoint_blocks = checkpoint_blocks
        self.chunk_size = chunk_size

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = fsdp_lm_loss(self.fsdp, x, y, checkpoint_blocks=self.checkpoint_blocks, chunk_size=self.chunk_size)
        loss.backward()
        self.fsdp.finish_gradient_synchronization()
        self.optimizer.step()
        return loss.detach()
