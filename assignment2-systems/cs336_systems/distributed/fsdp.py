"""Fully sharded data parallelism for models built from `cs336_basics.model.{Linear, Embedding}`.

Layout. Every Linear/Embedding weight (found by `isinstance`) is split along dim 0 (Linear rows = out features,
Embedding rows = vocab), zero-padded to a multiple of the world size, and the module's `weight` is replaced by an
`nn.Parameter` holding only this rank's fp32 rows. The module tree and parameter names are untouched, so
`fsdp.module.named_parameters()` / `fsdp.parameters()` yield the shards plus the replicated parameters (norms and
anything else), and any plain optimizer can step them.

Forward. Inside `FSDP.forward`, reading `module.weight` on a sharded module (the class is swapped for a subclass
whose `weight` is a property; the parameter itself stays in `_parameters`) returns the full weight, all-gathered
through a custom autograd Function and cast to `compute_dtype` *before* communicating. Going through the attribute,
not the module's forward, also covers code that reads weights directly (the A1 attention concatenates q/k/v
weights). The next weight's all-gather is started as soon as one is taken (prefetch, in the order recorded on the
first forward), so communication overlaps compute and at most two gathered weights wait at once.

Freeing. A `saved_tensors_hooks` pair replaces every tensor autograd would save that is (a view of) a gathered
weight by a recipe (unit, shape, stride, offset), so the full weight dies right after its layer; backward re-gathers
it on unpack, prefetching the next one. A *copy* made from gathered weights would be an ordinary activation and stay
until backward, so the A1 model's fused QKV / w1-w3 projections are switched to `save_weight_parts` (backward keeps
the gathered weights, which become recipes, and concatenates again). `live_full_weights()` counts gathered weights
still allocated after the last forward (0; checked in the tests).

Backward. The all-gather Function's backward reduce-scatters the full weight's gradient asynchronously (an
Embedding's backward needs no weight); at most `max_inflight_reduce_scatters` (16) stay in flight, older ones are
waited on (a stream wait) and summed into an fp32 shard buffer, so their full-size gradients are freed during
backward rather than at the end of the step. Replicated parameters are all-reduced from post-accumulate-grad hooks.
`finish_gradient_synchronization()` waits, divides by the world size and stores fp32, shard-shaped `.grad`s.
Tied weights (one parameter in two modules) are one shard; both uses' gradients are summed.

Outside `FSDP.forward` (e.g. `fsdp.module(...)` called directly) `module.weight` is the local shard.
`FSDP.run(fn, *args)` gives any function the same semantics as `forward` (e.g. a loss that reads
`model.lm_head.weight` itself, as the fused LM-head cross-entropy does).

Activation checkpointing. `FSDP.checkpoint(fn, *args)` (inside `run`/`forward`) is non-reentrant
`torch.utils.checkpoint` whose recomputation in backward gathers the segment's weights again, prefetching along the
segment and, at its last weight, the first weight of the previous segment. Inside a checkpointed segment autograd
saves nothing.

Mixed precision (`compute_dtype`, e.g. torch.float16): the model behaves like the plain model whose Linear/Embedding
weights were cast to that dtype (so the whole activation stream is in it; RMSNorm keeps its input dtype), with fp32
master shards and fp32 grads after synchronisation. No autocast.

Exactness: in fp32 the result is not bitwise equal to single-process training on the full batch, because a weight
gradient is the sum of two half-batch GEMMs instead of one full-batch GEMM (floating-point addition is not
associative); expect differences of ~1e-7 relative per step.
"""

from __future__ import annotations

import collections
import weakref

import torch
import torch.distributed as dist
import torch.utils.checkpoint
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef

from cs336_basics.model import Embedding, Linear
from cs336_systems.distributed.ddp import broadcast_module_state
from cs336_systems.errors import ConfigError

# torch >= 2.13 prefers the *_single names (same signatures) and warns on the old ones.
_all_gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
_reduce_scatter = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor


class _Unit:
    """One sharded weight: its shard, full shape and in-flight gradient collectives."""

    def __init__(self, name: str, shard: nn.Parameter, rows: int, shard_rows: int):
        self.name = name
        self.shard = shard
        self.rows = rows
        self.shard_rows = shard_rows
        self.grad_acc: torch.Tensor | None = None  # fp32 sum of this step's reduce-scattered shard grads


