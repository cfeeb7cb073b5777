"""torch.profiler runs exported as Chrome traces plus a top-kernel table (Nsight is not on the GPU machine)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ["profile_fn", "top_kernels_markdown"]


def profile_fn(fn: Callable[[], object], steps: int, trace_path: Path | None = None):
    """Profile `steps` calls of fn(); writes a Chrome trace if asked; returns the profiler (key_averages etc.)."""
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities, record_shapes=False) as prof:
        for _ in range(steps):
            fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    if trace_path is not None:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace_path))
    return prof


def top_kernels_markdown(prof, top: int = 15) -> str:
    """Top ops by self device time (CUDA) or self CPU time, as a markdown table."""
    cuda = torch.cuda.is_available()
    rows = []
    for evt in prof.key_averages():
        t = evt.self_device_time_total if cuda else evt.self_cpu_time_total
        if t > 0:
            rows.append((evt.key, evt.count, t))
    rows.sort(key=lambda r: -r[2])
    total = sum(r[2] for r in rows) or 1.0
    unit = "self device" if cuda else "self CPU"
    lines = [f"| op / kernel | calls | {unit} ms | share |", "|---|---|---|---|"]
    for name, count, t in rows[:top]:
        lines.append(f"| `{name[:80]}` | {count} | {t / 1e3:.3f} | {100 * t / total:.1f}% |")
    return "\n".join(lines)
