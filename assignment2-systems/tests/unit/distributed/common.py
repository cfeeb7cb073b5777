"""Shared pieces of the distributed tests: tiny models, data, and a reference single-process training loop."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cs336_basics.model import TransformerLM
from cs336_systems.distributed import spawn

WORLD = 2
CHILD_ENV = {"OMP_NUM_THREADS": "1"}
VOCAB, CONTEXT = 37, 8  # 37 rows do not divide by 2: exercises FSDP padding


def settled_live_full_weights(fsdp, timeout_s: float = 2.0) -> int:
    """`fsdp.live_full_weights()` once gloo has let go: its worker thread can drop its reference to an async
    all-gather's output a moment after `wait()` returns (measured: 2 of 150 forwards right away, 0 after 50 ms),
    so a weight freed by us may still look alive for a few milliseconds. A real leak stays alive past the timeout."""
    import gc
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        gc.collect()
        live = fsdp.live_full_weights()
        if live == 0 or time.monotonic() > deadline:
            return live
        time.sleep(0.01)


def run_spawned(fn, *args) -> None:
    spawn(fn, WORLD, *args, backend="gloo", env=CHILD_ENV)


class ToyTied(nn.Module):
    """Embedding tied to the output head, a frozen layer (weight and bias), and a buffer."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 8)
        self.fc1 = nn.Linear(8, 12)
        self.frozen = nn.Linear(12, 12)
        self.frozen.requires_grad_(False)
        self.fc2 = nn.Linear(12, 8)
        self.head = nn.Linear(8, VOCAB, bias=False)
        self.head.weight = self.emb.weight
        self.register_buffer("scale", torch.rand(12) + 0.5)

    def forward(self, ids):
        h = torch.relu(self.fc1(self.emb(ids))) * self.scale
        return self.head(self.fc2(torch.tanh(self.frozen(h))))


def make_toy(seed: int) -> ToyTied:
    torch.manual_seed(seed)
    return ToyTied()


def make_lm(seed: int, **kwargs) -> TransformerLM:
    torch.manual_seed(seed)
    return TransformerLM(VOCAB, CONTEXT, 16, 2, 2, 24, **kwargs)


def make_batches(n_steps: int, batch: int = 8, seed: int = 1234) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randint(0, VOCAB, (batch, CONTEXT), generator=g), torch.randint(0, VOCAB, (batch, CONTEXT), generator=g))
        for _ in range(n_steps)
    ]


def local_slice(x: torch.Tensor, rank: int, world: int = WORLD) -> torch.Tensor:
    n = x.shape[0] // world
    return x[rank * n : (rank + 1) * n]


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


def train_reference(model: nn.Module, opt: torch.optim.Optimizer, batches) -> dict[str, torch.Tensor]:
    """Single-process training on the full batches; returns the final state dict."""
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        lm_loss(model(x), y).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
