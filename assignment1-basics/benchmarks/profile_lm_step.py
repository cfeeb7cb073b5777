"""Time (and optionally profile) one training step of our TransformerLM, to find where the model's GPU time goes.

Step = compiled (bf16 autocast) forward + `cross_entropy` + backward on random tokens; no optimizer, as in
`bench_lm_throughput.py`. Reports ms/step, tokens/s and MFU (`cs336_basics.accounting`, FLOPs counted with the
true vocabulary, so LM-head padding earns no extra credit), optionally the top CUDA kernels.

    PYTHONPATH=assignment1-basics python3 assignment1-basics/benchmarks/profile_lm_step.py \
        --vocab-pad-multiple 1 64 --profile --out profile.json      # on a CUDA GPU
"""

import argparse
import json
import sys
import time

import torch

from cs336_basics.accounting import flops_per_token, lookup_peak_flops
from cs336_basics.metrics import collect_env
from cs336_basics.model import TransformerLM
from cs336_basics.nn_utils import cross_entropy

# GPT-2 small: d 768, 12 layers, 12 heads, ctx 1024, GPT-2 vocabulary; SwiGLU with d_ff = 4d.
GPT2_SMALL = dict(vocab_size=50_257, context_length=1024, d_model=768, num_layers=12, num_heads=12, d_ff=3072)


def run(pad: int, args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    shape = GPT2_SMALL
    model = TransformerLM(**shape, attn_backend=args.attn_backend, vocab_pad_multiple=pad, device="cuda")

    def forward_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return cross_entropy(model(x), y)

    step_loss = torch.compile(forward_loss) if args.compile else forward_loss
    x = torch.randint(0, shape["vocab_size"], (args.batch_size, shape["context_length"]), device="cuda")
    y = torch.roll(x, -1, dims=1)

    def step() -> None:
        step_loss(x, y).backward()
        model.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.iters):
        step()
    torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) / args.iters * 1e3
    tokens_per_s = args.batch_size * shape["context_length"] / (ms / 1e3)
    peak = lookup_peak_flops(torch.cuda.get_device_name())
    row = {
        "vocab_pad_multiple": pad,
        "batch": args.batch_size,
        "ms_per_step": round(ms, 2),
        "tokens_per_s": round(tokens_per_s),
        "mfu": round(tokens_per_s * flops_per_token(shape) / peak, 4),
    }
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                step()
            torch.cuda.synchronize()
        events = sorted(prof.key_averages(), key=lambda e: e.self_device_time_total, reverse=True)
        total = sum(e.self_device_time_total for e in events)
        row["top_kernels"] = [
            {"name": e.key[:100], "share": round(e.self_device_time_total / total, 4)} for e in events[:15]
        ]
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab-pad-multiple", type=int, nargs="+", default=[1, 64])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--attn-backend", default="torch")
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--iters", type=int, default=15)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--out")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: this benchmark needs a CUDA GPU", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = True
    rows = []
    for pad in args.vocab_pad_multiple:
        row = run(pad, args)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "top_kernels"}), flush=True)
        for kernel in row.get("top_kernels", []):
            print(f"    {kernel['share']:6.1%}  {kernel['name']}")
        torch._dynamo.reset()
    if args.out:
        result = {"env": collect_env(), "shape": GPT2_SMALL, "protocol": vars(args), "rows": rows}
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
