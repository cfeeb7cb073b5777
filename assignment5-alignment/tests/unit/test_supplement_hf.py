"""The supplement's commands on a Hugging Face causal LM (tiny random Llama saved to disk, no download)."""

import json
import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from cs336_alignment.cli import main
from cs336_alignment.config import ModelConfig, RunConfig
from cs336_alignment.evals.judge import build_judge
from cs336_alignment.evals.runner import run_supplement_eval
from cs336_alignment.evals.tasks import ZERO_SHOT_STOP, render_prompt, stop_strings
from cs336_alignment.supplement_config import JudgeConfig, SupEvalRunConfig, TaskConfig
from tests.supplement_assets import write_eval_data
from tests.tiny import make_tokenizer


def _save_llama(directory):
    tok = make_tokenizer()
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    return directory


def test_hf_policy_instruct_tune_then_dpo(tmp_path, capsys):
    policy = _save_llama(tmp_path / "llama")
    hf = ["--set", 'model.kind="hf"', "--set", 'model.engine="hf"', "--device", "cpu", "--out-dir", str(tmp_path)]
    tune = ["-q", "instruct-tune", *hf, "--set", f'model.path="{policy}"', "--set", "instruct_data.seq_length=64"]
    for kv in (
        "instruct_data.synthetic_num_train=60",
        "instruct_data.synthetic_num_val=10",
        "instruct.batch_size=4",
        "instruct.gradient_accumulation_steps=2",
        "instruct.max_steps=2",
        "instruct.eval_every=1",
    ):
        tune += ["--set", kv]
    assert main(tune) == 0
    tuned = json.loads(capsys.readouterr().out)["model_dir"]
    assert (tmp_path / tuned / "tokenizer.json").is_file()  # HF layout: the tokenizer sits beside the weights
    dpo = ["-q", "dpo", *hf, "--set", f'model.path="{tuned}"', "--set", "dpo.precompute_reference=false"]
    for kv in (
        "pref_data.synthetic_num_train=8",
        "pref_data.num_val=4",
        "dpo.micro_batch_pairs=2",
        "dpo.gradient_accumulation_steps=2",
        "dpo.max_steps=2",
        "dpo.eval_every=1",
    ):
        dpo += ["--set", kv]
    assert main(dpo) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["initial"]["eval/loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert summary["steps"] == 2 and math.isfinite(summary["final"]["eval/reward_margin"])


def test_hf_engine_eval_with_a_model_judge(tmp_path):
    policy = _save_llama(tmp_path / "llama")
    data = write_eval_data(tmp_path / "data")
    config = SupEvalRunConfig(
        model=ModelConfig(kind="hf", engine="hf", path=str(policy)),
        task=TaskConfig(name="sst", path=str(data["sst"]), prompt="zero_shot", max_tokens=4),
        judge=JudgeConfig(kind="model", path=str(policy), dtype="float32", max_tokens=3),
        run=RunConfig(out_dir=str(tmp_path / "runs"), device="cpu"),
    )
    summary = run_supplement_eval(config)
    assert summary["num_examples"] == 2 and summary["judge"].startswith("llama")
    assert summary["num_judged"] + summary["num_unparsed_judgements"] == 2  # a random judge rarely says true/false
    judge = build_judge(JudgeConfig(kind="model", path=str(policy), dtype="float32", max_tokens=2), "cpu")
    prefs = judge.prefer(["Say hi."], ["Hi!"], ["Hello."])
    assert len(prefs) == 1 and prefs[0] in (None, 0.0, 1.0)


def test_zero_shot_prompt_wraps_the_instruction_and_stops_at_next_query():
    prompt = render_prompt("What is 2 + 2?", "zero_shot")
    assert (
        prompt.startswith("# Instruction\n") and "```What is 2 + 2?```" in prompt and prompt.endswith("# Answer:\n```")
    )
    assert stop_strings("zero_shot") == (ZERO_SHOT_STOP,) and stop_strings("alpaca") == ()
    assert render_prompt("Do X.", "alpaca").endswith("### Instruction:\nDo X.\n\n### Response:\n")
