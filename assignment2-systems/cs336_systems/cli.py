"""The `cs336-systems` command line.

uv run cs336-systems --help
uv run cs336-systems bench-attention --head-dims 64 128 --seq-lens 4096 16384 --causal --out runs/attn
uv run cs336-systems bench-model --size small --mode train_step --autocast bf16 --attention flash_triton
uv run cs336-systems model-table runs/model.jsonl
uv run cs336-systems memory --size small --snapshot runs/mem.pickle      (CUDA; records + renders)
uv run cs336-systems memory --render runs/mem.pickle --png runs/mem.png  (offline, any machine)
uv run cs336-systems profile --size small --trace runs/trace.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import torch

from cs336_systems.errors import SystemsError


def run_meta() -> dict:
    """Hardware, date, commit and versions recorded next to every number."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "torch": torch.__version__,
        "commit": commit or "unknown",
        "argv": sys.argv,
    }


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


# -- bench-attention ----------------------------------------------------------------------------------------------


def cmd_bench_attention(args) -> int:
    from cs336_systems.bench_attention import markdown_table, run_grid, write_results

    device = torch.device(args.device or _default_device())
    cells = run_grid(
        args.impls, args.head_dims, args.seq_lens, args.batch, args.heads, args.dtype, args.causal, device,
        args.warmup_ms, args.rep_ms,
    )  # fmt: skip
    meta = run_meta()
    print(f"\n{meta['device']}, torch {meta['torch']}, {meta['date']}, commit {meta['commit']}")
    print(markdown_table(cells))
    if args.out:
        write_results(cells, Path(args.out), meta)
    return 0


# -- bench-model / model-table ---------------------------------------------------------------------------------------


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", default="small", help="tiny|small|medium|large|xl|10B")
    p.add_argument("--context-length", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--vocab-size", type=int, default=10_000)
    p.add_argument("--mode", default="forward_backward", help="forward|forward_backward|train_step")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--autocast", default="none", help="none|bf16")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--attention", default="naive", help="naive|sdpa|flash_triton|flash_torch")
    p.add_argument("--checkpoint-every", type=int, default=0, help="checkpoint every k blocks (0: off)")
    p.add_argument("--checkpoint-nested", action="store_true")
    p.add_argument("--device", default=None)


def _model_cfg(args):
    from cs336_systems.bench_model import ModelBenchConfig

    kwargs = {f.name: getattr(args, f.name) for f in fields(ModelBenchConfig) if hasattr(args, f.name)}
    kwargs["device"] = args.device or _default_device()
    cfg = ModelBenchConfig(**kwargs)
    cfg.validate()
    return cfg


def cmd_bench_model(args) -> int:
    from cs336_systems.bench_model import markdown_from_rows, run_model_bench

    row = run_model_bench(_model_cfg(args))
    row["meta"] = run_meta()
    print(json.dumps(row))
    print(markdown_from_rows([row]))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


def cmd_model_table(args) -> int:
    from cs336_systems.bench_model import load_rows, markdown_from_rows

    print(markdown_from_rows([r for p in args.files for r in load_rows(p)]))
    return 0


# -- memory -----------------------------------------------------------------------------------------------------------


