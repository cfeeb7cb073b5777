"""Per-stream GPU timeline from a torch.profiler Chrome trace: one row per CUDA stream, compute kernels and NCCL
kernels in different colours, so overlap of communication with backward is visible at a glance."""

from __future__ import annotations

import json
from pathlib import Path

from cs336_systems.errors import ConfigError

__all__ = ["load_stream_intervals", "render_stream_timeline"]

_GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset"}


def load_stream_intervals(trace_path: str | Path) -> dict[str, list[tuple[float, float, bool]]]:
    """{stream label: [(start_ms, duration_ms, is_nccl), ...]} from a Chrome trace, times relative to the first
    GPU event."""
    try:
        events = json.loads(Path(trace_path).read_text())["traceEvents"]
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"cannot read a Chrome trace from {trace_path}: {e}") from e
    gpu = [e for e in events if e.get("ph") == "X" and e.get("cat") in _GPU_CATS and "dur" in e]
    if not gpu:
        raise ConfigError(f"{trace_path} holds no GPU kernel events")
    t0 = min(float(e["ts"]) for e in gpu)
    streams: dict[str, list[tuple[float, float, bool]]] = {}
    for e in gpu:
        stream = e.get("args", {}).get("stream", e.get("tid"))
        label = f"stream {stream}"
        is_nccl = "nccl" in str(e.get("name", "")).lower()
        streams.setdefault(label, []).append(((float(e["ts"]) - t0) / 1e3, float(e["dur"]) / 1e3, is_nccl))
    return streams


def render_stream_timeline(traces: dict[str, str | Path], png: str | Path, title: str = "") -> dict[str, dict]:
    """One panel per trace (e.g. {"naive": ..., "overlapped DDP": ...}); returns per-panel summary numbers
    (busy ms per stream kind and the NCCL time overlapped with compute kernels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {name: load_stream_intervals(p) for name, p in traces.items()}
    fig, axes = plt.subplots(len(panels), 1, figsize=(14, 2.2 + 1.2 * sum(len(s) for s in panels.values()) / 2))
    axes = [axes] if len(panels) == 1 else list(axes)
    summary = {}
    for ax, (name, streams) in zip(axes, panels.items(), strict=True):
        labels = sorted(streams, key=lambda s: (not any(not n for _, _, n in streams[s]), s))
        for row, label in enumerate(labels):
            spans = streams[label]
            for color, want in (("tab:blue", False), ("tab:orange", True)):
                bars = [(s, d) for s, d, n in spans if n == want]
                if bars:
                    ax.broken_barh(bars, (row - 0.4, 0.8), facecolors=color)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("ms")
        compute = [(s, s + d) for spans in streams.values() for s, d, n in spans if not n]
        nccl = [(s, s + d) for spans in streams.values() for s, d, n in spans if n]
        summary[name] = {
            "span_ms": max(e for _, e in compute + nccl),
            "compute_busy_ms": _union_length(compute),
            "nccl_busy_ms": _union_length(nccl),
            "nccl_overlapped_ms": _intersection_length(compute, nccl),
        }
        sm = summary[name]
        ax.set_title(
            f"{name}: NCCL {sm['nccl_busy_ms']:.1f} ms, of which {sm['nccl_overlapped_ms']:.1f} ms overlap compute "
            f"(blue: compute kernels, orange: NCCL)",
            fontsize=9,
        )
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return summary


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _union_length(intervals) -> float:
    return sum(e - s for s, e in _merge(intervals))


def _intersection_length(a, b) -> float:
    a, b = _merge(a), _merge(b)
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0.0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total
