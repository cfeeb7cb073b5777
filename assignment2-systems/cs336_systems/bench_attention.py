"""Attention benchmark grid: head dim x sequence length for several implementations, forward / backward / total.

    python -m cs336_systems bench-attention --head-dims 64 128 --seq-lens 1024 4096 16384 --out runs/attn

Implementations: `naive` (eager PyTorch, materialises N x N), `compiled` (torch.compile of naive), `triton` (our FA2),
`sdpa_flash` and `sdpa_cudnn` (torch.nn.functional.scaled_dot_product_attention pinned to one backend), `torch_tiled`
(our tiled PyTorch FA2; CPU-sized shapes only). Each cell is timed with `triton.testing.do_bench` on CUDA (median ms)
or a wall-clock loop on CPU. An OOM or a backend refusing the shape is recorded in the cell, never raised.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from cs336_systems.errors import ConfigError
from cs336_systems.flash_attention import FlashAttentionPytorch, get_flash_attention_triton

IMPLS = ("naive", "compiled", "triton", "sdpa_flash", "sdpa_cudnn", "torch_tiled")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass
class Cell:
    impl: str
    head_dim: int
    seq_len: int
    batch: int
    heads: int
    dtype: str
    causal: bool
    fwd_ms: float | None = None
    bwd_ms: float | None = None
    total_ms: float | None = None
    fwd_tflops: float | None = None
    total_tflops: float | None = None
    status: str = "ok"


def naive_attention(q, k, v, is_causal):
    s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if is_causal:
        n = q.shape[-2]
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return torch.softmax(s.float(), dim=-1).to(v.dtype) @ v


_compiled_naive = None


def _impl_fn(impl: str) -> Callable:
    global _compiled_naive
    if impl == "naive":
        return naive_attention
    if impl == "compiled":
        if _compiled_naive is None:
            # The backward column re-runs one graph's backward (retain_graph=True), which compiled graphs with
            # donated buffers refuse; this benchmark process turns buffer donation off.
            import torch._functorch.config as functorch_config

            functorch_config.donated_buffer = False
            _compiled_naive = torch.compile(naive_attention)
        return _compiled_naive
    if impl == "triton":
        cls = get_flash_attention_triton()
        return lambda q, k, v, c: cls.apply(q, k, v, c)
    if impl == "torch_tiled":
        return lambda q, k, v, c: FlashAttentionPytorch.apply(q, k, v, c)
    if impl in ("sdpa_flash", "sdpa_cudnn"):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = SDPBackend.FLASH_ATTENTION if impl == "sdpa_flash" else SDPBackend.CUDNN_ATTENTION

        def fn(q, k, v, c):
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v, is_causal=c)

        return fn
    raise ConfigError(f"unknown attention impl {impl!r}; known: {', '.join(IMPLS)}")


def _timer(fn: Callable[[], object], device: torch.device, warmup: int, rep: int) -> float:
    """Median (CUDA, do_bench) or mean (CPU) milliseconds of fn()."""
    if device.type == "cuda":
        import triton.testing

        return float(triton.testing.do_bench(fn, warmup=warmup, rep=rep, return_mode="median"))
    for _ in range(2):
        fn()
    n = 5
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) * 1e3 / n


def attention_flops(batch: int, heads: int, seq: int, d: int, causal: bool) -> float:
    """Forward matmul FLOPs (QK^T and PV); backward is 2.5x that. Causal halves the work."""
    f = 4.0 * batch * heads * seq * seq * d
    return f / 2 if causal else f


def bench_cell(impl, head_dim, seq_len, batch, heads, dtype_name, causal, device, warmup=25, rep=100) -> Cell:
    cell = Cell(impl, head_dim, seq_len, batch, heads, dtype_name, causal)
    dtype = DTYPES[dtype_name]
    try:
        fn = _impl_fn(impl)
        shape = (batch, heads, seq_len, head_dim)
        q, k, v = (torch.randn(shape, device=device, dtype=dtype, requires_grad=True) for _ in range(3))
        do = torch.randn(shape, device=device, dtype=dtype)
        cell.fwd_ms = _timer(lambda: fn(q, k, v, causal), device, warmup, rep)
        o = fn(q, k, v, causal)
        cell.bwd_ms = _timer(lambda: torch.autograd.grad(o, (q, k, v), do, retain_graph=True), device, warmup, rep)
        o = None  # free the graph before the total timing

        def step():
            torch.autograd.grad(fn(q, k, v, causal), (q, k, v), do)

        cell.total_ms = _timer(step, device, warmup, rep)
        flops = attention_flops(batch, heads, seq_len, head_dim, causal)
        cell.fwd_tflops = flops / (cell.fwd_ms * 1e-3) / 1e12
        cell.total_tflops = 3.5 * flops / (cell.total_ms * 1e-3) / 1e12
    except torch.OutOfMemoryError:
        cell.status = "OOM"
    except (RuntimeError, ConfigError) as exc:  # backend refused the shape/dtype, compile failure, ...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        cell.status = "OOM" if "out of memory" in msg.lower() else f"error: {msg[:120]}"
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return cell


def run_grid(impls, head_dims, seq_lens, batch, heads, dtype_name, causal, device, warmup=25, rep=100) -> list[Cell]:
    for impl in impls:
        if impl not in IMPLS:
            raise ConfigError(f"unknown attention impl {impl!r}; known: {', '.join(IMPLS)}")
    if dtype_name not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype_name!r}; known: {', '.join(DTYPES)}")
    cells = []
    for d in head_dims:
        for n in seq_lens:
            for impl in impls:
                cell = bench_cell(impl, d, n, batch, heads, dtype_name, causal, device, warmup, rep)
                print(json.dumps(asdict(cell)), flush=True)
                cells.append(cell)
    return cells


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def markdown_table(cells: list[Cell]) -> str:
    """One row per (head_dim, seq, impl): fwd / bwd / total ms, TFLOP/s, and the ratio to the best SDPA backend."""
    best_sdpa: dict[tuple[int, int], float] = {}
    for c in cells:
        if c.impl.startswith("sdpa") and c.total_ms is not None:
            key = (c.head_dim, c.seq_len)
            best_sdpa[key] = min(best_sdpa.get(key, math.inf), c.total_ms)
    lines = [
        "| d | seq | impl | fwd ms | bwd ms | fwd+bwd ms | fwd TFLOP/s | fwd+bwd TFLOP/s "
        "| best SDPA / this (fwd+bwd) | status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        best = best_sdpa.get((c.head_dim, c.seq_len))
        ratio = f"{best / c.total_ms:.2f}x" if best and c.total_ms else "-"
        lines.append(
            f"| {c.head_dim} | {c.seq_len} | {c.impl} | {_fmt(c.fwd_ms)} | {_fmt(c.bwd_ms)} | {_fmt(c.total_ms)} | "
            f"{_fmt(c.fwd_tflops)} | {_fmt(c.total_tflops)} | {ratio} | {c.status} |"
        )
    return "\n".join(lines)


def write_results(cells: list[Cell], out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "attention.json").write_text(json.dumps({"meta": meta, "cells": [asdict(c) for c in cells]}, indent=1))
    (out / "attention.md").write_text(markdown_table(cells) + "\n")
