"""Config precedence for run-creating commands: defaults < TOML < --set; unknown keys and bad types are errors."""

import json

import pytest

from cs336_scaling.cli import main
from cs336_scaling.config import resolve_config
from cs336_scaling.errors import ConfigError
from cs336_scaling.planner import PlannerConfig


def test_precedence(tmp_path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text("[planner]\nn_levels = 3\nsize_spacing = 2\nlr_sweep_widths = [128, 256]\n")
    cfg = resolve_config(PlannerConfig, toml, ["n_levels=5"], section="planner")
    assert cfg.n_levels == 5  # --set beats the file
    assert cfg.size_spacing == 2.0 and isinstance(cfg.size_spacing, float)  # int literal widened to float
    assert cfg.lr_sweep_widths == (128, 256)
    assert cfg.level_ratio == PlannerConfig().level_ratio  # default kept


def test_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown config key"):
        resolve_config(PlannerConfig, None, ["nope=1"])
    with pytest.raises(ConfigError, match="n_levels expects int"):
        resolve_config(PlannerConfig, None, ['n_levels="three"'])
    with pytest.raises(ConfigError, match="key=value"):
        resolve_config(PlannerConfig, None, ["n_levels"])
    bad = tmp_path / "bad.toml"
    bad.write_text("n_levels = [")
    with pytest.raises(ConfigError, match="cannot read config"):
        resolve_config(PlannerConfig, bad)
    with pytest.raises(Exception, match="n_levels"):
        resolve_config(PlannerConfig, None, ["n_levels=1"])  # the dataclass validates itself


def test_plan_dry_run(capsys) -> None:
    assert main(["plan", "--embedded", "--set", "n_levels=3", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["n_levels"] == 3
    assert main(["plan", "--embedded", "--set", "bogus=1"]) == 1
    assert "unknown config key" in capsys.readouterr().err
