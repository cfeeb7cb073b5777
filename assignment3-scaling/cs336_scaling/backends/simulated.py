"""Simulated backend: an analytic loss surface with hyperparameter effects, seed noise, divergence, a throughput
and memory model, and a virtual clock (spec §4.3). Deterministic: the same world and config give the same result.

    from cs336_scaling.backends.simulated import SimulatedBackend
    SimulatedBackend().run(cfg, on_val_losses=print)

Runs finish instantly but are charged simulated B200 seconds; `time_scale > 0` also sleeps that many real seconds
per simulated second, for UI tests. Not simulated: bf16 quantisation of reported losses, preemption, queue latency.
"""

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from cs336_scaling.api import N_VAL_TOKENS, SEQ_LEN, AdamWConfig, ArchitectureConfig, TrainingConfig
from cs336_scaling.backends import RunResult
from cs336_scaling.backends.world import World

DIVERGED_LOSS = math.log(32000)


def flops_per_token(arch: ArchitectureConfig) -> float:
    """Training FLOPs per token: 6 (N_ne + V·d) + 6 L·512·d (spec §4.3)."""
    return 6.0 * (arch.non_embedding_params + arch.vocab_size * arch.hidden_size) + 6.0 * (
        arch.num_hidden_layers * SEQ_LEN * arch.hidden_size
    )


def mfu(world: World, d_model: int, batch_tokens: float) -> float:
    return world.mfu_max * d_model / (d_model + world.d_half) * batch_tokens / (batch_tokens + world.bt_half)


def tokens_per_second(world: World, cfg: TrainingConfig) -> float:
    arch = cfg.architecture_config
    flops = world.peak_flops * mfu(world, arch.hidden_size, cfg.train_batch_size * SEQ_LEN)
    if arch.dtype == "float32":
        flops /= world.fp32_slowdown
    return flops / flops_per_token(arch)


def memory_bytes(cfg: TrainingConfig) -> float:
    """Parameters + AdamW state (fp32 m, v) + gradients + a crude activation estimate (~34·d bytes per token-layer)."""
    arch = cfg.architecture_config
    n = arch.non_embedding_params + arch.embedding_params
    width = 4 if arch.dtype == "float32" else 2
    activations = cfg.train_batch_size * SEQ_LEN * arch.num_hidden_layers * arch.hidden_size * 17 * width
    return n * (2 * width + 8) + activations


def optimal_lr(world: World, n_params: float) -> float:
    return world.lr0 * (n_params / 1e8) ** -world.lr_exp


def base_loss(world: World, n: float, d: float, batch_tokens: float) -> float:
    """E + A N^-α + B D_eff^-β with the Kaplan critical-batch correction on D."""
    l0 = world.E + world.A * n**-world.alpha + world.B * d**-world.beta
    b_crit = world.b_star / l0 ** (1 / 0.21)
    d_eff = d / (1 + batch_tokens / b_crit)
    return world.E + world.A * n**-world.alpha + world.B * d_eff**-world.beta


def hyper_penalty(world: World, cfg: TrainingConfig) -> float:
    """Additive, non-negative penalties of LR, shape, schedule and optimizer choices (0 at the ideal)."""
    arch, opt = cfg.architecture_config, cfg.optimizer_config
    sched = opt.lr_scheduler
    ratio = sched.peak_value / optimal_lr(world, arch.non_embedding_params)
    pen = world.k_lr * math.log(ratio) ** 2
    pen += world.k_shape * math.log(arch.hidden_size / arch.num_hidden_layers / world.aspect) ** 2
    pen += world.k_anneal * sched.final_lr_frac**2
    if sched.warmup_frac < 0.01 and ratio > 0.5:
        pen += world.k_warmup * (1 + max(0.0, math.log(ratio)))
    if isinstance(opt, AdamWConfig):
        pen += world.k_wd * math.log10((opt.weight_decay + 1e-3) / 0.011) ** 2 / 4
        pen += world.k_beta * ((opt.beta1 - 0.9) ** 2 + (opt.beta2 - 0.95) ** 2)
    else:
        pen += world.sgd_penalty
    if arch.dtype == "float32":
        pen -= 0.002
    return max(pen, 0.0)


def _unit_normal(key: str) -> float:
    digest = hashlib.blake2s(key.encode(), digest_size=8).digest()
    return float(np.random.default_rng(int.from_bytes(digest, "little")).standard_normal())


def seed_noise(world: World, cfg: TrainingConfig) -> float:
    """Init noise, seeded by the config minus max_runtime_seconds (so re-reserving does not change the result)."""
    key = cfg.model_copy(update={"max_runtime_seconds": 1.0}).unique_id
    return world.seed_noise * _unit_normal(f"{world.world_seed}:{key}")


