"""ShardedOptimizer against the unsharded optimizer (single process, same data) and torch's
ZeroRedundancyOptimizer, on gloo with 2 CPU processes. Covers torch AdamW and our AdamW, a scheduler-style LR decay
editing the wrapper's groups, and a parameter group added after a few steps."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch.distributed.optim import ZeroRedundancyOptimizer

from cs336_basics.optimizer import AdamW as OurAdamW
from cs336_systems.distributed import DDP, ShardedOptimizer
from tests.unit.distributed.common import lm_loss, local_slice, make_batches, make_lm

STEPS = 5
LATE_STEP = 2  # the norms join the optimizer (as a new group) before this step
OPTIMIZERS = {"torch_adamw": torch.optim.AdamW, "our_adamw": OurAdamW}
KW = {"lr": 1e-2, "weight_decay": 0.1, "betas": (0.9, 0.95)}


def _split(model):
    late = [p for n, p in model.named_parameters() if "ln" in n]
    early = [p for n, p in model.named_parameters() if "ln" not in n]
    return early, late


def _train(model, make_opt, batches, rank: int | None, sync=None) -> None:
    """`rank=None`: full batches; else this rank's half. `sync(loss_model)` runs between backward and step."""
    early, late = _split(model)
    opt = make_opt(early)
    for step, (x, y) in enumerate(batches):
        if step == LATE_STEP:
            opt.add_param_group({"params": late, "lr": 3e-2, "weight_decay": 0.0})
        opt.zero_grad(set_to_none=True)
        if rank is not None:
            x, y = local_slice(x, rank), local_slice(y, rank)
        lm_loss(model(x), y).backward()
        if sync is not None:
            sync()
        opt.step()
        for group in opt.param_groups:  # what an LR scheduler does: edit the wrapper's groups
            group["lr"] *= 0.7
    return opt


def _worker(rank: int, world: int, out_dir: str) -> None:
    batches = make_batches(STEPS)
    for name, cls in OPTIMIZERS.items():
        model = make_lm(seed=0)
        ddp = DDP(model)
        opt = _train(
            ddp, lambda ps, cls=cls: ShardedOptimizer(ps, cls, **KW), batches, rank, ddp.finish_gradient_synchronization
        )
        # State lives only on the owning rank: ranks hold disjoint, non-empty shares that together cover everything.
        owned = {id(p) for p in opt.inner.state} if opt.inner is not None else set()
        counts = [None, None]
        dist.all_gather_object(counts, len(owned))
        n_params = len(list(model.parameters()))
        assert sum(counts) == n_params and min(counts) > 0, counts
        assert all(opt.owner[i] == rank for i in owned)
        torch.save(model.state_dict(), f"{out_dir}/{name}_rank{rank}.pt")

    model = make_lm(seed=0)
    ddp = DDP(model)

    def make_zero(ps):
        return ZeroRedundancyOptimizer(ps, optimizer_class=torch.optim.AdamW, **KW)

    _train(ddp, make_zero, batches, rank, ddp.finish_gradient_synchronization)
    torch.save(model.state_dict(), f"{out_dir}/zero_rank{rank}.pt")


@pytest.mark.slow
def test_sharded_optimizer_matches_unsharded(tmp_path):
    from tests.unit.distributed.common import run_spawned

    run_spawned(_worker, str(tmp_path))
    batches = make_batches(STEPS)
    for name, cls in OPTIMIZERS.items():
        model = make_lm(seed=0)
        _train(model, lambda ps, cls=cls: cls(ps, **KW), batches, rank=None)
        ref = model.state_dict()
        for tag in [name] + (["zero"] if name == "torch_adamw" else []):
            for rank in range(2):
                got = torch.load(tmp_path / f"{tag}_rank{rank}.pt")
                for k in ref:
                    torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-6, msg=f"{tag} rank{rank} {k}")
        assert not torch.allclose(ref["layers.0.ln1.weight"], torch.ones_like(ref["layers.0.ln1.weight"]))


def test_sharded_optimizer_single_process_is_the_inner_optimizer():
    """Without a process group it degenerates to one rank owning everything: exactly the wrapped optimizer."""
    batches = make_batches(3)
    a, b = make_lm(seed=0), make_lm(seed=0)
    _train(a, lambda ps: ShardedOptimizer(ps, torch.optim.AdamW, **KW), batches, rank=None)
    _train(b, lambda ps: torch.optim.AdamW(ps, **KW), batches, rank=None)
    for (k, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), k
