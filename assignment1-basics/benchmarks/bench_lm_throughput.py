"""Forward+backward throughput of our TransformerLM vs Hugging Face LlamaForCausalLM of the same shape, and MFU.

Both models: fp32 master weights, bf16 autocast, the same loss function (`cs336_basics.nn_utils.cross_entropy` on
the logits), the same compile setting, the same batch. Ours uses the "torch" attention backend
(F.scaled_dot_product_attention, flash kernels on CUDA); HF uses attn_implementation="sdpa". Both are built with
the same shape: no biases, SwiGLU d_ff, RMSNorm eps 1e-5, RoPE theta 10000, untied embeddings, num_kv_heads =
num_heads.

Protocol (style guide §2.11): build, check that both losses at init are finite and near ln(vocab) (a FAIL row is
not timed), run `--warmup` steps (compilation happens here and is excluded), then time `--iters` fwd+bwd steps
one by one with CUDA events and report the median and IQR. tokens/s = batch * seq / median time.
MFU = tokens/s * FLOPs/token / peak, FLOPs/token from `cs336_basics.accounting.flops_per_token` (6N + 12·L·T·d,
no causal halving) and the datasheet bf16 dense peak (H100 SXM: 989 TFLOP/s).

    PYTHONPATH=assignment1-basics python3 assignment1-basics/benchmarks/bench_lm_throughput.py --compile \
        --out bench.json          # on a CUDA GPU; CPU works for a smoke test with --device cpu --shapes tiny
"""

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from cs336_basics.accounting import flops_per_token, lookup_peak_flops
from cs336_basics.metrics import collect_env
from cs336_basics.nn_utils import cross_entropy

SHAPES: dict[str, dict] = {
    # handout TinyStories base model
    "tinystories-17m": dict(vocab_size=10_000, context_length=256, d_model=512, num_layers=4, num_heads=16, d_ff=1344),
    # GPT-2 small shape (d_ff = 4d, as in GPT-2; SwiGLU so the FFN has 3 matrices)
    "gpt2-small": dict(vocab_size=50_257, context_length=1024, d_model=768, num_layers=12, num_heads=12, d_ff=3072),
    # the same with the vocabulary padded to a multiple of 64 (nanoGPT's 50,304): the LM head tiles evenly
    "gpt2-small-padded": dict(
        vocab_size=50_304, context_length=1024, d_model=768, num_layers=12, num_heads=12, d_ff=3072
    ),
    "tiny": dict(vocab_size=512, context_length=64, d_model=64, num_layers=2, num_heads=4, d_ff=192),
}
DEFAULT_BATCH = {"tinystories-17m": 128, "gpt2-small": 16, "gpt2-small-padded": 16, "tiny": 4}


def build_ours(shape: dict, device: torch.device) -> torch.nn.Module:
    from cs336_basics.model import TransformerLM

    return TransformerLM(**shape, rope_theta=10_000.0, attn_backend="torch", device=device)


def build_hf(shape: dict, device: torch.device) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=shape["vocab_size"],
        hidden_size=shape["d_model"],
        intermediate_size=shape["d_ff"],
        num_hidden_layers=shape["num_layers"],
        num_attention_heads=shape["num_heads"],
        num_key_value_heads=shape["num_heads"],
        max_position_embeddings=shape["context_length"],
        rope_theta=10_000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        use_cache=False,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).to(device)


def _logits_fn(name: str, model: torch.nn.Module):
    if name == "hf":
        return lambda x: model(input_ids=x, use_cache=False).logits
    return model


