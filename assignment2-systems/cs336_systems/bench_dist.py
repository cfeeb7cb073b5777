"""Multi-GPU benchmark workers: all-reduce bandwidth, the xl data-parallel variants table (+ profiler timeline), and
the leaderboard step. Each `run_*` function spawns `world` ranks (NCCL on GPUs, gloo on CPU for dry runs) and
writes one JSON file from rank 0. `benchmarks/bench_2gpu.py` drives them with time limits.

Timing (per step, every variant, same code): device sync -> zero_grad -> forward + loss -> backward -> sync of the
*compute stream only* (t_bwd) -> gradient synchronisation call -> compute-stream sync (t_sync) -> optimizer step ->
device sync. `sync_ms = t_sync - t_bwd` is the communication still exposed after backward (NCCL runs on its own
stream, so waiting on the compute stream does not wait for in-flight all-reduces). Variants whose collectives live
inside backward (torch DDP/FSDP2) have no separate phase; for every variant `overhead_ms` = step time minus the
step time of the same model trained locally on one GPU with the same per-rank batch (no communication at all).
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import time
import timeit
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from cs336_systems.distributed import DDP, FSDP, BucketedDDP, ShardedOptimizer, spawn
from cs336_systems.distributed.ddp import broadcast_module_state, flat_sync_gradients, naive_sync_gradients
from cs336_systems.errors import ConfigError

__all__ = ["XL", "ModelShape", "run_allreduce", "run_leaderboard", "run_xl"]

VARIANTS = ("local", "naive", "flat", "overlap", "bucketed", "sharded_opt", "fsdp", "torch_ddp", "torch_fsdp2")


@dataclass(frozen=True)
class ModelShape:
    vocab_size: int
    context_length: int
    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    batch_per_rank: int


XL = ModelShape(10_000, 512, 2560, 32, 32, 10_240, 2)
TINY = ModelShape(97, 32, 32, 2, 2, 64, 2)


def _device(rank: int, backend: str) -> torch.device:
    return torch.device("cuda", rank % torch.cuda.device_count()) if backend == "nccl" else torch.device("cpu")


def _sync(device: torch.device, stream_only: bool = False) -> None:
    if device.type == "cuda":
        if stream_only:
            torch.cuda.current_stream(device).synchronize()
        else:
            torch.cuda.synchronize(device)


def _gather(obj):
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _env() -> dict:
    info = {"torch": torch.__version__, "world_size": dist.get_world_size(), "backend": dist.get_backend()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        try:
            import triton

            info["triton"] = triton.__version__
        except ImportError:
            pass
    return info


def _write(path: str, data: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=1, default=str))


# ---- all-reduce ---------------------------------------------------------------------------------------------------


def _allreduce_worker(rank: int, world: int, out: str, sizes_mb: list[float], iters: dict) -> None:
    device = _device(rank, dist.get_backend())
    groups = {dist.get_backend(): (None, device)}
    if dist.get_backend() == "nccl":
        groups["gloo"] = (dist.new_group(backend="gloo"), torch.device("cpu"))
    rows = []
    for backend, (group, dev) in groups.items():
        for mb in sizes_mb:
            n = int(mb * 1e6) // 4
            t = torch.full((n,), float(rank + 1), device=dev)
            dist.all_reduce(t, group=group)
            _sync(dev)
            ok = bool(torch.all(t == world * (world + 1) / 2))
            reps = iters[backend] if mb < 500 else max(2, iters[backend] // 4)
            for _ in range(min(5, reps)):  # warm-up
                dist.all_reduce(t, group=group)
            times = []
            for _ in range(reps):
                _sync(dev)
                dist.barrier(group=group)
                t0 = timeit.default_timer()
                dist.all_reduce(t, group=group)
                _sync(dev)
                times.append(timeit.default_timer() - t0)
            slowest = [max(ts) for ts in zip(*_gather(times), strict=True)]  # a collective ends with its slowest rank
            mean = statistics.mean(slowest)
            algbw = n * 4 / mean / 1e9
            rows.append({
                "backend": backend, "device": dev.type, "size_mb": mb, "iters": reps, "correct": ok,
                "mean_ms": mean * 1e3, "std_ms": statistics.pstdev(slowest) * 1e3,
                "algbw_GBps": algbw, "busbw_GBps": algbw * 2 * (world - 1) / world,
            })  # fmt: skip
            del t
            if rank == 0:
                print(f"allreduce {backend} {mb:g} MB: {mean * 1e3:.3f} ms, busbw {rows[-1]['busbw_GBps']:.1f} GB/s")
    if rank == 0:
        _write(out, {"env": _env(), "rows": rows})


def run_allreduce(out: str, *, backend: str, world: int = 2, sizes_mb=(1, 4, 16, 64, 256, 1024), iters=None) -> None:
    iters = iters or {"nccl": 20, "gloo": 5}
    spawn(_allreduce_worker, world, out, list(sizes_mb), iters, backend=backend)


# ---- xl data-parallel variants --------------------------------------------------------------------------------------


def _build(shape: ModelShape, device, seed: int = 0):
    from cs336_basics.model import TransformerLM

    torch.manual_seed(seed)
    return TransformerLM(
        shape.vocab_size, shape.context_length, shape.d_model, shape.num_layers, shape.num_heads, shape.d_ff,
        attn_backend="torch", device=device,
    )  # fmt: skip


def _setup_variant(name: str, model, device, rank: int):
    """(callable model, optimizer, gradient-sync function or None, use autocast)."""
    fused = device.type == "cuda"
    adamw = lambda ps: torch.optim.AdamW(ps, lr=1e-4, fused=fused)  # noqa: E731
    if name == "local":
        return model, adamw(model.parameters()), None, True
    if name in ("naive", "flat"):
        broadcast_module_state(model)
        sync = naive_sync_gradients if name == "naive" else flat_sync_gradients
        return model, adamw(model.parameters()), lambda: sync(model), True
    if name in ("overlap", "sharded_opt"):
        ddp = DDP(model)
        opt = (
            ShardedOptimizer(model.parameters(), torch.optim.AdamW, lr=1e-4, fused=fused)
            if name == "sharded_opt"
            else adamw(model.parameters())
        )
        return ddp, opt, ddp.finish_gradient_synchronization, True
    if name == "bucketed":
        ddp = BucketedDDP(model, bucket_size_mb=25.0)
        return ddp, adamw(model.parameters()), ddp.finish_gradient_synchronization, True
    if name == "fsdp":
        fsdp = FSDP(model, compute_dtype=torch.bfloat16)
        return fsdp, adamw(fsdp.parameters()), fsdp.finish_gradient_synchronization, False
    if name == "torch_ddp":
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        return ddp, adamw(ddp.parameters()), None, True
    if name == "torch_fsdp2":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.bfloat16)
        for block in model.layers:
            fully_shard(block, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
        return model, adamw(model.parameters()), None, False
    raise ConfigError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")


def _one_step(fwd, opt, sync, autocast, x, y, device, vocab):
    _sync(device)
    t0 = timeit.default_timer()
    opt.zero_grad(set_to_none=True)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if autocast else _Null()
    with ctx:
        logits = fwd(x)
    loss = F.cross_entropy(logits.float().reshape(-1, vocab), y.reshape(-1))
    loss.backward()
    _sync(device, stream_only=True)
    t1 = timeit.default_timer()
    if sync is not None:
        sync()
    _sync(device, stream_only=True)
    t2 = timeit.default_timer()
    opt.step()
    _sync(device)
    t3 = timeit.default_timer()
    return {"step": t3 - t0, "fwd_bwd": t1 - t0, "sync": t2 - t1, "opt": t3 - t2}


class _Idle(Exception):
    """This rank sits out a single-GPU variant."""


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _xl_worker(rank, world, out, shape_d, variants, warmup, steps, trace_dir, deadline):
    shape = ModelShape(**shape_d)
    device = _device(rank, dist.get_backend())
    g = torch.Generator().manual_seed(1234 + rank)  # each rank its own data
    x = torch.randint(0, shape.vocab_size, (shape.batch_per_rank, shape.context_length), generator=g).to(device)
    y = torch.randint(0, shape.vocab_size, (shape.batch_per_rank, shape.context_length), generator=g).to(device)
    rows, traces = [], {}
    for name in variants:
        if any(_gather(time.time() > deadline)):  # decided together: every rank skips or none
            rows.append({"variant": name, "status": "skipped: time budget"})
            continue
        row = {"variant": name}
        try:
            if name == "local" and rank != 0:  # compute-only baseline on one GPU; the other ranks wait
                raise _Idle
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            row["allocated_before_GiB"] = torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
            model = _build(shape, device)
            fwd, opt, sync, autocast = _setup_variant(name, model, device, rank)
            mem_init = torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
            for _ in range(warmup):
                _one_step(fwd, opt, sync, autocast, x, y, device, shape.vocab_size)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            timings = [_one_step(fwd, opt, sync, autocast, x, y, device, shape.vocab_size) for _ in range(steps)]
            peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
            if trace_dir and name in ("naive", "overlap", "bucketed", "fsdp"):
                traces[name] = _profile_step(fwd, opt, sync, autocast, x, y, device, shape.vocab_size, trace_dir, name,
                                             rank)  # fmt: skip
            _release(model, opt)
            del fwd, opt, sync, model
            row.update(_summarise(timings, mem_init, peak))
            row["status"] = "ok"
        except _Idle:
            row["status"] = "ok"
            dist.barrier()
        except Exception as e:  # noqa: BLE001 - recorded per variant; OOM in one variant must not stop the table
            row["status"] = f"error: {type(e).__name__}: {str(e)[:300]}"
            if rank == 0:
                print(f"xl {name}: {row['status']}", flush=True)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if name == "local" and rank == 0:
            dist.barrier()
        per_rank = _gather(row)
        if rank == 0:
            merged = _merge_ranks(per_rank)
            rows.append(merged)
            print(f"xl {name}: " + json.dumps({k: v for k, v in merged.items() if k != "per_rank"}), flush=True)
    if rank == 0:
        base = next((r for r in rows if r["variant"] == "local" and r.get("status") == "ok"), None)
        for r in rows:
            if base and r.get("status") == "ok" and "step_ms" in r:
                r["overhead_ms"] = r["step_ms"] - base["step_ms"]
        _write(out, {"env": _env(), "shape": shape_d, "warmup": warmup, "steps": steps, "rows": rows,
                     "traces": traces})  # fmt: skip


def _release(model, opt) -> None:
    """Free a variant's memory even when Python cannot collect its objects: gradient hooks registered on a
    parameter that point back at the container form a cycle through C++ (the autograd hook table), which the
    garbage collector cannot see, so the parameters' storage is released by hand."""
    for o in (opt, getattr(opt, "inner", None)):
        if o is not None:
            o.state.clear()
    for p in model.parameters():
        p.grad = None
        try:
            p.data = torch.empty(0, device=p.device, dtype=p.dtype)
        except Exception:  # noqa: BLE001 - DTensor parameters (fully_shard): freed with the module instead
            pass


