"""Config tree: TOML + --set precedence, type checks, validation messages, shipped configs."""

from pathlib import Path

import pytest

from cs336_basics.config import TrainConfig, apply_overrides, config_from_dict, load_config
from cs336_basics.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_are_the_tinystories_shape():
    cfg = TrainConfig()
    assert (cfg.model.d_model, cfg.model.num_layers, cfg.model.num_heads, cfg.model.d_ff) == (512, 4, 16, 1344)
    assert cfg.seq_len == cfg.model.context_length == 256
    assert cfg.tokens_per_step == cfg.data.batch_size * 256


def test_toml_then_overrides_precedence(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[optim]\nlr = 0.01\nmin_lr = 0.001\n[run]\nname = "from-file"\nnum_steps = 500\n')
    cfg = load_config(path, ["optim.lr=2e-2", "run.sample_prompts=['a', 'b']", "run.name=bare-word"])
    assert cfg.optim.lr == 0.02 and cfg.optim.min_lr == 0.001
    assert cfg.run.num_steps == 500 and cfg.run.name == "bare-word"
    assert cfg.run.sample_prompts == ["a", "b"]


def test_int_accepted_for_float_but_not_str_for_int():
    assert config_from_dict({"optim": {"lr": 1}}).optim.lr == 1.0
    with pytest.raises(ConfigError, match=r"'model.d_model' expects int, got str"):
        config_from_dict({"model": {"d_model": "big"}})


def test_unknown_key_names_the_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown config key 'model.dmodel'.*d_model"):
        config_from_dict({"model": {"dmodel": 3}})
    with pytest.raises(ConfigError, match=r"unknown config key 'modle'.*model, optim, data, corpus, run"):
        load_config(None, ["modle.d_model=3"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.d_model=768", "model.num_heads=10"], r"d_model \(768\) must be divisible by model.num_heads \(10\)"),
        (["data.seq_len=512"], r"data.seq_len \(512\) exceeds model.context_length \(256\)"),
        (["optim.min_lr=1.0"], r"optim.min_lr \(1.0\) must be in \[0, optim.lr"),
        (["run.device='tpu'"], r"run.device must be one of"),
        (["optim.warmup_steps=5000", "run.num_steps=10"], r"warmup_steps \(5000\) exceeds run.num_steps \(10\)"),
        (["model.vocab_size=70000"], r"does not fit the uint16"),
        (["noequals"], r"--set expects key.sub=value"),
    ],
)
def test_validation_messages_show_values(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="cannot parse config file"):
        load_config(bad)


def test_config_is_frozen_and_round_trips_through_dict():
    cfg = load_config(None, ["optim.betas=[0.8, 0.9]"])
    with pytest.raises(AttributeError):
        cfg.model.d_model = 3  # type: ignore[misc]
    assert cfg.optim.betas == (0.8, 0.9)
    assert config_from_dict(cfg.to_dict()) == cfg
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.run.num_steps > 0