def cmd_memory(args) -> int:
    from cs336_systems.memory import format_summary, render_snapshot

    if args.render:
        summary = render_snapshot(Path(args.render), Path(args.png or Path(args.render).with_suffix(".png")), args.top)
        print(format_summary(summary))
        return 0
    from cs336_basics.nn_utils import cross_entropy
    from cs336_systems.bench_model import build_model
    from cs336_systems.memory import SavedTensorAccounting, record_snapshot, saved_tensors_by_node

    cfg = _model_cfg(args)
    model = build_model(cfg)
    x = torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.context_length), device=cfg.device)
    amp = torch.autocast(cfg.device.split(":")[0], dtype=torch.bfloat16, enabled=cfg.autocast == "bf16")
    with SavedTensorAccounting(model.parameters()) as acct, amp:
        loss = cross_entropy(model(x), x)
    by_node = saved_tensors_by_node(loss, list(model.parameters()))
    print(f"saved for backward (parameters excluded): {acct.total_bytes / 2**20:.2f} MiB")
    for name, nbytes in list(by_node.items())[: args.top]:
        print(f"  {name:40s} {nbytes / 2**20:10.2f} MiB")
    loss.backward()
    model.zero_grad(set_to_none=True)
    if args.snapshot:

        def step():
            with amp:
                out = cross_entropy(model(x), x)
            out.backward()

        peak = record_snapshot(step, Path(args.snapshot))
        print(f"max_memory_allocated: {peak / 2**20:.1f} MiB")
        summary = render_snapshot(
            Path(args.snapshot), Path(args.png or Path(args.snapshot).with_suffix(".png")), args.top
        )
        print(format_summary(summary))
    return 0


# -- profile ----------------------------------------------------------------------------------------------------------


def cmd_profile(args) -> int:
    from cs336_basics.nn_utils import cross_entropy
    from cs336_systems.bench_model import build_model
    from cs336_systems.profiling import profile_fn, top_kernels_markdown

    cfg = _model_cfg(args)
    model = build_model(cfg)
    x = torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.context_length), device=cfg.device)
    amp = torch.autocast(cfg.device.split(":")[0], dtype=torch.bfloat16, enabled=cfg.autocast == "bf16")

    def step():
        with amp:
            loss = cross_entropy(model(x), x)
        if cfg.mode != "forward":
            loss.backward()
            model.zero_grad(set_to_none=True)

    for _ in range(cfg.warmup):
        step()
    prof = profile_fn(step, cfg.steps, Path(args.trace) if args.trace else None)
    print(top_kernels_markdown(prof, args.top))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cs336-systems", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="re-raise errors with their traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("bench-attention", help="attention grid: head dim x seq for several implementations")
    p.add_argument("--impls", nargs="+", default=["naive", "compiled", "triton", "sdpa_flash", "sdpa_cudnn"])
    p.add_argument("--head-dims", nargs="+", type=int, default=[16, 32, 64, 128])
    p.add_argument("--seq-lens", nargs="+", type=int, default=[256, 1024, 4096, 8192, 16384])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--dtype", default="bf16", help="bf16|fp16|fp32")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--warmup-ms", type=int, default=25)
    p.add_argument("--rep-ms", type=int, default=100)
    p.add_argument("--device", default=None)
    p.add_argument("--out", default=None, help="folder for attention.json and attention.md")
    p.set_defaults(handler=cmd_bench_attention)

    p = sub.add_parser("bench-model", help="end-to-end model timing (one JSON row per run)")
    _add_model_args(p)
    p.add_argument("--out", default=None, help="append the JSON row to this .jsonl file")
    p.set_defaults(handler=cmd_bench_model)

    p = sub.add_parser("model-table", help="markdown table from bench-model .jsonl files")
    p.add_argument("files", nargs="+")
    p.set_defaults(handler=cmd_model_table)

    p = sub.add_parser("memory", help="saved-tensor accounting, CUDA memory snapshot, offline snapshot renderer")
    _add_model_args(p)
    p.add_argument("--snapshot", default=None, help="record a CUDA memory snapshot to this pickle")
    p.add_argument("--render", default=None, help="render an existing snapshot pickle (offline)")
    p.add_argument("--png", default=None)
    p.add_argument("--top", type=int, default=10)
    p.set_defaults(handler=cmd_memory)

    p = sub.add_parser("profile", help="torch.profiler trace + top-kernel table")
    _add_model_args(p)
    p.add_argument("--trace", default=None, help="Chrome trace output path")
    p.add_argument("--top", type=int, default=15)
    p.set_defaults(handler=cmd_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except (SystemsError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
