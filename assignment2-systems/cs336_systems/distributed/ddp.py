"""Data-parallel gradient synchronisation, from the simplest to the overlapped one.

- `naive_sync_gradients(module)`: after backward, one blocking all-reduce per parameter (baseline).
- `flat_sync_gradients(module)`: after backward, flatten every grad into one buffer, one all-reduce (baseline).
- `DDP(module)`: one asynchronous all-reduce per parameter, launched from a post-accumulate-grad hook as soon as
  that parameter's gradient is final, so communication overlaps the rest of backward.
- `BucketedDDP(module, bucket_size_mb)`: the same, but parameters are grouped (in reverse registration order, which
  is roughly the order their gradients become ready) into buckets of at most `bucket_size_mb`; one all-reduce per
  bucket once its last gradient has arrived.

All of them average (divide by world size; halving is exact in binary floating point) rather than sum, so a
mean-reduced local loss gives the full-batch mean gradient.

Containers broadcast every parameter (frozen ones too) and every buffer from rank 0 at construction. They hook only
trainable parameters, each once: `module.parameters()` de-duplicates tied weights, and a tied weight's hook fires
after both uses have been accumulated. Gradient accumulation: wrap the non-final backward calls in `no_sync()`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from cs336_systems.errors import ConfigError


def _world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def _trainable_with_grad(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad and p.grad is not None]


def broadcast_module_state(module: nn.Module, src: int = 0) -> None:
    """Copy every parameter (trainable or not) and every buffer from rank `src` to all ranks, in place."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=src)


def naive_sync_gradients(module: nn.Module) -> None:
    """Blocking all-reduce (average) of each parameter's grad, one collective per parameter."""
    world = _world()
    for p in _trainable_with_grad(module):
        p.grad.div_(world)
        dist.all_reduce(p.grad)


def flat_sync_gradients(module: nn.Module) -> None:
    """All-reduce (average) of all grads as one flattened buffer; costs one extra grads-sized buffer."""
    grads = [p.grad for p in _trainable_with_grad(module)]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads).div_(_world())
    dist.all_reduce(flat)
    for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
        g.copy_(synced)


class _DDPBase(nn.Module):
    """Shared plumbing: holds `.module`, broadcasts state, forwards calls, and the `no_sync` switch."""

    def __init__(self, module: nn.Module):
        super().__init__()
        if not dist.is_initialized():
            raise ConfigError("DDP needs an initialised process group (torch.distributed.init_process_group)")
        self.module = module
        self.world_size = dist.get_world_size()
        self._sync_enabled = True
        self._hook_handles: list = []
        broadcast_module_state(module)

    def _register_hook(self, p: nn.Parameter) -> None:
        self._hook_handles.append(p.register_post_accumulate_grad_hook(self._hook))

    def close(self) -> None:
        """Remove the gradient hooks. The hooks live on the parameters and point back at this container, so without
        this a dropped container (and anything it holds) stays alive as long as the model's parameters do."""
        for handle in self._hook_handles:
            handle.remove()
        self._hook_handles.clear()

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward calls inside this block only accumulate local grads (for gradient accumulation)."""
        self._sync_enabled = False
        try:
            yield
        finally:
            self._sync_enabled = True


class DDP(_DDPBase):
    """Overlapped DDP: each trainable parameter's grad is averaged by an async all-reduce started from its
    post-accumulate-grad hook. Call `finish_gradient_synchronization()` after backward, before the optimizer step."""

    def __init__(self, module: nn.Module):
        super().__init__(module)
        self._handles: list[dist.Work] = []
        for p in module.parameters():  # de-duplicated: a tied weight is hooked once
            if p.requires_grad:  # hooking a frozen tensor raises
                self._register_hook(p)

    def _hook(self, p: torch.Tensor) -> None:
        if not self._sync_enabled:
            return
        p.grad.div_(self.world_size)
        self._handles.append(dist.all_reduce(p.grad, async_op=True))

    def finish_gradient_synchronization(self) -> None:
        for h in self._handles:
            h.wait()
        self._handles.clear()


class _Bucket:
    def __init__(self, params: list[nn.Parameter]):
        self.params = params
        self.ids = {id(p) for p in params}
        self.ready: set[int] = set()
        self.flat: torch.Tensor | None = None
        self.grads: list[torch.Tensor] = []
        self.handle: dist.Work | None = None


class BucketedDDP(_DDPBase):
    """Overlapped DDP with gradient buckets of at most `bucket_size_mb` megabytes (a parameter larger than the
    bucket gets a bucket of its own). Buckets are filled in reverse parameter order."""

    def __init__(self, module: nn.Module, bucket_size_mb: float = 25.0):
        if not bucket_size_mb > 0:
            raise ConfigError(f"bucket_size_mb must be positive, got {bucket_size_mb}")
        super().__init__(module)
        limit = bucket_size_mb * 1024 * 1024
        trainable = [p for p in module.parameters() if p.requires_grad]
        self.buckets: list[_Bucket] = []
        current: list[nn.Parameter] = []
        size = 0
        for p in reversed(trainable):
            nbytes = p.numel() * p.element_size()
            if current and size + nbytes > limit:
                self.buckets.append(_Bucket(current))
                current, size = [], 0
            current.append(p)
            size += nbytes
        if current:
            self.buckets.append(_Bucket(current))
        self._bucket_of = {id(p): b for b in self.buckets for p in b.params}
        for p in trainable:
            self._register_hook(p)

    def _hook(self, p: torch.Tensor) -> None:
        if not self._sync_enabled:
            return
        bucket = self._bucket_of[id(p)]
        bucket.ready.add(id(p))
        if bucket.ready == bucket.ids:
            self._launch(bucket)

    def _launch(self, bucket: _Bucket) -> None:
        bucket.grads = [p.grad for p in bucket.params if p.grad is not None]
        bucket.flat = _flatten_dense_tensors(bucket.grads).div_(self.world_size)
        bucket.handle = dist.all_reduce(bucket.flat, async_op=True)

    def finish_gradient_synchronization(self) -> None:
        for bucket in self.buckets:
            if bucket.handle is None and bucket.ready:
                # Some parameters of this bucket got no grad this step (unused): reduce what there is. Every rank
                # runs the same graph, so they all take this branch together.
                self._launch(bucket)
            if bucket.handle is not None:
                bucket.handle.wait()
                for g, synced in zip(bucket.grads, _unflatten_dense_tensors(bucket.flat, bucket.grads), strict=True):
                    g.copy_(synced)
            bucket.ready.clear()
            bucket.flat, bucket.grads, bucket.handle = None, [], None
