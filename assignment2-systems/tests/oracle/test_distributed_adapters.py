"""The distributed adapters (tests/adapters.py) used the way the course's tests use them: DDP + sharded optimizer
and FSDP on 2 gloo ranks, compared with single-process full-batch training."""

from __future__ import annotations

import pytest
import torch

from tests import adapters
from tests.unit.distributed.common import lm_loss, local_slice, make_batches, make_lm, run_spawned

STEPS = 2


def _worker(rank: int, world: int, out_dir: str) -> None:
    batches = make_batches(STEPS)
    model = make_lm(seed=rank)
    ddp = adapters.get_ddp(model)
    opt = adapters.get_sharded_optimizer(ddp.parameters(), torch.optim.AdamW, lr=1e-2, weight_decay=0.1)
    for x, y in batches:
        opt.zero_grad()
        lm_loss(ddp(local_slice(x, rank)), local_slice(y, rank)).backward()
        adapters.ddp_on_after_backward(ddp, opt)
        opt.step()
    torch.save(ddp.module.state_dict(), f"{out_dir}/ddp_rank{rank}.pt")

    fsdp = adapters.get_fsdp(make_lm(seed=rank))
    opt = torch.optim.SGD(fsdp.parameters(), lr=0.5)
    for x, y in batches:
        opt.zero_grad()
        lm_loss(fsdp(local_slice(x, rank)), local_slice(y, rank)).backward()
        adapters.fsdp_on_after_backward(fsdp, opt)
        opt.step()
    torch.save(adapters.fsdp_gather_full_params(fsdp), f"{out_dir}/fsdp_rank{rank}.pt")


@pytest.mark.slow
def test_distributed_adapters_match_single_process(tmp_path):
    run_spawned(_worker, str(tmp_path))
    batches = make_batches(STEPS)
    for tag, make_opt, tol in [
        ("ddp", lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1), {"rtol": 1e-5, "atol": 1e-6}),
        ("fsdp", lambda ps: torch.optim.SGD(ps, lr=0.5), {"rtol": 1e-6, "atol": 1e-7}),
    ]:
        model = make_lm(seed=0)
        opt = make_opt(model.parameters())
        for x, y in batches:
            opt.zero_grad()
            lm_loss(model(x), y).backward()
            opt.step()
        ref = dict(model.named_parameters())
        for rank in range(2):
            got = torch.load(tmp_path / f"{tag}_rank{rank}.pt")
            assert set(ref) <= set(got)
            for k, v in ref.items():
                torch.testing.assert_close(got[k], v.detach(), **tol, msg=f"{tag} rank{rank} {k}")
