"""CLI smoke runs of the supplement at toy scale on CPU: instruct-tune, dpo, eval-mmlu/-gsm8k/-alpacaeval/-sst."""

import json
import math
from pathlib import Path

import pytest
import torch

from cs336_alignment.cli import main
from cs336_alignment.config import ModelConfig, RunConfig
from cs336_alignment.evals.runner import NOT_COMPUTED, run_supplement_eval
from cs336_alignment.metrics import read_metrics
from cs336_alignment.policy import load_policy
from cs336_alignment.supplement_config import SupEvalRunConfig, TaskConfig
from tests.supplement_assets import save_tiny_basics_policy, save_tokenizer_dir, write_eval_data


def _summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_instruct_tune_fresh_model_saves_a_loadable_policy(tmp_path, capsys):
    tok_dir = save_tokenizer_dir(tmp_path / "tok")
    argv = ["-q", "instruct-tune", "--out-dir", str(tmp_path / "runs"), "--device", "cpu"]
    argv += [
        f"--set={kv}"
        for kv in (
            f'model.tokenizer_path="{tok_dir}"',
            "init.context_length=64",
            "init.d_model=32",
            "init.num_layers=1",
            "init.num_heads=2",
            "init.d_ff=64",
            "init.vocab_pad_multiple=1",
            "instruct_data.seq_length=64",
            "instruct_data.synthetic_num_train=120",
            "instruct_data.synthetic_num_val=20",
            "instruct.batch_size=8",
            "instruct.gradient_accumulation_steps=2",
            "instruct.max_steps=4",
            "instruct.eval_every=2",
            "schedule.lr=1e-2",
            "schedule.warmup_ratio=0.25",
        )
    ]
    assert main(argv) == 0
    summary = _summary(capsys)
    rows = read_metrics(Path(summary["run_dir"]) / "metrics.jsonl")
    lrs = [r["train/lr"] for r in rows if "train/lr" in r]
    assert len(lrs) == 4 and lrs[0] == pytest.approx(1e-2) and lrs[-1] < lrs[1]  # warm-up 1 step, then cosine
    assert [r["step"] for r in rows if "eval/loss" in r] == [2, 4]
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert losses[-1] < losses[0] and all(math.isfinite(x) for x in losses)
    model, tok = load_policy(ModelConfig(path=summary["model_dir"]), torch.device("cpu"))
    assert model.context_length == 64 and tok.eos_token_id is not None


def test_instruct_tune_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert (
        main(["instruct-tune", "--set", "instruct.batch_size=3", "--set", "instruct.gradient_accumulation_steps=2"])
        == 1
    )
    assert "divisible" in capsys.readouterr().err
    assert main(["instruct-tune", "--set", 'model.tokenizer_path="/nonexistent"', "--device", "cpu"]) == 1
    assert "tokenizer directory not found" in capsys.readouterr().err


def test_dpo_cli_starts_at_log2_and_keeps_best(tmp_path, capsys):
    policy = save_tiny_basics_policy(tmp_path / "policy")
    argv = ["-q", "dpo", "--out-dir", str(tmp_path / "runs"), "--device", "cpu", "--set", f'model.path="{policy}"']
    for kv in (
        "pref_data.synthetic_num_train=24",
        "pref_data.num_val=8",
        "dpo.micro_batch_pairs=4",
        "dpo.gradient_accumulation_steps=2",
        "dpo.max_steps=3",
        "dpo.eval_every=1",
        "schedule.lr=1e-2",
        'schedule.optimizer="adamw"',
        'dpo.best_metric="eval/reward_margin"',
        "dpo.beta=0.5",
    ):
        argv += ["--set", kv]
    assert main(argv) == 0
    summary = _summary(capsys)
    run_dir = Path(summary["run_dir"])
    assert summary["initial"]["eval/loss"] == pytest.approx(math.log(2), abs=1e-6)  # policy == reference
    assert summary["initial"]["eval/reward_accuracy"] == 0.0  # ties count as wrong
    assert summary["steps"] == 3 and summary["final"]["eval/reward_margin"] > 0
    assert summary["best_value"] >= summary["final"]["eval/reward_margin"]
    assert (run_dir / "best_model" / "config.json").is_file() and (run_dir / "reference_logps.pt").is_file()
    # The cached reference reproduces the run's starting point without loading a second model.
    argv += ["--set", f'dpo.reference_cache="{run_dir / "reference_logps.pt"}"', "--set", "dpo.max_steps=1"]
    assert main(argv) == 0
    again = _summary(capsys)
    assert again["initial"]["eval/loss"] == pytest.approx(math.log(2), abs=1e-6)
    # A cache made for other pairs is refused.
    assert main([*argv, "--set", "pref_data.synthetic_seed=5"]) == 1
    assert "reference_cache" in capsys.readouterr().err


