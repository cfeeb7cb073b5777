"""The Qwen code path on a tiny random Qwen2: load an HF policy directory, SFT and GRPO with the hf engine, save."""

import json
from pathlib import Path

import pytest

from cs336_alignment.cli import main
from tests.tiny import make_qwen2, make_tokenizer

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "debug_cpu.toml"


@pytest.fixture(scope="module")
def hf_policy_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("qwen_tiny")
    tok = make_tokenizer()
    make_qwen2(len(tok), seed=0).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.parametrize("command", ["sft", "grpo"])
def test_hf_policy_runs_and_saves(hf_policy_dir, tmp_path, capsys, command):
    common = [
        "--config",
        str(CONFIG),
        "--out-dir",
        str(tmp_path),
        "--set",
        'model.kind="hf"',
        "--set",
        'model.engine="hf"',
        "--set",
        "data.num_val_examples=8",
        "--set",
        "sampling.max_tokens=12",
        "--set",
        "sampling.eval_max_tokens=12",
    ]
    steps = "sft.max_steps=1" if command == "sft" else "grpo.n_grpo_steps=1"
    assert main([command, *common, "--set", f'model.path="{hf_policy_dir}"', "--set", steps]) == 0
    summary = json.loads(capsys.readouterr().out)
    saved = Path(summary["run_dir"]) / "model"
    assert (saved / "config.json").is_file() and (saved / "tokenizer.json").is_file()
    assert summary["step"] == (1 if command == "sft" else 2)
    # the saved directory is itself a loadable policy
    assert main(["eval", *common, "--set", f'model.path="{saved}"']) == 0
    assert json.loads(capsys.readouterr().out)["eval/num_examples"] == 8