def _summarise(timings, mem_init, peak):
    def ms(key):
        vals = [t[key] * 1e3 for t in timings]
        return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)

    step_mean, step_std = ms("step")
    return {
        "step_ms": step_mean, "step_std_ms": step_std, "fwd_bwd_ms": ms("fwd_bwd")[0], "sync_ms": ms("sync")[0],
        "sync_std_ms": ms("sync")[1], "opt_ms": ms("opt")[0], "mem_after_init_GiB": mem_init, "peak_GiB": peak,
    }  # fmt: skip


def _merge_ranks(per_rank: list[dict]) -> dict:
    """Rank 0's row, with step/sync times as the max over ranks (a step ends with its slowest rank) and the peak
    memory per rank listed."""
    row = dict(per_rank[0])
    oks = [r for r in per_rank if r.get("status") == "ok" and "step_ms" in r]
    if not all(r.get("status") == "ok" for r in per_rank):
        row["status"] = next(r["status"] for r in per_rank if r.get("status") != "ok")
    if oks:
        for k in ("step_ms", "sync_ms", "fwd_bwd_ms", "opt_ms", "peak_GiB", "mem_after_init_GiB"):
            row[k] = max(r[k] for r in oks)
        row["peak_GiB_per_rank"] = [round(r["peak_GiB"], 2) for r in oks]
    return row


