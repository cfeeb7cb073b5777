"""CPU smoke run of the whole mini-A5 pipeline (tokenizer, pretrain, SFT, EI, GRPO) and of resume/eval/plot.

Asserts the plumbing, not quality: every stage writes its files, every logged metric is finite, the evaluation
categories add up, checkpoints resume, and the CLI plots the curves.
"""

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("cs336_basics.model")

from cs336_alignment.cli import main  # noqa: E402
from cs336_alignment.config import GRPORunConfig, load_config  # noqa: E402
from cs336_alignment.metrics import read_metrics  # noqa: E402
from cs336_alignment.pipeline import PipelineConfig, run_pipeline  # noqa: E402

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "debug_cpu.toml"


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    overrides = [f'run.out_dir="{out}"', "pretrain.steps=30", "pretrain.num_docs=500", "data.synthetic_num_train=600"]
    cfg = load_config(PipelineConfig, CONFIG, overrides)
    return run_pipeline(cfg)


@pytest.mark.slow
def test_pipeline_runs_every_stage_with_finite_metrics(pipeline_run):
    root = Path(pipeline_run["run_dir"])
    assert (root / "summary.json").is_file() and (root / "pretrain" / "model" / "model.safetensors").is_file()
    for stage in ("sft", "ei", "grpo"):
        run_dir = Path(pipeline_run[stage]["run_dir"])
        for name in ("config.json", "env.json", "metrics.jsonl", "summary.json", "samples.jsonl"):
            assert (run_dir / name).is_file(), f"{stage} lacks {name}"
        assert (run_dir / "model" / "tokenizer").is_dir() and list((run_dir / "ckpt").glob("step_*.pt"))
        rows = read_metrics(run_dir / "metrics.jsonl")
        assert all("step" in r and "time_s" in r for r in rows)
        for r in rows:
            for k, v in r.items():
                assert not isinstance(v, str) or v not in ("nan", "inf", "-inf"), f"{stage} {k} = {v}"
                assert not isinstance(v, float) or math.isfinite(v)
        final = pipeline_run[stage]["final"]
        assert (
            final["eval/num_correct"] + final["eval/num_format_wrong_answer"] + final["eval/num_unformatted"]
            == final["eval/num_examples"]
        )
    grpo_rows = read_metrics(Path(pipeline_run["grpo"]["run_dir"]) / "metrics.jsonl")
    train_rows = [r for r in grpo_rows if "train/loss" in r]
    assert len(train_rows) == 6  # 3 GRPO steps x 2 optimizer steps per rollout batch
    assert all(0.0 <= r["train/clip_fraction"] <= 1.0 for r in train_rows)


@pytest.mark.slow
def test_grpo_resume_eval_command_and_plot(pipeline_run, tmp_path, capsys):
    grpo_dir = Path(pipeline_run["grpo"]["run_dir"])
    ckpt = sorted(grpo_dir.glob("ckpt/step_*.pt"))[-1]
    sft_model = Path(pipeline_run["sft"]["run_dir"]) / "model"
    args = ["--config", str(CONFIG), "--out-dir", str(tmp_path), "--set", f'model.path="{sft_model}"']
    # Resuming at the final step of a 3-step run leaves one more GRPO step when n_grpo_steps = 4.
    rc = main(["grpo", *args, "--set", f'run.resume="{ckpt}"', "--set", "grpo.n_grpo_steps=4"])
    assert rc == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["step"] == 8
    rc = main(["eval", *args])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    run_dir = Path(out["run_dir"])
    lines = (run_dir / "eval_examples.jsonl").read_text().splitlines()
    assert len(lines) == out["eval/num_examples"] == 32
    rec = json.loads(lines[0])
    assert {"prompt", "response", "ground_truth", "format_reward", "answer_reward", "reward"} <= set(rec)
    assert json.loads((run_dir / "eval_categories.json").read_text()).keys() == {
        "correct",
        "format_wrong_answer",
        "unformatted",
    }
    assert main(["plot", str(grpo_dir)]) == 0
    assert (grpo_dir / "plots" / "overview.png").stat().st_size > 1000


@pytest.mark.slow
def test_sft_resume_continues_the_data_order(pipeline_run, tmp_path, capsys):
    sft_dir = Path(pipeline_run["sft"]["run_dir"])
    ckpt = sorted(sft_dir.glob("ckpt/step_*.pt"))[-1]
    base = Path(pipeline_run["base_model"])
    rc = main(
        [
            "sft",
            "--config",
            str(CONFIG),
            "--out-dir",
            str(tmp_path),
            "--set",
            f'model.path="{base}"',
            "--set",
            f'run.resume="{ckpt}"',
            "--set",
            "sft.max_steps=4",
        ]
    )
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["step"] == 4  # 3 from the checkpoint + 1


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["grpo", "--config", str(CONFIG), "--set", "grpo.group_size=3", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "group_size (3)" in err
    assert main(["sft", "--config", str(CONFIG), "--out-dir", str(tmp_path), "--set", 'model.path="/nonexistent"']) == 1
    assert "model directory not found" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was created for a run that could not start
    assert main(["grpo", "--config", str(CONFIG), "--dry-run", "--seed", "7"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["run"]["seed"] == 7 and cfg["grpo"]["loss_type"] == "grpo_clip"
    assert isinstance(load_config(GRPORunConfig, CONFIG), GRPORunConfig)