def time_model(name: str, shape: dict, batch: int, args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = (build_hf if name == "hf" else build_ours)(shape, device)
    logits_fn = _logits_fn(name, model)

    def forward_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            return cross_entropy(logits_fn(x), y)

    if args.compile:
        forward_loss = torch.compile(forward_loss)

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = forward_loss(x, y)
        loss.backward()
        return loss.detach()

    seq = shape["context_length"]
    gen = torch.Generator(device="cpu").manual_seed(1)
    batches = [torch.randint(0, shape["vocab_size"], (batch, seq + 1), generator=gen).to(device) for _ in range(4)]
    row: dict = {"model": name, "batch": batch, "seq": seq, "params": sum(p.numel() for p in model.parameters())}

    t0 = time.perf_counter()
    first = step(batches[0][:, :-1], batches[0][:, 1:]).item()
    row["init_loss"] = first
    if not math.isfinite(first) or abs(first - math.log(shape["vocab_size"])) > 1.5:
        row["status"] = "FAIL"
        return row
    for i in range(args.warmup):
        b = batches[i % len(batches)]
        step(b[:, :-1], b[:, 1:])
        model.zero_grad(set_to_none=True)
    _sync(device)
    row["warmup_s"] = round(time.perf_counter() - t0, 2)  # includes compilation; excluded from the timing

    times_ms = []
    for i in range(args.iters):
        b = batches[i % len(batches)]
        model.zero_grad(set_to_none=True)
        times_ms.append(_time_once(lambda b=b: step(b[:, :-1], b[:, 1:]), device))
    q = statistics.quantiles(times_ms, n=4)
    median = statistics.median(times_ms)
    row.update(status="ok", median_ms=median, iqr_ms=q[2] - q[0], tokens_per_s=batch * seq / (median / 1e3))
    if device.type == "cuda":
        row["mem_peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        torch.cuda.reset_peak_memory_stats(device)
    del model
    return row


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_once(fn, device: torch.device) -> float:
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end)
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", nargs="+", default=["tinystories-17m", "gpt2-small"], choices=sorted(SHAPES))
    p.add_argument("--models", nargs="+", default=["ours", "hf"], choices=["ours", "hf"])
    p.add_argument("--batch-size", type=int, help="default: 128 for tinystories-17m, 16 for gpt2-small")
    p.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", help="write bench.json here")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    peak = None
    if device.type == "cuda":
        peak = lookup_peak_flops(torch.cuda.get_device_name(device), "bf16" if args.dtype == "bf16" else "tf32")
    rows = []
    for shape_name in args.shapes:
        shape = SHAPES[shape_name]
        batch = args.batch_size or DEFAULT_BATCH[shape_name]
        fpt = flops_per_token(shape, seq_len=shape["context_length"])
        for name in args.models:
            row = {"shape": shape_name, **time_model(name, shape, batch, args, device)}
            if row["status"] == "ok":
                row["tflops"] = row["tokens_per_s"] * fpt / 1e12
                row["mfu"] = row["tokens_per_s"] * fpt / peak if peak else None
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(_table(rows, args))
    if args.out:
        env = collect_env()
        protocol = {k: getattr(args, k) for k in ("dtype", "compile", "warmup", "iters")}
        Path(args.out).write_text(json.dumps({"env": env, "protocol": protocol, "rows": rows}, indent=2))
    return 0


def _table(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"dtype {args.dtype} autocast, compile={args.compile}, median of {args.iters} fwd+bwd steps",
        "| shape | batch x seq | HF ms | ours ms | HF tok/s | ours tok/s | speedup | ours TFLOP/s | ours MFU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for shape in dict.fromkeys(r["shape"] for r in rows):
        by = {r["model"]: r for r in rows if r["shape"] == shape}
        ours, hf = by.get("ours", {}), by.get("hf", {})

        def cell(r: dict, key: str, fmt: str) -> str:
            return format(r[key], fmt) if r.get("status") == "ok" and r.get(key) is not None else r.get("status", "-")

        speed = f"{hf['median_ms'] / ours['median_ms']:.2f}x" if ours.get("status") == hf.get("status") == "ok" else "-"
        mfu = f"{ours['mfu']:.1%}" if ours.get("mfu") else "-"
        any_row = ours or hf
        lines.append(
            f"| {shape} | {any_row['batch']} x {any_row['seq']} | {cell(hf, 'median_ms', '.2f')} | "
            f"{cell(ours, 'median_ms', '.2f')} | {cell(hf, 'tokens_per_s', ',.0f')} | "
            f"{cell(ours, 'tokens_per_s', ',.0f')} | {speed} | {cell(ours, 'tflops', '.1f')} | {mfu} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