class _Gather(torch.autograd.Function):
    """shard -> full weight (all-gathered, in the compute dtype); backward reduce-scatters the full weight's grad."""

    @staticmethod
    def forward(ctx, shard, fsdp, unit):
        ctx.fsdp, ctx.unit = fsdp, unit
        return fsdp._gather_for_forward(unit)

    @staticmethod
    def backward(ctx, grad_full):
        ctx.fsdp._reduce_scatter_grad(ctx.unit, grad_full)
        return None, None, None


def _sharded_weight(module: nn.Module) -> torch.Tensor:
    """`module.weight` on a sharded module: the gathered full weight inside FSDP's forward, else the local shard."""
    shard = module._parameters["weight"]
    fsdp = module.__dict__["_fsdp_ref"]()
    if fsdp is None or not (fsdp._in_forward or fsdp._recompute is not None):
        return shard
    return _Gather.apply(shard, fsdp, fsdp._unit_of[module])


_SHARDED_CLASSES: dict[type, type] = {}


def _sharded_class(cls: type) -> type:
    """A subclass whose `weight` attribute is the property above (the parameter itself stays in `_parameters`)."""
    if cls not in _SHARDED_CLASSES:
        _SHARDED_CLASSES[cls] = type(f"Sharded{cls.__name__}", (cls,), {"weight": property(_sharded_weight)})
    return _SHARDED_CLASSES[cls]


