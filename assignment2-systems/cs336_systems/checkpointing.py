"""Activation checkpointing of an assignment 1 TransformerLM: every k consecutive blocks, optionally nested.

`CheckpointedLM(model, every=k)` runs the blocks in groups of k under
`torch.utils.checkpoint.checkpoint(..., use_reentrant=False)`: only each group's input is kept for backward and the
group is recomputed during backward. `nested=True` also checkpoints each block inside its group, so the recomputed
group keeps only block inputs alive (about sqrt(L) memory with k ~ sqrt(L)). The wrapped model is `.module`.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from cs336_systems.errors import ConfigError

__all__ = ["CheckpointedLM"]


class CheckpointedLM(nn.Module):
    def __init__(self, model: nn.Module, every: int, nested: bool = False) -> None:
        super().__init__()
        if every < 1:
            raise ConfigError(f"checkpoint every k blocks needs k >= 1, got {every}")
        for attr in ("token_embeddings", "layers", "ln_final", "lm_head"):
            if not hasattr(model, attr):
                raise ConfigError(f"model has no {attr!r}: expected a cs336_basics TransformerLM")
        self.module = model
        self.every = every
        self.nested = nested

    def _run_group(self, x: Tensor, start: int) -> Tensor:
        for layer in self.module.layers[start : start + self.every]:
            x = checkpoint(layer, x, use_reentrant=False) if self.nested else layer(x)
        return x

    def forward(self, in_indices: Tensor) -> Tensor:
        m = self.module
        x = m.token_embeddings(in_indices)
        for start in range(0, len(m.layers), self.every):
            x = checkpoint(self._run_group, x, start, use_reentrant=False)
        logits = m.lm_head(m.ln_final(x))
        vocab = getattr(m, "vocab_size", logits.shape[-1])
        return logits[..., :vocab]
