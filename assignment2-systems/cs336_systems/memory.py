"""Memory tools: CUDA memory-history snapshots, an offline renderer, and saved-tensor accounting by autograd node.

The online viewer (pytorch.org/memory_viz) is unreachable from our machines, so `render_snapshot` reads the pickle
written by `torch.cuda.memory._dump_snapshot` and produces an active-memory timeline PNG, the peak, and the largest
allocations with their stack frames.
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from cs336_systems.errors import ConfigError

__all__ = ["SavedTensorAccounting", "record_snapshot", "render_snapshot", "saved_tensors_by_node"]


def record_snapshot(fn: Callable[[], object], path: Path, max_entries: int = 1_000_000) -> int:
    """Run fn() with CUDA memory history recording, dump the snapshot to `path`; returns max_memory_allocated."""
    if not torch.cuda.is_available():
        raise ConfigError("memory snapshots need a CUDA device")
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.memory._record_memory_history(max_entries=max_entries)
    try:
        fn()
        torch.cuda.synchronize()
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.cuda.memory._dump_snapshot(str(path))
    finally:
        torch.cuda.memory._record_memory_history(enabled=None)
    return torch.cuda.max_memory_allocated()


@dataclass
class SnapshotSummary:
    peak_bytes: int
    n_events: int
    timeline: list[int]
    largest: list[dict] = field(default_factory=list)


def _frames(event: dict, depth: int) -> list[str]:
    out = []
    for f in event.get("frames", [])[:depth]:
        out.append(f"{f.get('filename', '?')}:{f.get('line', '?')} {f.get('name', '?')}")
    return out


def summarize_snapshot(snapshot: dict, top: int = 10, depth: int = 6) -> SnapshotSummary:
    """Replay alloc/free events of device 0 into an active-bytes timeline, its peak, and the `top` largest allocs."""
    traces = snapshot.get("device_traces")
    if not isinstance(traces, list):
        raise ConfigError("not a torch.cuda.memory snapshot (no 'device_traces' list)")
    events = [e for dev in traces for e in dev]
    live: dict[int, int] = {}
    cur, peak, timeline = 0, 0, []
    for e in events:
        action, addr, size = e.get("action"), e.get("addr"), int(e.get("size", 0))
        if action == "alloc":
            live[addr] = size
            cur += size
        elif action in ("free_completed",) and addr in live:
            cur -= live.pop(addr)
        else:
            continue
        peak = max(peak, cur)
        timeline.append(cur)
    allocs = sorted((e for e in events if e.get("action") == "alloc"), key=lambda e: -int(e.get("size", 0)))[:top]
    largest = [{"size": int(e["size"]), "frames": _frames(e, depth)} for e in allocs]
    return SnapshotSummary(peak, len(events), timeline, largest)


def render_snapshot(path: Path, out_png: Path, top: int = 10, depth: int = 6) -> SnapshotSummary:
    """Load a snapshot pickle, write the active-memory timeline PNG, return the summary (peak, largest allocs)."""
    try:
        with open(path, "rb") as f:
            snapshot = pickle.load(f)
    except FileNotFoundError:
        raise ConfigError(f"snapshot file not found: {path}") from None
    except (pickle.UnpicklingError, EOFError) as exc:
        raise ConfigError(f"cannot read snapshot {path}: {exc}") from None
    summary = summarize_snapshot(snapshot, top, depth)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot([b / 2**20 for b in summary.timeline], lw=1)
    ax.set_xlabel("allocator event")
    ax.set_ylabel("active memory (MiB)")
    ax.set_title(f"{path.name}: peak {summary.peak_bytes / 2**20:.1f} MiB")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return summary


def format_summary(s: SnapshotSummary) -> str:
    lines = [f"peak active memory: {s.peak_bytes / 2**20:.2f} MiB over {s.n_events} events", "largest allocations:"]
    for a in s.largest:
        lines.append(f"  {a['size'] / 2**20:10.2f} MiB")
        lines.extend(f"      {fr}" for fr in a["frames"])
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Saved tensors for backward


class SavedTensorAccounting:
    """Context manager summing the bytes autograd saves for backward (parameters excluded), as in the handout."""

    def __init__(self, params=None) -> None:
        # Autograd often saves a view of a weight (e.g. W.t() for a matmul), which is no longer an nn.Parameter;
        # pass the model's parameters to skip every tensor that shares their storage too.
        self.total_bytes = 0
        self._seen: set[tuple[int, int]] = set()
        self._param_ptrs = {p.untyped_storage().data_ptr() for p in (params or [])}

    def _pack(self, t: Tensor):
        if not isinstance(t, nn.Parameter) and t.untyped_storage().data_ptr() not in self._param_ptrs:
            key = (t.untyped_storage().data_ptr(), t.storage_offset())
            if key not in self._seen:
                self._seen.add(key)
                self.total_bytes += t.numel() * t.element_size()
        return t

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def saved_tensors_by_node(output: Tensor, params: list[Tensor] | None = None) -> dict[str, int]:
    """Walk the autograd graph from `output`; bytes of tensors saved per grad_fn type (parameters skipped, dedup)."""
    param_ptrs = {p.untyped_storage().data_ptr() for p in (params or [])}
    seen_storage: set[int] = set()
    by_node: dict[str, int] = defaultdict(int)
    stack, visited = [output.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in visited:
            continue
        visited.add(node)
        tensors = []
        for attr in dir(node):
            if attr.startswith("_saved_"):
                try:
                    val = getattr(node, attr)
                except RuntimeError:
                    continue
                vals = val if isinstance(val, (tuple, list)) else (val,)
                tensors.extend(x for x in vals if isinstance(x, Tensor))
        if hasattr(node, "saved_tensors"):  # custom autograd.Function nodes
            try:
                tensors.extend(node.saved_tensors)
            except RuntimeError:
                pass
        for t in tensors:
            ptr = t.untyped_storage().data_ptr()
            if ptr in param_ptrs or ptr in seen_storage:
                continue
            seen_storage.add(ptr)
            by_node[type(node).__name__] += t.untyped_storage().nbytes()
        stack.extend(n for n, _ in node.next_functions)
    return dict(sorted(by_node.items(), key=lambda kv: -kv[1]))
