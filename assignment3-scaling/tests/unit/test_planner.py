"""End to end: the planner spends a simulated budget through the embedded API, fits, final-submits; then grade."""

import pytest

from cs336_scaling.backends.simulated import SimulatedBackend, true_optimum
from cs336_scaling.backends.world import World
from cs336_scaling.client import EmbeddedClient
from cs336_scaling.grade import grade
from cs336_scaling.planner import Planner, PlannerConfig, shape, width_for_params


def test_shape_family() -> None:
    for d in (128, 512, 2048):
        arch = shape(d)
        assert arch.hidden_size == d and arch.hidden_size // arch.num_hidden_layers == 64
        assert arch.intermediate_size >= 8 * d / 3 and arch.intermediate_size % 64 == 0
    assert width_for_params(shape(1024).non_embedding_params) == 1024


@pytest.mark.parametrize("seed", [1, 2])
def test_planner_end_to_end_meets_target(seed: int) -> None:
    world = World.sample(seed)
    with EmbeddedClient(backend=SimulatedBackend(world)) as api:
        result = Planner(api).run()
        budget = api.get_budget()
        final = api.get_final_submission()
        experiments = api.list_experiments()
    assert final is not None and final.training_config == result.final_config
    assert final.predicted_final_loss == pytest.approx(result.predicted_loss)
    assert 0 < budget.used_seconds <= budget.total_budget_seconds
    assert len(experiments) == result.n_runs and all(
        e.status.status_type in ("completed", "failed") for e in experiments
    )
    truth = true_optimum(world, 48 * 3600)
    assert abs(result.predicted_n / truth.n - 1) < 0.2
    assert abs(result.predicted_loss - truth.loss) < 0.02
    report = grade(result.final_config, result.predicted_loss, world, budget_used_seconds=budget.used_seconds)
    assert report.regret >= -0.05 and report.regret < 0.05  # seed noise can make the achieved loss beat the truth
    assert report.abs_error == pytest.approx(abs(result.predicted_loss - report.achieved_loss))
    assert not report.truncated and report.runtime_seconds <= 48 * 3600


def test_grade_truncates_overlong_runs() -> None:
    world = World()
    cfg_tokens = 10**11
    from cs336_scaling.api import AdamWConfig, TrainingConfig

    cfg = TrainingConfig(
        architecture_config=shape(1024), optimizer_config=AdamWConfig(), train_batch_size=256,
        total_train_tokens=cfg_tokens // (512 * 256 * 16) * 512 * 256 * 16, max_runtime_seconds=43200,
    )  # fmt: skip
    report = grade(cfg, 2.5, world, target_seconds=3600.0)
    assert report.truncated and report.runtime_seconds == 3600.0
    assert report.achieved_loss > grade(cfg, 2.5, world, target_seconds=1e9).achieved_loss


def test_planner_config_validation() -> None:
    from cs336_scaling.errors import ScalingError

    with pytest.raises(ScalingError, match="n_levels"):
        PlannerConfig(n_levels=1)
    with pytest.raises(ScalingError, match="sizes_per_level"):
        PlannerConfig(sizes_per_level=2)


def test_optional_batch_sweep_runs_and_picks_a_candidate() -> None:
    cfg = PlannerConfig(batch_candidates=(64, 256), batch_sweep_widths=(256, 384), n_levels=2, sizes_per_level=3)
    with EmbeddedClient(backend=SimulatedBackend(World.sample(1))) as api:
        planner = Planner(api, cfg)
        result = planner.run()
    assert result.final_config.train_batch_size in (64, 256)
    assert any(line.startswith("batch sweep:") for line in result.log)
