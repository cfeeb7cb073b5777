"""2-GPU benchmark driver (issue 5 §3): all-reduce bandwidth (NCCL vs gloo), the xl data-parallel variants table
with a per-stream profiler timeline, and the 8B leaderboard step. Each part runs in its own process group under a
time limit; a failing or slow part is recorded and the next one runs. Results go to --out as they arrive.

GPU machine (2 GPUs):
  NCCL_NVLS_ENABLE=0 PYTHONPATH=assignment1-basics:assignment2-systems \\
      python3 assignment2-systems/benchmarks/bench_2gpu.py --out $OUT --budget 300
CPU dry run (gloo, tiny shapes, flash_torch attention):
  uv run python benchmarks/bench_2gpu.py --out /tmp/dry --dry-run
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PARTS = ("allreduce", "leaderboard", "xl")
SHARE = {"allreduce": 0.15, "leaderboard": 0.55, "xl": 0.30}  # of the budget, re-spread as parts finish early


def _part(args) -> None:
    import torch

    from cs336_systems import bench_dist as bd
    from cs336_systems.leaderboard import LEADERBOARD_8B, LeaderboardConfig

    backend = "gloo" if args.dry_run else "nccl"
    out = Path(args.out)
    if args.part == "allreduce":
        sizes = (1, 4, 16) if args.dry_run else (1, 4, 16, 64, 256, 1024)
        bd.run_allreduce(str(out / "allreduce.json"), backend=backend, sizes_mb=sizes,
                         iters={"nccl": 20, "gloo": 5} if not args.dry_run else {"gloo": 3})  # fmt: skip
    elif args.part == "xl":
        shape = bd.TINY if args.dry_run else bd.XL
        variants = bd.VARIANTS if args.xl_variants == "all" else tuple(v.strip() for v in args.xl_variants.split(","))
        bd.run_xl(str(out / "xl.json"), backend=backend, shape=shape, variants=variants,
                  warmup=2 if args.dry_run else 3,
                  steps=3 if args.dry_run else args.xl_steps, trace_dir=args.trace_dir,
                  budget_s=args.time_limit - 25)  # fmt: skip
    elif args.part == "leaderboard":
        cfg = LeaderboardConfig(vocab_size=211, context_length=64, d_model=64, d_ff=96, num_layers=2, num_heads=2)
        cfg = cfg if args.dry_run else LEADERBOARD_8B
        attn = "flash_torch" if args.dry_run or not torch.cuda.is_available() else "flash_triton"
        ckpt = True if args.lb_checkpoint < 0 else min(args.lb_checkpoint, cfg.num_layers)
        bd.run_leaderboard(str(out / "leaderboard.json"), backend=backend, config=cfg, attn_backend=attn,
                           chunk_size=16 if args.dry_run else 4096, checkpoint_blocks=ckpt)  # fmt: skip


def _run_part(name: str, args, limit: float) -> dict:
    cmd = [sys.executable, __file__, "--part", name, "--out", args.out, "--trace-dir", args.trace_dir,
           "--time-limit", str(limit), "--xl-steps", str(args.xl_steps),
           "--lb-checkpoint", str(args.lb_checkpoint), "--xl-variants", args.xl_variants]  # fmt: skip
    cmd += ["--dry-run"] if args.dry_run else []
    t0 = time.time()
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        rc = proc.wait(timeout=limit)
        status = "ok" if rc == 0 else f"exit code {rc}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # this part's own process group (its ranks included)
        proc.wait()
        status = f"killed after {limit:.0f} s time limit"
    return {"part": name, "status": status, "seconds": round(time.time() - t0, 1)}


def _fmt(v, nd=1):
    return f"{v:.{nd}f}" if isinstance(v, float) else ("" if v is None else str(v))


def write_report(out: Path, parts_status: list[dict]) -> str:
    lines = ["# 2-GPU benchmark results", ""]
    lines += ["| part | status | seconds |", "|---|---|---|"]
    lines += [f"| {p['part']} | {p['status']} | {p['seconds']} |" for p in parts_status]
    ar = out / "allreduce.json"
    if ar.exists():
        d = json.loads(ar.read_text())
        lines += ["", f"## All-reduce (fp32, {d['env'].get('world_size')} ranks; {d['env'].get('gpu', 'cpu')})", "",
                  "| backend | tensors on | size MB | iters | mean ms | std ms | algbw GB/s | busbw GB/s | correct |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in d["rows"]:
            lines.append(f"| {r['backend']} | {r['device']} | {r['size_mb']:g} | {r['iters']} "
                         f"| {_fmt(r['mean_ms'], 3)} "
                         f"| {_fmt(r['std_ms'], 3)} | {_fmt(r['algbw_GBps'], 2)} | {_fmt(r['busbw_GBps'], 2)} "
                         f"| {r['correct']} |")  # fmt: skip
    xl = out / "xl.json"
    if xl.exists():
        d = json.loads(xl.read_text())
        lines += ["", f"## Data-parallel variants ({d['shape']}, {d['warmup']} warm-up + {d['steps']} measured steps)",
                  "", "| variant | step ms (mean ± std) | fwd+bwd ms | exposed sync ms | opt ms | overhead vs local ms "
                  "| peak GiB per rank | status |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in d["rows"]:
            if "step_ms" in r:
                lines.append(f"| {r['variant']} | {r['step_ms']:.1f} ± {r['step_std_ms']:.1f} | {r['fwd_bwd_ms']:.1f} "
                             f"| {r['sync_ms']:.1f} | {r['opt_ms']:.1f} | {_fmt(r.get('overhead_ms'))} "
                             f"| {r.get('peak_GiB_per_rank', [round(r['peak_GiB'], 2)])} "
                             f"| {r['status']} |")  # fmt: skip
            else:
                lines.append(f"| {r['variant']} | | | | | | | {r.get('status')} |")
    lb = out / "leaderboard.json"
    if lb.exists():
        d = json.loads(lb.read_text())
        lines += ["", "## Leaderboard step", "", "```", json.dumps({k: d.get(k) for k in (
            "do_bench_ms_max_over_ranks", "do_bench_ms", "timer", "first_step_s", "steady_mean_s", "steady_std_s",
            "init_s", "peak_GiB", "mem_after_init_GiB", "losses", "loss_ln_vocab", "params", "flash_best",
            "config", "per_rank")}, indent=1), "```"]  # fmt: skip
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=300.0, help="seconds for all parts together")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--dry-run", action="store_true", help="gloo on CPU, tiny shapes")
    ap.add_argument("--xl-steps", type=int, default=5, help="measured steps per xl variant (after 3 warm-up)")
    ap.add_argument("--lb-checkpoint", type=int, default=-1,
                    help="leaderboard: checkpoint the first k blocks (-1 = all)")  # fmt: skip
    ap.add_argument("--xl-variants", default="all", help="comma-separated xl variants (default: all)")
    ap.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    ap.add_argument("--trace-dir", default="/tmp/cs336_traces", help=argparse.SUPPRESS)
    ap.add_argument("--time-limit", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ["NCCL_NVLS_ENABLE"] = "0"  # never NVLink multicast
    if args.part:
        _part(args)
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        print(f"error: unknown parts {bad}; choose from {', '.join(PARTS)}", file=sys.stderr)
        sys.exit(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Path(args.trace_dir).mkdir(parents=True, exist_ok=True)
    deadline = time.time() + args.budget
    status = []
    for i, name in enumerate(parts):
        left = deadline - time.time()
        share = SHARE[name] / sum(SHARE[p] for p in parts[i:])
        limit = max(10.0, left * share)
        print(f"== part {name}: limit {limit:.0f} s", flush=True)
        status.append(_run_part(name, args, limit))
        print(f"== part {name}: {status[-1]}", flush=True)
        if name == "xl":
            traces = {n: Path(args.trace_dir) / f"trace_{n}_rank0.json" for n in ("naive", "overlap", "fsdp")}
            traces = {n: p for n, p in traces.items() if p.exists()}
            if traces:
                try:
                    from cs336_systems.timeline import render_stream_timeline

                    summary = render_stream_timeline(traces, out / "timeline.png", title="xl step, rank 0")
                    (out / "timeline_summary.json").write_text(json.dumps(summary, indent=1))
                except Exception as e:  # noqa: BLE001 - recorded, the rest of the report still gets written
                    status.append({"part": "timeline", "status": f"error: {e}", "seconds": 0})
        write_report(out, status)
    print(write_report(out, status))


if __name__ == "__main__":
    main()
