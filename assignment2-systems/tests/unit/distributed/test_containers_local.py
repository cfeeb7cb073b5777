"""Fast checks of container structure on a one-process gloo group (no spawning)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from cs336_basics.model import Embedding, Linear
from cs336_systems.distributed import DDP, FSDP, BucketedDDP, spawn
from cs336_systems.errors import ConfigError
from tests.unit.distributed.common import lm_loss, make_batches, make_lm, make_toy


@pytest.fixture
def group():
    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    yield
    dist.destroy_process_group()


def test_buckets_follow_reverse_order_and_size_limit(group):
    model = make_toy(0)
    limit_mb = 0.0005
    ddp = BucketedDDP(model, bucket_size_mb=limit_mb)
    trainable = [p for p in model.parameters() if p.requires_grad]
    flat = [p for b in ddp.buckets for p in b.params]
    assert [id(p) for p in flat] == [id(p) for p in reversed(trainable)]
    for b in ddp.buckets:
        nbytes = sum(p.numel() * p.element_size() for p in b.params)
        assert len(b.params) == 1 or nbytes <= limit_mb * 1024 * 1024
    assert len(ddp.buckets) > 1


def test_ddp_registers_no_parameters_of_its_own(group):
    model = make_toy(0)
    ddp = DDP(model)
    assert [id(p) for p in ddp.parameters()] == [id(p) for p in model.parameters()]
    x, y = make_batches(1)[0]
    lm_loss(ddp(x), y).backward()
    assert len(ddp._handles) == sum(p.requires_grad for p in model.parameters())
    ddp.finish_gradient_synchronization()
    assert ddp._handles == [] and model.frozen.weight.grad is None
    with ddp.no_sync():
        lm_loss(ddp(x), y).backward()
    assert ddp._handles == []


def test_fsdp_keeps_names_and_yields_shards(group):
    model = make_lm(0)
    names = [n for n, _ in model.named_parameters()]
    fsdp = FSDP(model)
    assert [n for n, _ in fsdp.module.named_parameters()] == names
    assert all(isinstance(m, (Linear, Embedding)) for m in fsdp._unit_of)
    full = fsdp.gather_full_params()
    assert list(full) == names and all(v.dtype == torch.float32 for v in full.values())


@pytest.mark.parametrize("bad", [0, -1.0])
def test_bucket_size_must_be_positive(group, bad):
    with pytest.raises(ConfigError, match="bucket_size_mb"):
        BucketedDDP(make_toy(0), bucket_size_mb=bad)


def test_fsdp_rejects_bad_compute_dtype(group):
    with pytest.raises(ConfigError, match="compute_dtype"):
        FSDP(make_lm(0), compute_dtype="fp16")


def test_spawn_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="world_size"):
        spawn(print, 0)
    with pytest.raises(ConfigError, match="backend"):
        spawn(print, 1, backend="mpi")


@pytest.mark.parametrize("cls", [DDP, BucketedDDP, FSDP])
def test_close_removes_hooks_so_a_dropped_container_is_freed(group, cls):
    import gc
    import weakref

    model = make_toy(0)
    x, y = make_batches(1)[0]
    ddp = cls(model)
    ref = weakref.ref(ddp)
    del ddp
    gc.collect()
    assert ref() is not None  # the parameters' hooks keep an unclosed container alive
    ref().close()
    gc.collect()
    assert ref() is None
    lm_loss(model(x), y).backward()  # the model trains on without the container's hooks
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
