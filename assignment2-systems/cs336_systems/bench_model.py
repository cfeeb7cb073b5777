"""End-to-end benchmark of the assignment 1 TransformerLM: forward, forward+backward, or a full AdamW train step.

    python -m cs336_systems bench-model --size small --mode train_step --autocast bf16 --attention flash_triton

Times each step with `timeit.default_timer` and a device synchronize after every step; reports mean and std over the
measured steps after warmup. One JSON row per run (appended to --out as JSON lines), `markdown_from_rows` builds
the table.
"""

from __future__ import annotations

import json
import statistics
import timeit
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch

from cs336_systems.errors import ConfigError

__all__ = ["MODEL_SIZES", "ModelBenchConfig", "build_model", "run_model_bench", "markdown_from_rows"]

# spec Table 1: d_model, d_ff, layers, heads
MODEL_SIZES = {
    "tiny": (64, 256, 2, 4),  # CPU tests only
    "small": (768, 3072, 12, 12),
    "medium": (1024, 4096, 24, 16),
    "large": (1280, 5120, 36, 20),
    "xl": (2560, 10240, 32, 32),
    "10B": (4608, 12288, 50, 36),
}
MODES = ("forward", "forward_backward", "train_step")
ATTENTION = {
    "naive": "ours",
    "ours": "ours",
    "sdpa": "torch",
    "torch": "torch",
    "flash_triton": "flash_triton",
    "flash_torch": "flash_torch",
}


@dataclass(frozen=True)
class ModelBenchConfig:
    size: str = "small"
    context_length: int = 512
    batch_size: int = 4
    vocab_size: int = 10_000
    mode: str = "forward_backward"
    warmup: int = 5
    steps: int = 10
    autocast: str = "none"  # none | bf16
    compile: bool = False
    attention: str = "naive"
    checkpoint_every: int = 0  # 0: off
    checkpoint_nested: bool = False
    device: str = "cuda"

    def validate(self) -> None:
        if self.size not in MODEL_SIZES:
            raise ConfigError(f"unknown model size {self.size!r}; known: {', '.join(MODEL_SIZES)}")
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.attention not in ATTENTION:
            raise ConfigError(f"unknown attention {self.attention!r}; known: {', '.join(ATTENTION)}")
        if self.autocast not in ("none", "bf16"):
            raise ConfigError(f"autocast must be none or bf16, got {self.autocast!r}")
        if self.steps < 1 or self.warmup < 0:
            raise ConfigError("need steps >= 1 and warmup >= 0")


def build_model(cfg: ModelBenchConfig) -> torch.nn.Module:
    import cs336_systems  # noqa: F401  (registers the flash backends)
    from cs336_basics.model import TransformerLM

    d_model, d_ff, layers, heads = MODEL_SIZES[cfg.size]
    model = TransformerLM(
        vocab_size=cfg.vocab_size,
        context_length=cfg.context_length,
        d_model=d_model,
        num_layers=layers,
        num_heads=heads,
        d_ff=d_ff,
        attn_backend=ATTENTION[cfg.attention],
        device=cfg.device,
    )
    if cfg.checkpoint_every:
        from cs336_systems.checkpointing import CheckpointedLM

        model = CheckpointedLM(model, cfg.checkpoint_every, cfg.checkpoint_nested)
    return model


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_model_bench(cfg: ModelBenchConfig) -> dict:
    """Returns one row: the config, mean/std ms per step, tokens/s, peak memory (CUDA), status (ok | OOM)."""
    cfg.validate()
    from cs336_basics.nn_utils import cross_entropy

    row = asdict(cfg)
    try:
        model = build_model(cfg)
        fwd = torch.compile(model) if cfg.compile else model
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if cfg.mode == "train_step" else None
        gen = torch.Generator(device=cfg.device).manual_seed(0)
        x = torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.context_length), device=cfg.device, generator=gen)
        y = torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.context_length), device=cfg.device, generator=gen)
        amp = (
            torch.autocast(cfg.device.split(":")[0], dtype=torch.bfloat16) if cfg.autocast == "bf16" else nullcontext()
        )

        def step():
            if cfg.mode == "forward":
                with torch.no_grad(), amp:
                    fwd(x)
                return
            with amp:
                loss = cross_entropy(fwd(x), y)
            loss.backward()
            if opt is not None:
                opt.step()
            model.zero_grad(set_to_none=True)

        for _ in range(cfg.warmup):
            step()
        _sync(cfg.device)
        if cfg.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(cfg.steps):
            t0 = timeit.default_timer()
            step()
            _sync(cfg.device)
            times.append((timeit.default_timer() - t0) * 1e3)
        row.update(
            mean_ms=statistics.fmean(times),
            std_ms=statistics.stdev(times) if len(times) > 1 else 0.0,
            tokens_per_s=cfg.batch_size * cfg.context_length / (statistics.fmean(times) / 1e3),
            peak_mem_gib=torch.cuda.max_memory_allocated() / 2**30 if cfg.device.startswith("cuda") else None,
            status="ok",
        )
    except torch.OutOfMemoryError:
        row.update(mean_ms=None, std_ms=None, tokens_per_s=None, peak_mem_gib=None, status="OOM")
    finally:
        if cfg.device.startswith("cuda"):
            torch.cuda.empty_cache()
    return row


def markdown_from_rows(rows: list[dict]) -> str:
    lines = [
        "| size | mode | ctx | batch | autocast | compile | attention | ckpt k "
        "| mean ms | std ms | tok/s | peak GiB | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:

        def f(key, fmt="{:.2f}", r=r):
            return "-" if r.get(key) is None else fmt.format(r[key])

        lines.append(
            f"| {r['size']} | {r['mode']} | {r['context_length']} | {r['batch_size']} | {r['autocast']} | "
            f"{r['compile']} | {r['attention']} | {r['checkpoint_every']} | {f('mean_ms')} | {f('std_ms')} | "
            f"{f('tokens_per_s', '{:.0f}')} | {f('peak_mem_gib')} | {r['status']} |"
        )
    return "\n".join(lines)


def load_rows(path) -> list[dict]:
    try:
        return [json.loads(line) for line in open(path) if line.strip()]
    except FileNotFoundError:
        raise ConfigError(f"results file not found: {path}") from None
