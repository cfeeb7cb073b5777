"""Optimizer and learning-rate schedule of the supplement's loops (instruction tuning and DPO).

Linear warm-up over `warmup_ratio` of the optimizer steps, then cosine decay to `min_lr_ratio * lr` (the handout's
instruction-tuning recipe: 3 % warm-up, cosine), or a constant rate after warm-up (the DPO recipe).

    python -c "from cs336_alignment.schedule import lr_at; help(lr_at)"
"""

import contextlib
import math

import torch

from cs336_alignment.supplement_config import ScheduleConfig


def make_optimizer(params, cfg: ScheduleConfig) -> torch.optim.Optimizer:
    """AdamW (betas, weight decay from the config) or RMSprop (one state tensor per parameter: half AdamW's memory)."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)


def warmup_steps(total_steps: int, cfg: ScheduleConfig) -> int:
    return int(math.ceil(cfg.warmup_ratio * total_steps))


def lr_at(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """Learning rate of optimizer step `step` (0-based) out of `total_steps`."""
    warm = warmup_steps(total_steps, cfg)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - warm) / max(total_steps - warm - 1, 1))
    floor = cfg.min_lr_ratio * cfg.lr
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when enabled; a no-op context elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
