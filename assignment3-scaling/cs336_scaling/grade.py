"""Local grader (spec §4.5): score a final submission against the simulated world's known optimum.

uv run cs336-scaling grade --db scaling.db --user student --world-seed 0
"""

import math
from dataclasses import asdict, dataclass

from cs336_scaling.api import SEQ_LEN, TrainingConfig
from cs336_scaling.backends.simulated import final_loss, tokens_per_second, true_optimum
from cs336_scaling.backends.world import World


@dataclass(frozen=True)
class GradeReport:
    achieved_loss: float
    predicted_loss: float
    abs_error: float
    true_optimal_loss: float
    regret: float
    submitted_n: int
    true_optimal_n: float
    n_ratio: float
    runtime_seconds: float
    truncated: bool
    budget_used_seconds: float
    budget_fraction: float

    def as_dict(self) -> dict:
        return asdict(self)


def grade(
    cfg: TrainingConfig,
    predicted_loss: float,
    world: World,
    *,
    target_seconds: float = 48 * 3600.0,
    budget_used_seconds: float = 0.0,
    total_budget_seconds: float = 43200.0,
) -> GradeReport:
    """Run the config for at most `target_seconds` on the leaderboard validation set (no val-set offset)."""
    runtime = cfg.total_train_tokens / tokens_per_second(world, cfg)
    truncated = runtime > target_seconds
    if truncated:  # stop at the target: keep the tokens that fit, in whole steps
        per_step = SEQ_LEN * cfg.train_batch_size * cfg.n_evals
        tokens = max(per_step, math.floor(target_seconds * tokens_per_second(world, cfg) / per_step) * per_step)
        cfg = cfg.model_copy(update={"total_train_tokens": tokens})
        runtime = target_seconds
    achieved = final_loss(world, cfg, leaderboard=True)
    truth = true_optimum(world, target_seconds, vocab_size=cfg.architecture_config.vocab_size)
    n = cfg.architecture_config.non_embedding_params
    return GradeReport(
        achieved_loss=achieved,
        predicted_loss=predicted_loss,
        abs_error=abs(predicted_loss - achieved),
        true_optimal_loss=truth.loss,
        regret=achieved - truth.loss,
        submitted_n=n,
        true_optimal_n=truth.n,
        n_ratio=n / truth.n,
        runtime_seconds=runtime,
        truncated=truncated,
        budget_used_seconds=budget_used_seconds,
        budget_fraction=budget_used_seconds / total_budget_seconds,
    )
