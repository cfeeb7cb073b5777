"""The hidden "world" of the simulated backend: loss-surface, hyperparameter, throughput and memory constants.

Base loss L0 = E + A·N^-alpha + B·D_eff^-beta (N = non-embedding parameters), with the published Chinchilla
approach-3 constants as defaults (spec §4.3). `World.sample(seed)` perturbs them so that every seed is a different
world whose optimum the grader still knows exactly. Worlds can be saved to / loaded from TOML.
"""

import math
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from cs336_scaling.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class World:
    # base surface
    E: float = 1.69
    A: float = 406.4
    B: float = 410.7
    alpha: float = 0.34
    beta: float = 0.28
    # learning rate: optimum eta*(N) = lr0 * (N / 1e8)^-lr_exp; penalty k_lr * ln²(eta/eta*); diverges past c_div·eta*
    lr0: float = 2e-3
    lr_exp: float = 0.3
    k_lr: float = 0.03
    c_div: float = 10.0
    # critical batch (Kaplan): D_eff = D / (1 + batch_tokens / B_crit), B_crit = b_star / L^(1/0.21)
    b_star: float = 2e10
    # shape: k_shape * ln²((d/L) / aspect)
    aspect: float = 64.0
    k_shape: float = 0.01
    # schedule and optimizer
    k_anneal: float = 0.03
    k_warmup: float = 0.02
    sgd_penalty: float = 0.6
    k_wd: float = 0.004
    k_beta: float = 2.0
    k_curve: float = 0.06
    # noise: per-seed init noise and a fixed offset of the 2^18-token validation set
    seed_noise: float = 0.01
    val_offset: float = 0.004
    # throughput: MFU = mfu_max · d/(d + d_half) · bt/(bt + bt_half); fp32 is fp32_slowdown× slower
    peak_flops: float = 2.25e15
    mfu_max: float = 0.45
    d_half: float = 900.0
    bt_half: float = 8192.0
    fp32_slowdown: float = 3.5
    memory_limit_bytes: float = 180e9
    world_seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"world.{f.name} must be finite, got {v}")
        for name in ("E", "A", "B", "alpha", "beta", "lr0", "peak_flops", "mfu_max", "aspect"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"world.{name} must be > 0, got {getattr(self, name)}")

    @classmethod
    def sample(cls, seed: int) -> "World":
        """A random world near the defaults (seed 0 is the default world itself)."""
        if seed == 0:
            return cls()
        rng = np.random.default_rng(seed)
        j = lambda v, rel: float(v * math.exp(rng.normal(0, rel)))
        base = cls()
        return replace(
            base,
            E=j(base.E, 0.08),
            A=j(base.A, 0.15),
            B=j(base.B, 0.15),
            alpha=j(base.alpha, 0.06),
            beta=j(base.beta, 0.06),
            lr0=j(base.lr0, 0.3),
            lr_exp=j(base.lr_exp, 0.1),
            b_star=j(base.b_star, 0.3),
            mfu_max=j(base.mfu_max, 0.1),
            d_half=j(base.d_half, 0.2),
            val_offset=float(rng.normal(0, 0.004)),
            world_seed=seed,
        )

    def save(self, path: str | Path) -> None:
        lines = [f"{k} = {v!r}" for k, v in asdict(self).items()]
        Path(path).write_text("\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "World":
        data = tomllib.loads(Path(path).read_text())
        valid = {f.name: f.type for f in fields(cls)}
        unknown = set(data) - set(valid)
        if unknown:
            raise ConfigError(f"unknown world key(s) {sorted(unknown)}; valid keys: {sorted(valid)}")
        return cls(**{k: (int(v) if k == "world_seed" else float(v)) for k, v in data.items()})