def _profile_step(fwd, opt, sync, autocast, x, y, device, vocab, trace_dir, name, rank):
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CUDA] if device.type == "cuda" else [ProfilerActivity.CPU]
    with profile(activities=acts) as prof:
        _one_step(fwd, opt, sync, autocast, x, y, device, vocab)
    path = Path(trace_dir) / f"trace_{name}_rank{rank}.json"
    if rank == 0:
        prof.export_chrome_trace(str(path))
    return str(path)


def run_xl(out: str, *, backend: str, world: int = 2, shape: ModelShape = XL, variants=VARIANTS, warmup: int = 3,
           steps: int = 5, trace_dir: str | None = None, budget_s: float = 1e9) -> None:  # fmt: skip
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise ConfigError(f"unknown variants {bad}; known: {', '.join(VARIANTS)}")
    spawn(_xl_worker, world, out, asdict(shape), list(variants), warmup, steps, trace_dir, time.time() + budget_s,
          backend=backend)  # fmt: skip


# ---- leaderboard step ---------------------------------------------------------------------------------------------


def _restrict_flash_configs() -> dict:
    """Autotune over the two best-measured d=128 tiles only, to keep the cold-cache compile inside the time limit."""
    from cs336_systems.kernels import flash_triton as ft

    for name in ("fwd", "dq", "dkdv"):
        ft.TUNED[name][128] = ft.TUNED[name][128][:2]
    return {name: [tuple(t) for t in ft.TUNED[name][128]] for name in ("fwd", "dq", "dkdv")}


