"""Local-backend throughput (backend B): tokens/s of the A1 TransformerLM per config, through `LocalBackend.run`.

    uv run python benchmarks/bench_local.py --device cpu --widths 128,256 --steps 6            # CPU
    python3 benchmarks/bench_local.py --device cuda --widths 256,512,1024,1536 --steps 40    # GPU machine

Configs follow the planner's shape family (head_dim 64, d/L = 64, d_ff = 8/3·d), vocab 32000, 512-token sequences.
Each row runs one warm-up config first (CUDA context, allocator), then a run of `--steps` optimizer steps with one
tiny validation pass; tokens/s = train tokens / charged seconds, so it is the rate the API would bill. MFU uses the
simulator's FLOPs per token, 6(N_ne + V·d) + 6·L·512·d, against `--peak-tflops`.
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from cs336_scaling.api import AdamWConfig, ArchitectureConfig, TrainingConfig, WarmupCosineDecay
from cs336_scaling.backends.local import LocalBackend, make_synthetic_corpus
from cs336_scaling.backends.simulated import flops_per_token


def shape(d: int, dtype: str) -> ArchitectureConfig:
    return ArchitectureConfig(
        hidden_size=d, head_dim=64, num_attention_heads=d // 64, num_key_value_heads=d // 64,
        num_hidden_layers=max(1, d // 64), intermediate_size=-(-8 * d // 3 // 64) * 64, dtype=dtype,
    )  # fmt: skip


def config(d: int, steps: int, batch: int, dtype: str) -> TrainingConfig:
    return TrainingConfig(
        architecture_config=shape(d, dtype), optimizer_config=AdamWConfig(lr_scheduler=WarmupCosineDecay()),
        train_batch_size=batch, n_evals=1, total_train_tokens=512 * batch * steps, max_runtime_seconds=43200,
        val_batch_size=8,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--widths", default="128,256")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--peak-tflops", type=float, default=0.0, help="for the MFU column (0 = omit)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    import torch

    hw = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        need = 512 * args.batch * args.steps + 4096
        make_synthetic_corpus(tmp, train_tokens=need, vocab_size=512, val_tokens=4096, shard_tokens=2**22)
        backend = LocalBackend(tmp, device=args.device, val_tokens=4096)
        backend.run(config(128, 2, args.batch, args.dtype), lambda _: None)  # warm-up
        rows = []
        for d in widths:
            cfg = config(d, args.steps, args.batch, args.dtype)
            t0 = time.perf_counter()
            res = backend.run(cfg, lambda _: None)
            wall = time.perf_counter() - t0
            if res.status != "completed":
                rows.append({"d_model": d, "status": res.status, "failure": res.failure})
                continue
            tps = cfg.total_train_tokens / res.used_runtime_seconds
            row = {
                "d_model": d, "layers": cfg.architecture_config.num_hidden_layers,
                "non_embedding_params": cfg.architecture_config.non_embedding_params, "batch": args.batch,
                "dtype": args.dtype, "tokens_per_s": tps, "charged_s": res.used_runtime_seconds, "wall_s": wall,
                "final_loss": res.val_losses[-1],
            }  # fmt: skip
            if args.peak_tflops:
                row["mfu"] = tps * flops_per_token(cfg.architecture_config) / (args.peak_tflops * 1e12)
            rows.append(row)
    print(f"device: {hw}; torch {torch.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| d_model | layers | N_ne | batch | dtype | tokens/s | charged s | MFU |")
    print("|---:|---:|---:|---:|:-:|---:|---:|---:|")
    for r in rows:
        if "tokens_per_s" not in r:
            print(f"| {r['d_model']} | – | – | – | – | {r['status']}: {r['failure']} | – | – |")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "–"
        print(f"| {r['d_model']} | {r['layers']} | {r['non_embedding_params']:.3g} | {r['batch']} | {r['dtype']} | "
              f"{r['tokens_per_s']:.0f} | {r['charged_s']:.2f} | {mfu} |")  # fmt: skip
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        meta = {"rows": rows, "device": hw, "torch": torch.__version__, "args": vars(args) | {"out": str(args.out)}}
        (args.out / "bench_local.json").write_text(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
