"""FSDP.run / FSDP.checkpoint and the leaderboard loss on a one-process gloo group (fast, no spawning)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from cs336_systems.distributed import FSDP
from cs336_systems.errors import ConfigError
from cs336_systems.leaderboard import fsdp_lm_loss
from tests.unit.distributed.common import VOCAB, make_batches, make_lm


@pytest.fixture
def group():
    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("checkpoint_blocks", [True, False, 1])
def test_fsdp_loss_and_grads_match_plain_model(group, checkpoint_blocks):
    x, y = make_batches(1)[0]
    plain = make_lm(seed=3)
    F.cross_entropy(plain(x).reshape(-1, VOCAB), y.reshape(-1)).backward()
    ref_loss = F.cross_entropy(plain(x).reshape(-1, VOCAB), y.reshape(-1))

    fsdp = FSDP(make_lm(seed=3))
    fsdp.max_inflight_reduce_scatters = 2  # fewer than the model's weights, so the bound is exercised
    inflight = []
    original_rs = fsdp._reduce_scatter_grad
    fsdp._reduce_scatter_grad = lambda u, g: original_rs(u, g) or inflight.append(len(fsdp._rs_inflight))
    gathers = []
    original = fsdp._take_gathered
    fsdp._take_gathered = lambda unit: gathers.append(unit) or original(unit)
    loss = fsdp_lm_loss(fsdp, x, y, checkpoint_blocks=checkpoint_blocks, chunk_size=7)
    n_forward = len(gathers)
    n_layers = len(fsdp.module.layers)
    n_ckpt = n_layers if checkpoint_blocks is True else (0 if checkpoint_blocks is False else checkpoint_blocks)
    assert len(fsdp._segments) == n_ckpt
    loss.backward()
    # older reduce-scatters are completed during backward (their full-size inputs freed), not all at the end
    assert inflight and max(inflight) <= fsdp.max_inflight_reduce_scatters and len(inflight) > 2
    fsdp.finish_gradient_synchronization()
    assert not fsdp._rs_inflight
    torch.testing.assert_close(loss, ref_loss)
    block_units = sum(len(s) for s in fsdp._segments)
    if n_ckpt:  # backward recomputes every checkpointed block, gathering its weights again
        assert block_units == 7 * n_ckpt and len(gathers) >= n_forward + block_units
    for (name, p), (_, q) in zip(fsdp.module.named_parameters(), plain.named_parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)
    assert fsdp._pending == {}  # nothing prefetched and left hanging


def test_checkpoint_outside_run_is_an_error(group):
    fsdp = FSDP(make_lm(seed=0))
    with pytest.raises(ConfigError, match="inside FSDP.forward"):
        fsdp.checkpoint(fsdp.module.layers[0], torch.randn(1, 4, 16))
    with pytest.raises(ConfigError, match="checkpoint_blocks"):
        fsdp_lm_loss(fsdp, torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long),
                     checkpoint_blocks=99)  # fmt: skip
    with pytest.raises(ConfigError, match="TransformerLM"):
        fsdp_lm_loss(FSDP(torch.nn.Linear(2, 2)), torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2))


def test_fused_projections_save_no_concatenated_weight_copy(group):
    """The A1 model's fused QKV and W1/W3 GEMMs must let autograd keep the gathered weights (which FSDP turns into
    re-gather recipes), not a concatenated full-size copy that would live until backward."""
    x, y = make_batches(1)[0]
    fsdp = FSDP(make_lm(seed=3))
    kept = []
    original = fsdp._pack

    def pack(t):
        out = original(t)
        if isinstance(out, torch.Tensor):
            kept.append(tuple(out.shape))
        return out

    fsdp._pack = pack
    loss = F.cross_entropy(fsdp(x).reshape(-1, VOCAB), y.reshape(-1))
    fused_shapes = {(48, 16), (16, 48)}  # 3 x d_model rows of QKV, 2 x d_ff rows of W1/W3 (d_model 16, d_ff 24)
    assert kept and not fused_shapes & set(kept), kept
    loss.backward()
    fsdp.finish_gradient_synchronization()
    assert all(p.grad is not None for p in fsdp.parameters())