def _leaderboard_worker(rank, world, out, cfg_d, attn_backend, chunk_size, checkpoint_blocks, short_tune):
    from cs336_systems.leaderboard import LeaderboardConfig, LeaderboardStep, build_model

    cfg = LeaderboardConfig(**cfg_d)
    device = _device(rank, dist.get_backend())
    res = {"config": cfg_d, "attn_backend": attn_backend, "chunk_size": chunk_size,
           "checkpoint_blocks": checkpoint_blocks, "world": world}  # fmt: skip
    if short_tune and attn_backend == "flash_triton":
        res["flash_configs"] = _restrict_flash_configs()
    t0 = time.time()
    model = build_model(cfg, device=device, attn_backend=attn_backend, seed=0)
    step = LeaderboardStep(model, compute_dtype=torch.bfloat16, checkpoint_blocks=checkpoint_blocks,
                           chunk_size=chunk_size)  # fmt: skip
    _sync(device)
    res["init_s"] = time.time() - t0
    if rank == 0:
        print(f"leaderboard init {res['init_s']:.1f} s", flush=True)
    res["params"] = sum(p.numel() for p in model.parameters()) * world  # shards (padding included) x world
    if device.type == "cuda":
        res["mem_after_init_GiB"] = torch.cuda.memory_allocated(device) / 2**30
    g = torch.Generator().manual_seed(2026)
    data = torch.randint(0, cfg.vocab_size, (2, cfg.batch_size, cfg.context_length), generator=g)
    per = cfg.batch_size // world
    x = data[0, rank * per : (rank + 1) * per].to(device)
    y = data[1, rank * per : (rank + 1) * per].to(device)
    walls, losses = [], []

    def train_step():
        ts = timeit.default_timer()
        losses.append(step(x, y))
        _sync(device)
        walls.append(timeit.default_timer() - ts)
        if rank == 0:
            print(f"leaderboard step {len(walls)}: {walls[-1]:.3f} s, loss {float(losses[-1]):.4f}", flush=True)

    if device.type == "cuda":
        from triton.testing import do_bench

        # warmup=1, rep=1 (ms): do_bench then runs 1 + 5 (estimate) + 1 warm-up + 1 timed step on every rank
        # whatever its own estimate, so the ranks' collectives stay matched.
        res["do_bench_ms"] = do_bench(train_step, warmup=1, rep=1)
        res["timer"] = "triton.testing.do_bench(warmup=1, rep=1), L2 flushed between calls"
        res["peak_GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
        if attn_backend == "flash_triton":
            from cs336_systems.kernels import flash_triton as ft

            names = ("flash_fwd_kernel", "flash_bwd_dkdv_kernel", "flash_bwd_dq_kernel")
            res["flash_best"] = {n: str(getattr(getattr(ft, n), "best_config", None)) for n in names}
    else:
        for _ in range(3):
            train_step()
        res["do_bench_ms"] = statistics.mean(walls[1:]) * 1e3
        res["timer"] = "wall clock (CPU dry run; do_bench needs a GPU)"
    res["first_step_s"] = walls[0]
    res["step_wall_s"] = walls
    res["steady_mean_s"] = statistics.mean(walls[1:]) if len(walls) > 1 else walls[0]
    res["steady_std_s"] = statistics.stdev(walls[1:]) if len(walls) > 2 else 0.0
    res["losses"] = [float(v) for v in losses]
    res["loss_ln_vocab"] = math.log(cfg.vocab_size)
    per_rank = _gather(res)
    if rank == 0:
        res["per_rank"] = [{k: r.get(k) for k in ("do_bench_ms", "peak_GiB", "losses")} for r in per_rank]
        res["do_bench_ms_max_over_ranks"] = max(r["do_bench_ms"] for r in per_rank)
        res["env"] = _env()
        _write(out, res)
        print("leaderboard: " + json.dumps({k: res[k] for k in ("do_bench_ms_max_over_ranks", "first_step_s",
                                                                 "steady_mean_s", "init_s")}), flush=True)  # fmt: skip


def run_leaderboard(out: str, *, backend: str, world: int = 2, config=None, attn_backend: str = "flash_triton",
                    chunk_size: int = 4096, checkpoint_blocks: bool | int = True,
                    short_tune: bool = True) -> None:  # fmt: skip
    from cs336_systems.leaderboard import LEADERBOARD_8B

    cfg = asdict(config or LEADERBOARD_8B)
    if cfg["batch_size"] % world:
        raise ConfigError(f"batch {cfg['batch_size']} does not split over {world} ranks")
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    spawn(_leaderboard_worker, world, out, cfg, attn_backend, chunk_size, checkpoint_blocks, short_tune,
          backend=backend)  # fmt: skip