class FSDP(nn.Module):
    """Shard `module`'s Linear/Embedding weights across the default process group (see the module docstring)."""

    def __init__(self, module: nn.Module, compute_dtype: torch.dtype | None = None):
        super().__init__()
        if not dist.is_initialized():
            raise ConfigError("FSDP needs an initialised process group (torch.distributed.init_process_group)")
        if compute_dtype is not None and not isinstance(compute_dtype, torch.dtype):
            raise ConfigError(f"compute_dtype must be a torch.dtype or None, got {compute_dtype!r}")
        self.module = module
        self.compute_dtype = compute_dtype
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        broadcast_module_state(module)

        self._unit_of: dict[nn.Module, _Unit] = {}  # sharded module -> unit (modules with a tied weight share one)
        units_by_weight: dict[int, _Unit] = {}
        for name, sub in module.named_modules():
            if not isinstance(sub, (Linear, Embedding)):
                continue
            w = sub._parameters["weight"]
            unit = units_by_weight.get(id(w))
            if unit is None:
                unit = units_by_weight[id(w)] = self._shard(name + ".weight", w)
            sub._parameters["weight"] = unit.shard
            sub.__class__ = _sharded_class(type(sub))
            sub.__dict__["_fsdp_ref"] = weakref.ref(self)
            self._unit_of[sub] = unit
        self._units = list(units_by_weight.values())

        for sub in module.modules():  # fused projections keep the gathered weights, not a concatenated copy
            if hasattr(type(sub), "save_weight_parts"):
                sub.save_weight_parts = True

        sharded_ids = {id(u.shard) for u in self._units}
        self._replicated = [p for p in module.parameters() if id(p) not in sharded_ids]
        self._allreduce_work: list[dist.Work] = []
        self._hook_handles = [
            p.register_post_accumulate_grad_hook(self._replicated_hook) for p in self._replicated if p.requires_grad
        ]

        self._rs_inflight: collections.deque[tuple[_Unit, torch.Tensor, dist.Work]] = collections.deque()
        self.max_inflight_reduce_scatters = 16  # ~two transformer blocks' weights

        self._in_forward = False
        self._recompute: list | None = None  # [segment index, position] while a checkpointed segment recomputes
        self._segments: list[list[_Unit]] = []  # units gathered by each checkpointed segment, in forward order
        self._last_gathered: list[StorageWeakRef] = []
        self._order: list[_Unit] | None = None  # gather order recorded on the first forward
        self._trace: list[_Unit] = []
        self._pending: dict[_Unit, tuple[torch.Tensor, dist.Work]] = {}
        self._live: dict[int, tuple[StorageWeakRef, _Unit]] = {}  # storage ptr of a gathered weight -> (tensor, unit)
        self._saved_order: list[_Unit] = []  # units whose full weight autograd wanted to save, in forward order

    # ---- setup -------------------------------------------------------------------------------------------------
    def _shard(self, name: str, w: torch.Tensor) -> _Unit:
        rows = w.shape[0]
        shard_rows = -(-rows // self.world_size)
        padded = w.detach().new_zeros((shard_rows * self.world_size, *w.shape[1:]))
        padded[:rows] = w.detach()
        local = padded[self.rank * shard_rows : (self.rank + 1) * shard_rows].clone()
        return _Unit(name, nn.Parameter(local, requires_grad=w.requires_grad), rows, shard_rows)

    # ---- communication -----------------------------------------------------------------------------------------
    def _start_gather(self, unit: _Unit) -> None:
        if unit in self._pending:
            return
        src = unit.shard.detach()
        if self.compute_dtype is not None:
            src = src.to(self.compute_dtype)  # cast before communicating: half the bytes in fp16
        out = src.new_empty((unit.shard_rows * self.world_size, *src.shape[1:]))
        self._pending[unit] = (out, _all_gather(out, src.contiguous(), async_op=True))

    def _take_gathered(self, unit: _Unit) -> torch.Tensor:
        """The padded full buffer of `unit` (waiting for its in-flight gather, or gathering now)."""
        self._start_gather(unit)
        out, work = self._pending.pop(unit)
        work.wait()
        return out

    def _gather_for_forward(self, unit: _Unit) -> torch.Tensor:
        if self._recompute is not None:
            return self._gather_for_recompute(unit)
        self._trace.append(unit)
        full = self._take_gathered(unit)[: unit.rows]
        order = self._order or self._units
        pos = len(self._trace)
        if pos < len(order):
            self._start_gather(order[pos])  # prefetch the next layer's weight while this one computes
        self._live[full.untyped_storage().data_ptr()] = (StorageWeakRef(full.untyped_storage()), unit)
        return full

    def _gather_for_recompute(self, unit: _Unit) -> torch.Tensor:
        """Backward recomputation of checkpointed segment s: prefetch the segment's next weight, or, at its last
        weight, the first weight of segment s-1 (the next one backward will recompute)."""
        full = self._take_gathered(unit)[: unit.rows]
        seg, pos = self._recompute
        units = self._segments[seg] if seg < len(self._segments) else []
        self._recompute[1] = pos + 1
        if pos + 1 < len(units):
            self._start_gather(units[pos + 1])
        elif seg > 0 and self._segments[seg - 1]:
            self._start_gather(self._segments[seg - 1][0])
        return full

    def _pack(self, t: torch.Tensor):
        """Autograd wants to keep `t` for backward. If it is (a view of) a gathered weight, keep only a recipe."""
        entry = self._live.get(t.untyped_storage().data_ptr())
        if entry is None or entry[0].expired():
            return t
        unit = entry[1]
        self._saved_order.append(unit)
        return (unit, t.shape, t.stride(), t.storage_offset())

    def _unpack(self, packed):
        if isinstance(packed, torch.Tensor):
            return packed
        unit, shape, stride, offset = packed
        full = self._take_gathered(unit)  # re-gather in backward
        if self._saved_order and self._saved_order[-1] is unit:
            self._saved_order.pop()
        if self._saved_order:
            self._start_gather(self._saved_order[-1])  # prefetch the next weight backward will need
        return full.as_strided(shape, stride, offset)

    def _reduce_scatter_grad(self, unit: _Unit, grad_full: torch.Tensor) -> None:
        if not unit.shard.requires_grad:
            return
        if unit.rows != unit.shard_rows * self.world_size:
            padded = grad_full.new_zeros((unit.shard_rows * self.world_size, *grad_full.shape[1:]))
            padded[: unit.rows] = grad_full
            grad_full = padded
        out = grad_full.new_empty((unit.shard_rows, *grad_full.shape[1:]))
        self._rs_inflight.append((unit, out, _reduce_scatter(out, grad_full.contiguous(), async_op=True)))
        # NCCL keeps an async collective's input alive until `wait()` (torch >= 2.7 stashes it instead of
        # recordStream). Waiting on older reduce-scatters here (a stream wait, no host sync) frees their full-size
        # gradients during backward instead of holding every one of them until the end of the step.
        while len(self._rs_inflight) > self.max_inflight_reduce_scatters:
            self._complete_reduce_scatter(*self._rs_inflight.popleft())

    def _complete_reduce_scatter(self, unit: _Unit, out: torch.Tensor, work: dist.Work) -> None:
        work.wait()
        grad = out if out.dtype == unit.shard.dtype else out.to(unit.shard.dtype)
        unit.grad_acc = grad if unit.grad_acc is None else unit.grad_acc.add_(grad)

    def _replicated_hook(self, p: torch.Tensor) -> None:
        p.grad.div_(self.world_size)
        self._allreduce_work.append(dist.all_reduce(p.grad, async_op=True))

    def _drain_gathers(self) -> None:
        for _, work in self._pending.values():
            work.wait()
        self._pending.clear()

    # ---- public API --------------------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        return self.run(self.module, *args, **kwargs)

    def run(self, fn, *args, **kwargs):
        """`fn(*args, **kwargs)` with FSDP semantics (what `forward` does with the wrapped module): sharded weights
        read inside `fn` are the gathered full weights. Use it to call another method of the model, e.g.
        `fsdp.run(lambda: loss_fn(model, x, y))`."""
        self._drain_gathers()  # never serve weights gathered before an optimizer step
        self._trace, self._saved_order, self._segments = [], [], []
        self._recompute = None
        self._in_forward = True
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack):
                out = fn(*args, **kwargs)
        finally:
            self._in_forward = False
            self._last_gathered = [ref for ref, _ in self._live.values()]
            self._live.clear()
        if self._order is None:
            self._order = list(self._trace)
        return out

    def checkpoint(self, fn, *args):
        """Activation checkpointing of `fn(*args)` inside `run`/`forward` (torch.utils.checkpoint, non-reentrant):
        only the inputs are kept. In backward the recomputation gathers the segment's weights again (prefetching
        along the segment and into the previous one); they live until that segment's backward is done. Without
        checkpointing, the fused-weight copies of the A1 model (QKV, W1/W3) would stay alive until backward."""
        if not self._in_forward:
            raise ConfigError("FSDP.checkpoint must be called inside FSDP.forward / FSDP.run")
        seg = len(self._segments)
        self._segments.append([])

        def segment(*inner):
            if self._recompute is None and self._in_forward:  # the original forward: record the segment's units
                start = len(self._trace)
                out = fn(*inner)
                self._segments[seg] = list(self._trace[start:])
                return out
            prev, self._recompute = self._recompute, [seg, 0]
            try:
                return fn(*inner)
            finally:
                self._recompute = prev

        return torch.utils.checkpoint.checkpoint(segment, *args, use_reentrant=False)

    def close(self) -> None:
        """Remove the replicated parameters' gradient hooks (they point back at this container, so without this a
        dropped FSDP stays alive as long as the model's parameters do)."""
        for handle in self._hook_handles:
            handle.remove()
        self._hook_handles.clear()

    def live_full_weights(self) -> int:
        """How many full weights gathered by the last forward are still allocated (memory check for tests;
        call `gc.collect()` first to discount unreachable cycles awaiting Python's collector)."""
        return sum(not ref.expired() for ref in self._last_gathered)

    def finish_gradient_synchronization(self) -> None:
        """Wait for all gradient collectives; then every trainable parameter has an fp32, averaged `.grad`."""
        self._drain_gathers()
        while self._rs_inflight:
            self._complete_reduce_scatter(*self._rs_inflight.popleft())
        for unit in self._units:
            if unit.grad_acc is None:
                continue
            grad, unit.grad_acc = unit.grad_acc.div_(self.world_size), None
            unit.shard.grad = grad if unit.shard.grad is None else unit.shard.grad + grad
        for work in self._allreduce_work:
            work.wait()
        self._allreduce_work.clear()

    def shard_layout(self) -> dict[str, tuple[int, int]]:
        """`{state_dict key: (full rows, rows per rank)}` for every dim-0 sharded weight of `self.module` (a tied
        weight under each of its names); every other key is replicated. Rank r holds rows
        [r * rows_per_rank, (r + 1) * rows_per_rank) of the zero-padded weight. Used to save and re-shard
        checkpoints; no communication."""
        return {
            f"{name}.weight" if name else "weight": (self._unit_of[sub].rows, self._unit_of[sub].shard_rows)
            for name, sub in self.module.named_modules(remove_duplicate=False)
            if sub in self._unit_of
        }

    @torch.no_grad()
    def gather_full_params(self) -> dict[str, torch.Tensor]:
        """Collective: every rank must call it. `{original name: full fp32 tensor}`; replicated params as they are."""
        full_of: dict[int, torch.Tensor] = {}
        for unit in self._units:
            src = unit.shard.detach().contiguous()
            out = src.new_empty((unit.shard_rows * self.world_size, *src.shape[1:]))
            _all_gather(out, src)
            full_of[id(unit.shard)] = out[: unit.rows].clone()
        return {name: full_of.get(id(p), p.detach()) for name, p in self.module.named_parameters()}