def final_loss(world: World, cfg: TrainingConfig, *, leaderboard: bool = False) -> float:
    """Loss after the full run (no timeout); `leaderboard` drops the 2^18-token val-set offset."""
    return _curve(world, cfg, leaderboard=leaderboard)[-1]


def _curve(world: World, cfg: TrainingConfig, *, leaderboard: bool = False) -> list[float]:
    arch, sched = cfg.architecture_config, cfg.optimizer_config.lr_scheduler
    n, d = arch.non_embedding_params, cfg.total_train_tokens
    bt = cfg.train_batch_size * SEQ_LEN
    eta_star = optimal_lr(world, n)
    pen = hyper_penalty(world, cfg)
    noise = seed_noise(world, cfg) + (0.0 if leaderboard else world.val_offset)
    steps = cfg.total_optimizer_steps
    losses = []
    diverged = False
    for i in range(1, cfg.n_evals + 1):
        step = steps * i // cfg.n_evals
        lr_i = max(sched.lr_at(step, steps), sched.lr_at(step * (i - 1) // max(i, 1), steps))
        if lr_i > world.c_div * eta_star:
            diverged = True
        if diverged:
            losses.append(DIVERGED_LOSS + 0.01 * i / cfg.n_evals)
            continue
        base = base_loss(world, n, d * i / cfg.n_evals, bt) + pen + noise
        if i < cfg.n_evals:
            base += world.k_curve * sched.lr_at(step, steps) / sched.peak_value
        losses.append(float(min(base, DIVERGED_LOSS)))
    return losses


def chunk_seconds(world: World, cfg: TrainingConfig) -> list[float]:
    """Simulated seconds of each chunk: its training tokens plus one validation pass (forward only: 1/3 of FLOPs)."""
    tps = tokens_per_second(world, cfg)
    per_chunk = cfg.total_train_tokens / cfg.n_evals / tps + N_VAL_TOKENS / (3 * tps)
    return [per_chunk] * cfg.n_evals


class SimulatedBackend:
    name = "simulated"

    def __init__(self, world: World | None = None, *, time_scale: float = 0.0) -> None:
        self.world = world or World()
        self.time_scale = time_scale

    def run(self, cfg: TrainingConfig, on_val_losses: Callable[[list[float]], None]) -> RunResult:
        if memory_bytes(cfg) > self.world.memory_limit_bytes:
            need = memory_bytes(cfg) / 1e9
            return RunResult(
                "unexpected", [], 1.0, f"XlaRuntimeError: RESOURCE_EXHAUSTED: needs {need:.0f} GB > 180 GB"
            )
        curve, times = _curve(self.world, cfg), chunk_seconds(self.world, cfg)
        elapsed, done = 0.0, []
        for loss, dt in zip(curve, times):
            if elapsed > cfg.max_runtime_seconds:
                return RunResult("timeout", done, elapsed, chunk_seconds=times)
            if self.time_scale > 0:
                time.sleep(dt * self.time_scale)
            elapsed += dt
            done.append(loss)
            on_val_losses(list(done))
        if elapsed > cfg.max_runtime_seconds:
            return RunResult("timeout", done, elapsed, chunk_seconds=times)
        return RunResult("completed", done, elapsed, chunk_seconds=times)


@dataclass(frozen=True)
class TrueOptimum:
    n: float
    tokens: float
    loss: float
    batch_size: int


def true_optimum(world: World, target_seconds: float, *, vocab_size: int = 32000) -> TrueOptimum:
    """Best noise-free loss reachable in `target_seconds` with ideal hyperparameters (continuous N, 12·L·d² family
    with d/L = aspect and d_ff = 8/3·d, batch sizes 2^4…2^12 sequences)."""
    best: TrueOptimum | None = None
    for log2_bs in range(4, 13):
        bs = 2**log2_bs
        bt = bs * SEQ_LEN

        def tokens(n: float, bt: float = bt) -> float:
            d_model = (n * world.aspect / 12) ** (1 / 3)
            layers = d_model / world.aspect
            f = 6 * (n + vocab_size * d_model) + 6 * layers * SEQ_LEN * d_model
            return target_seconds * world.peak_flops * mfu(world, d_model, bt) / f  # type: ignore[arg-type]

        obj = lambda log_n, bt=bt: base_loss(world, math.exp(log_n), tokens(math.exp(log_n)), bt)
        res = minimize_scalar(obj, bounds=(math.log(1e6), math.log(1e12)), method="bounded", options={"xatol": 1e-6})
        cand = TrueOptimum(n=math.exp(res.x), tokens=tokens(math.exp(res.x)), loss=float(res.fun), batch_size=bs)
        if best is None or cand.loss < best.loss:
            best = cand
    assert best is not None
    return best