@pytest.fixture(scope="module")
def eval_assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("evals")
    return save_tiny_basics_policy(root / "policy"), write_eval_data(root / "data"), root


class FakeJudge:
    name = "fake"

    def prefer(self, instructions, outputs, references):
        return [1.0, None][: len(outputs)]

    def unsafe(self, prompts, responses):
        return [True, False][: len(responses)]


def _eval_config(assets, task, **task_kw) -> SupEvalRunConfig:
    policy, data, root = assets
    return SupEvalRunConfig(
        model=ModelConfig(path=str(policy)),
        task=TaskConfig(name=task, path=str(data[task]), max_tokens=8, **task_kw),
        run=RunConfig(out_dir=str(root / "runs"), device="cpu"),
    )


@pytest.mark.parametrize("task", ["mmlu", "gsm8k"])
def test_exact_match_evals_report_throughput_and_failures(eval_assets, task):
    summary = run_supplement_eval(_eval_config(eval_assets, task))
    n = 3 if task == "mmlu" else 2
    assert summary["num_examples"] == n and summary["examples_per_min"] > 0
    assert summary["num_correct"] + summary["num_wrong"] + summary["num_unparsed"] == n
    assert summary["accuracy"] == summary["num_correct"] / n
    records = [json.loads(x) for x in (Path(summary["run_dir"]) / "examples.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(n))  # input order restored after length sorting
    assert len(summary["failures_unparsed"]) == summary["num_unparsed"]


def test_alpaca_eval_file_format_and_judge(eval_assets):
    summary = run_supplement_eval(_eval_config(eval_assets, "alpaca_eval", generator="tiny"))
    outputs = json.loads(Path(summary["outputs_file"]).read_text())
    assert [set(o) for o in outputs] == [{"instruction", "output", "generator", "dataset"}] * 2
    assert outputs[1]["dataset"] == "oasst" and outputs[0]["generator"] == "tiny"
    assert summary["win_rate"] == NOT_COMPUTED and summary["judge"] is None
    judged = run_supplement_eval(_eval_config(eval_assets, "alpaca_eval"), judge=FakeJudge())
    assert judged["win_rate"] == 1.0 and judged["num_unparsed_judgements"] == 1


def test_sst_outputs_and_judge(eval_assets):
    summary = run_supplement_eval(_eval_config(eval_assets, "sst"), judge=FakeJudge())
    rows = [json.loads(x) for x in Path(summary["outputs_file"]).read_text().splitlines()]
    assert [set(r) for r in rows] == [{"prompts_final", "output"}] * 2
    assert summary["safe_proportion"] == 0.5 and len(summary["unsafe_examples"]) == 1


def test_eval_cli_and_missing_data(eval_assets, tmp_path, capsys):
    policy, data, _ = eval_assets
    base = ["-q", "eval-gsm8k", "--device", "cpu", "--out-dir", str(tmp_path), "--set", f'model.path="{policy}"']
    assert main([*base, "--set", f'task.path="{data["gsm8k"]}"', "--set", "task.max_tokens=4"]) == 0
    assert _summary(capsys)["task"] == "gsm8k"
    assert main([*base, "--set", 'task.path="/nonexistent.jsonl"']) == 1
    assert "not found" in capsys.readouterr().err


@pytest.mark.multigpu
def test_dpo_reference_on_another_gpu(tmp_path, capsys):
    policy = save_tiny_basics_policy(tmp_path / "policy")
    argv = ["-q", "dpo", "--out-dir", str(tmp_path / "runs"), "--device", "cuda:0", "--set", f'model.path="{policy}"']
    for kv in (
        "pref_data.synthetic_num_train=8",
        "pref_data.num_val=4",
        "dpo.micro_batch_pairs=2",
        "dpo.gradient_accumulation_steps=2",
        "dpo.max_steps=2",
        "dpo.precompute_reference=false",
        'dpo.reference_device="cuda:1"',
    ):
        argv += ["--set", kv]
    assert main(argv) == 0
    summary = _summary(capsys)
    assert summary["initial"]["eval/loss"] == pytest.approx(math.log(2), abs=1e-5)  # same weights on both GPUs
    assert summary["steps"] == 2
