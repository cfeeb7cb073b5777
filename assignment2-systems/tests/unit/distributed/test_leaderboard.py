"""The leaderboard step (our FSDP + per-block checkpointing + fused LM-head cross-entropy + FlashAttention) on
2 gloo ranks against the plain single-process model (materialised logits + F.cross_entropy, unsharded AdamW)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cs336_systems.leaderboard import LeaderboardConfig, LeaderboardStep, build_model
from tests.unit.distributed.common import local_slice, run_spawned, settled_live_full_weights

CFG = LeaderboardConfig(vocab_size=37, context_length=16, d_model=32, d_ff=48, num_layers=3, num_heads=2, batch_size=4)
STEPS = 3


def _adamw(params):
    return torch.optim.AdamW(params, lr=3e-3, weight_decay=0.1)


def _batches():
    g = torch.Generator().manual_seed(7)
    shape = (STEPS, CFG.batch_size, CFG.context_length)
    return torch.randint(0, CFG.vocab_size, shape, generator=g), torch.randint(0, CFG.vocab_size, shape, generator=g)


def _worker(rank: int, world: int, out_dir: str) -> None:
    for checkpoint_blocks in (True, False):
        _train(rank, out_dir, checkpoint_blocks)


def _train(rank: int, out_dir: str, checkpoint_blocks: bool) -> None:
    model = build_model(CFG, device="cpu", attn_backend="flash_torch", seed=rank)  # FSDP broadcasts rank 0's
    step = LeaderboardStep(
        model, compute_dtype=None, optimizer_factory=_adamw, checkpoint_blocks=checkpoint_blocks, chunk_size=5
    )
    xs, ys = _batches()
    losses = []
    for i in range(STEPS):
        loss = step(local_slice(xs[i], rank), local_slice(ys[i], rank))
        losses.append(loss.clone())
    assert settled_live_full_weights(step.fsdp) == 0
    torch.save(
        {"params": step.fsdp.gather_full_params(), "losses": torch.stack(losses)},
        f"{out_dir}/ckpt{int(checkpoint_blocks)}_r{rank}.pt",
    )


def _reference():
    model = build_model(CFG, device="cpu", attn_backend="ours", seed=0)
    opt = _adamw(model.parameters())
    xs, ys = _batches()
    losses = []
    for i in range(STEPS):
        opt.zero_grad(set_to_none=True)
        logits = model(xs[i])
        half = CFG.batch_size // 2
        per_rank = [
            F.cross_entropy(
                logits[r * half : (r + 1) * half].reshape(-1, CFG.vocab_size),
                ys[i][r * half : (r + 1) * half].reshape(-1),
            )
            for r in range(2)
        ]
        losses.append(torch.stack(per_rank).detach())
        F.cross_entropy(logits.reshape(-1, CFG.vocab_size), ys[i].reshape(-1)).backward()
        opt.step()
    return {n: p.detach() for n, p in model.named_parameters()}, torch.stack(losses)


@pytest.fixture(scope="module")
def spawned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("leaderboard")
    run_spawned(_worker, str(out))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("checkpoint_blocks", [True, False])
def test_leaderboard_step_matches_plain_model(spawned_run, checkpoint_blocks):
    ref_params, ref_losses = _reference()
    for rank in range(2):
        got = torch.load(spawned_run / f"ckpt{int(checkpoint_blocks)}_r{rank}.pt")
        torch.testing.assert_close(got["losses"], ref_losses[:, rank], rtol=1e-5, atol=1e-6)
        assert list(got["params"]) == list(ref_params)
        for k, v in ref_params.items():
            torch.testing.assert_close(got["params"][k], v, rtol=1e-4, atol=1e-5, msg=f"rank{rank} {k}")
    init = build_model(CFG, device="cpu", attn_backend="ours", seed=0)
    assert not torch.allclose(init.lm_head.weight, ref_params["lm_head.weight"], atol=1e-4)
