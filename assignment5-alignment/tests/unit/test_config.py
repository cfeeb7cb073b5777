"""Config precedence, validation messages and the GRPO derived quantities."""

import pytest

from cs336_alignment.config import GRPOConfig, GRPORunConfig, SFTRunConfig, load_config
from cs336_alignment.errors import ConfigError


def test_precedence_defaults_file_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        "[grpo]\ngroup_size = 4\nrollout_batch_size = 64\ntrain_batch_size = 64\n"
        "gradient_accumulation_steps = 8\n[optim]\nlr = 1\n"
    )
    cfg = load_config(GRPORunConfig, path, ["grpo.group_size=8", "run.name=abc", "optim.lr=2e-5"])
    assert cfg.grpo.group_size == 8 and cfg.grpo.rollout_batch_size == 64
    assert cfg.run.name == "abc" and cfg.optim.lr == 2e-5 and isinstance(cfg.optim.lr, float)
    assert cfg.grpo.advantage_eps == 1e-6  # default kept


def test_unknown_keys_and_types_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key grpo\.groupsize; valid keys: .*group_size"):
        load_config(GRPORunConfig, None, ["grpo.groupsize=4"])
    with pytest.raises(ConfigError, match=r"grpo\.group_size must be int"):
        load_config(GRPORunConfig, None, ['grpo.group_size="4"'])
    with pytest.raises(ConfigError, match="unknown key sft"):
        load_config(GRPORunConfig, None, ["sft.train_batch_size=4"])  # overrides are strict about sections
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(SFTRunConfig, tmp_path / "missing.toml")


def test_grpo_derived_quantities_and_checks():
    g = GRPOConfig()  # the handout's defaults
    assert g.micro_train_batch_size == 2 and g.n_prompts_per_rollout_batch == 32
    assert g.optimizer_steps_per_rollout_batch == 1 and not g.is_off_policy
    off = GRPOConfig(
        train_batch_size=64, gradient_accumulation_steps=32, loss_type="grpo_clip", epochs_per_rollout_batch=2
    )
    assert off.optimizer_steps_per_rollout_batch == 8 and off.is_off_policy
    with pytest.raises(ConfigError, match=r"rollout_batch_size \(250\) must be divisible by group_size \(8\)"):
        GRPOConfig(rollout_batch_size=250)
    with pytest.raises(ConfigError, match="need loss_type grpo_clip"):
        GRPOConfig(epochs_per_rollout_batch=2)
    with pytest.raises(ConfigError, match="loss_type"):
        GRPOConfig(loss_type="ppo")


def test_partial_table_keeps_the_fields_own_default_factory():
    """A table given in part (file or --set) starts from the parent's default for that field, not from the nested
    class's defaults: mini-a5's `grpo_optim` defaults to lr 3e-5, which must survive `--set grpo_optim.grad_clip=2`."""
    from cs336_alignment.config import OptimConfig
    from cs336_alignment.pipeline import PipelineConfig

    default = PipelineConfig()
    assert default.grpo_optim.lr != OptimConfig().lr  # the factory really differs from the class default
    cfg = load_config(PipelineConfig, None, ["grpo_optim.grad_clip=2.0"])
    assert cfg.grpo_optim.grad_clip == 2.0
    assert cfg.grpo_optim.lr == default.grpo_optim.lr
    assert cfg.sft_optim == default.sft_optim
