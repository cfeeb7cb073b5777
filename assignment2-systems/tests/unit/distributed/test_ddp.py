"""DDP variants (overlapped, bucketed, naive, flat) against single-process full-batch training and torch's
DistributedDataParallel, on gloo with 2 CPU processes."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from cs336_systems.distributed import DDP, BucketedDDP, flat_sync_gradients, naive_sync_gradients
from cs336_systems.distributed.ddp import broadcast_module_state
from tests.unit.distributed.common import (
    lm_loss,
    local_slice,
    make_batches,
    make_lm,
    make_toy,
    run_spawned,
    train_reference,
)

STEPS = 3
VARIANTS = ["overlap", "bucketed", "bucketed_tiny", "naive", "flat", "torch_ddp"]
MODELS = {"toy": make_toy, "lm": make_lm}


def _wrap(variant: str, model):
    if variant == "overlap":
        return DDP(model)
    if variant == "bucketed":
        return BucketedDDP(model, bucket_size_mb=0.002)  # a few params per bucket
    if variant == "bucketed_tiny":
        return BucketedDDP(model, bucket_size_mb=1e-6)  # every parameter alone
    if variant == "torch_ddp":
        return DistributedDataParallel(model)
    broadcast_module_state(model)
    return model


def _worker(rank: int, world: int, out_dir: str) -> None:
    for model_name in MODELS:
        _train_all_variants(rank, model_name, out_dir)


def _train_all_variants(rank: int, model_name: str, out_dir: str) -> None:
    batches = make_batches(STEPS)
    for variant in VARIANTS:
        model = MODELS[model_name](seed=rank)  # different init per rank: the container must broadcast rank 0's
        wrapped = _wrap(variant, model)
        trainable = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(trainable, lr=0.5, momentum=0.9)
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            lm_loss(wrapped(local_slice(x, rank)), local_slice(y, rank)).backward()
            if variant == "overlap":
                # Launched from the hooks during backward: one handle per trainable (de-duplicated) parameter.
                assert len(wrapped._handles) == len(trainable), (len(wrapped._handles), len(trainable))
            if variant in ("overlap", "bucketed", "bucketed_tiny"):
                wrapped.finish_gradient_synchronization()
            elif variant == "naive":
                naive_sync_gradients(model)
            elif variant == "flat":
                flat_sync_gradients(model)
            for p in trainable:  # grads must agree bitwise across ranks after synchronisation
                other = p.grad.clone()
                dist.broadcast(other, src=0)
                assert torch.equal(other, p.grad), variant
            opt.step()
        state = wrapped.module.state_dict() if hasattr(wrapped, "module") else model.state_dict()
        torch.save(state, f"{out_dir}/{model_name}_{variant}_rank{rank}.pt")


@pytest.mark.slow
def test_ddp_variants_match_single_process(tmp_path):
    run_spawned(_worker, str(tmp_path))
    for model_name in MODELS:
        _check_against_reference(tmp_path, model_name)


def _check_against_reference(tmp_path, model_name: str) -> None:
    ref_model = MODELS[model_name](seed=0)
    ref_opt = torch.optim.SGD([p for p in ref_model.parameters() if p.requires_grad], lr=0.5, momentum=0.9)
    initial = {k: v.clone() for k, v in ref_model.state_dict().items()}
    ref = train_reference(ref_model, ref_opt, make_batches(STEPS))
    for variant in VARIANTS:
        for rank in range(2):
            got = torch.load(tmp_path / f"{model_name}_{variant}_rank{rank}.pt")
            assert got.keys() == ref.keys()
            for k in ref:
                torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-6, msg=f"{variant} rank{rank} {k}")
    # The run really trained (trainable weights moved) and frozen ones stayed put.
    key = "fc1.weight" if model_name == "toy" else "lm_head.weight"
    assert not torch.allclose(ref[key], initial[key], atol=1e-3)
    if model_name == "toy":
        assert torch.equal(ref["frozen.weight"], initial["frozen.weight"])


def test_ddp_requires_process_group():
    from cs336_systems.errors import ConfigError

    with pytest.raises(ConfigError, match="process group"):
        DDP(make_toy(0))
