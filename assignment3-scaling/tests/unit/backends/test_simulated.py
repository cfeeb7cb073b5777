"""Simulated backend: determinism, monotonicity, U-shaped IsoFLOP profiles, divergence, timeouts, memory (spec §4.3)."""

import math

import numpy as np
import pytest

from cs336_scaling.api import TrainingConfig
from cs336_scaling.backends.simulated import (
    DIVERGED_LOSS,
    SimulatedBackend,
    final_loss,
    optimal_lr,
    true_optimum,
)
from cs336_scaling.backends.world import World
from cs336_scaling.errors import ConfigError
from cs336_scaling.planner import shape
from tests.conftest import make_cfg

WORLD = World()


def cfg_for(d: int, tokens: int, *, lr: float | None = None, **over: object) -> TrainingConfig:
    arch = shape(d)
    lr = lr if lr is not None else optimal_lr(WORLD, arch.non_embedding_params)
    quantum = 512 * 64 * 8
    base = make_cfg(
        architecture_config=arch.model_dump(),
        optimizer_config={"type": "adamw", "lr_scheduler": {"peak_value": lr}},
        total_train_tokens=max(quantum, tokens // quantum * quantum),
        max_runtime_seconds=43200.0,
    )
    base.update(over)
    return TrainingConfig.model_validate(base)


def run(cfg: TrainingConfig, world: World = WORLD):
    seen: list[list[float]] = []
    result = SimulatedBackend(world).run(cfg, seen.append)
    return result, seen


def test_deterministic_and_seed_noise() -> None:
    cfg = cfg_for(512, 200_000_000)
    a, seen = run(cfg)
    b, _ = run(cfg)
    assert a == b and a.status == "completed"
    assert seen[-1] == a.val_losses and [len(s) for s in seen] == list(range(1, 9))  # curve grows chunk by chunk
    other_seed = run(cfg.model_copy(update={"model_seed": 1}))[0].val_losses[-1]
    assert other_seed != a.val_losses[-1] and abs(other_seed - a.val_losses[-1]) < 0.08
    rereserved = run(cfg.model_copy(update={"max_runtime_seconds": 40000.0}))[0]
    assert rereserved.val_losses == a.val_losses  # the reservation is not part of the noise key
    assert run(cfg, World.sample(3))[0].val_losses != a.val_losses  # another world


def test_seed_noise_has_the_configured_spread() -> None:
    cfg = cfg_for(512, 200_000_000)
    finals = [final_loss(WORLD, cfg.model_copy(update={"model_seed": s})) for s in range(200)]
    assert np.std(finals) == pytest.approx(WORLD.seed_noise, rel=0.25)


def test_loss_falls_with_data_and_with_size_at_fixed_data() -> None:
    by_d = [final_loss(WORLD, cfg_for(512, t)) for t in (50_000_000, 200_000_000, 800_000_000)]
    assert by_d[0] > by_d[1] > by_d[2]
    w0 = World(seed_noise=0.0)
    by_n = [final_loss(w0, cfg_for(d, 400_000_000)) for d in (256, 512, 1024)]
    assert by_n[0] > by_n[1] > by_n[2]


def test_isoflop_profile_is_u_shaped() -> None:
    w0 = World(seed_noise=0.0)
    c = 1e18
    losses = []
    for d in (192, 256, 384, 512, 768, 1024, 1536):
        n = shape(d).non_embedding_params
        losses.append(final_loss(w0, cfg_for(d, int(c / (6 * n)))))
    i = int(np.argmin(losses))
    assert 0 < i < len(losses) - 1
    assert all(np.diff(losses[: i + 1]) < 0) and all(np.diff(losses[i:]) > 0)


def test_learning_rate_penalty_and_divergence() -> None:
    w0 = World(seed_noise=0.0)
    eta = optimal_lr(w0, shape(512).non_embedding_params)
    at = {f: final_loss(w0, cfg_for(512, 200_000_000, lr=eta * f)) for f in (0.25, 1.0, 4.0)}
    assert at[1.0] < at[0.25] and at[1.0] < at[4.0]
    diverged, _ = run(cfg_for(512, 200_000_000, lr=eta * 20), w0)
    assert diverged.status == "completed" and diverged.val_losses[-1] > DIVERGED_LOSS - 0.01


def test_intermediate_points_sit_above_a_fresh_shorter_run() -> None:
    w0 = World(seed_noise=0.0)
    long, _ = run(cfg_for(512, 512 * 64 * 8 * 400), w0)
    short = final_loss(w0, cfg_for(512, 512 * 64 * 8 * 200))
    assert long.val_losses[3] > short  # half-way point of the long run vs a run of that length


def test_timeout_keeps_partial_losses_and_full_charge() -> None:
    full, _ = run(cfg_for(512, 400_000_000))
    cfg = cfg_for(512, 400_000_000, max_runtime_seconds=full.used_runtime_seconds * 0.5)
    res, _ = run(cfg)
    assert res.status == "timeout" and 0 < len(res.val_losses) < 8
    assert res.val_losses == full.val_losses[: len(res.val_losses)]
    # all chunks finished but the total exceeds max_runtime: still a timeout
    edge = run(cfg_for(512, 400_000_000, max_runtime_seconds=full.used_runtime_seconds * 0.99))[0]
    assert edge.status == "timeout" and len(edge.val_losses) == 8


def test_throughput_model() -> None:
    small, big = run(cfg_for(256, 100_000_000))[0], run(cfg_for(1024, 100_000_000))[0]
    assert big.used_runtime_seconds > small.used_runtime_seconds
    fp32 = run(cfg_for(256, 100_000_000, architecture_config={**shape(256).model_dump(), "dtype": "float32"}))[0]
    assert fp32.used_runtime_seconds == pytest.approx(small.used_runtime_seconds * WORLD.fp32_slowdown, rel=1e-9)
    # the handout's example (51.4M params, 2^23 tokens) takes seconds, not minutes
    example = make_cfg(
        architecture_config={
            "hidden_size": 448,
            "head_dim": 64,
            "num_attention_heads": 7,
            "num_key_value_heads": 7,
            "num_hidden_layers": 9,
            "intermediate_size": 1280,
        },  # fmt: skip
        total_train_tokens=2**23,
    )
    secs = run(TrainingConfig.model_validate(example))[0].used_runtime_seconds
    assert 4 < secs < 25


def test_out_of_memory_fails_fast() -> None:
    huge = shape(8192).model_dump()
    cfg = cfg_for(512, 512 * 64 * 8, architecture_config=huge, train_batch_size=4096, total_train_tokens=512 * 4096 * 8)
    res, seen = run(cfg)
    assert res.status == "unexpected" and "RESOURCE_EXHAUSTED" in res.failure and res.used_runtime_seconds == 1.0
    assert seen == []


def test_true_optimum_beats_neighbours() -> None:
    opt = true_optimum(WORLD, 48 * 3600)
    assert 1e7 < opt.n < 1e11 and opt.loss > WORLD.E
    assert math.isfinite(opt.tokens) and opt.batch_size in [2**k for k in range(4, 13)]


def test_world_sample_and_toml_round_trip(tmp_path) -> None:
    assert World.sample(0) == World()
    w = World.sample(7)
    assert w != World() and w == World.sample(7)
    w.save(tmp_path / "w.toml")
    assert World.load(tmp_path / "w.toml") == w
    (tmp_path / "bad.toml").write_text("E = 1.0\nbogus = 2\n")
    with pytest.raises(ConfigError, match="unknown world key"):
        World.load(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="must be > 0"):
        World(alpha=-0.1)
