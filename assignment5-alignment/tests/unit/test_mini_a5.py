"""Pieces of the mini-A5 driver and the rollout helpers it relies on: clock-following pretraining schedule, SFT
stop-at-target, the results table, batched encoding, and the stop-string cut (against a linear-scan reference)."""

import random
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_alignment import trainer
from cs336_alignment.config import SFTConfig
from cs336_alignment.errors import ConfigError
from cs336_alignment.pipeline import PipelineConfig, PretrainConfig, _pretrain_lr, results_table, run_pipeline
from cs336_alignment.rollout.base import TextCodec, truncate_at_stop
from tests.tiny import make_tokenizer


def test_pretrain_lr_decays_with_the_clock_when_budgeted():
    p = PretrainConfig(lr=1.0, steps=1000, warmup_steps=10, time_budget_s=100.0)
    assert _pretrain_lr(5, p) == pytest.approx(0.6)
    assert _pretrain_lr(10, p, elapsed_s=0.0) == pytest.approx(1.0)
    assert _pretrain_lr(10, p, elapsed_s=50.0) == pytest.approx(0.55)  # half the budget: cosine midpoint
    assert _pretrain_lr(10, p, elapsed_s=100.0) == pytest.approx(0.1)
    assert _pretrain_lr(10, p, elapsed_s=500.0) == pytest.approx(0.1)  # never past the floor
    unbudgeted = PretrainConfig(lr=1.0, steps=1000, warmup_steps=10)
    assert _pretrain_lr(505, unbudgeted, elapsed_s=1e9) == pytest.approx(0.55)


def _fake_run(target: float, accuracies: list[float]):
    logged = []
    evals = iter(accuracies)
    cfg = SimpleNamespace(
        sft=SFTConfig(train_batch_size=2, gradient_accumulation_steps=1, stop_at_answer_accuracy=target),
        optim=None,
        run=SimpleNamespace(seed=0, ckpt_every=0, time_budget_s=0),
    )
    run = SimpleNamespace(
        config=cfg,
        step=0,
        model=None,
        optimizer=None,
        device=None,
        pad_id=0,
        metrics=SimpleNamespace(log=lambda m, step: logged.append(m)),
        out_of_time=lambda: False,
    )
    return run, logged, evals


@pytest.mark.parametrize(("target", "expected_steps"), [(0.3, 3), (0.0, 10)])
def test_sft_stops_at_the_first_evaluation_reaching_the_target(monkeypatch, target, expected_steps):
    run, logged, evals = _fake_run(target, [0.1, 0.2, 0.35, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    monkeypatch.setattr(trainer, "sft_update", lambda *a, **k: {"train/loss": 0.0})
    monkeypatch.setattr(trainer, "maybe_checkpoint", lambda run: None)
    monkeypatch.setattr(trainer, "run_eval", lambda run: SimpleNamespace(metrics={"eval/answer_accuracy": next(evals)}))
    pairs = [([1], [2])] * 20
    taken = trainer.sft_epochs(run, pairs, num_epochs=1, eval_every=1)
    assert taken == expected_steps == run.step
    assert any("train/sft_stopped_at_target" in m for m in logged) == bool(target)


def test_sft_target_must_be_a_fraction():
    with pytest.raises(ConfigError, match="stop_at_answer_accuracy"):
        SFTConfig(stop_at_answer_accuracy=30)


def _metrics(fmt, ans, n=10):
    return {
        "eval/format_accuracy": fmt,
        "eval/answer_accuracy": ans,
        "eval/num_correct": round(ans * n),
        "eval/num_format_wrong_answer": round((fmt - ans) * n),
    }


def test_results_table_rows_and_conditional_accuracy():
    summary = {
        "pretrain_s": 12.0,
        "pretrain_steps": 40,
        "zero_shot": _metrics(0.2, 0.1),
        "sft": {"final": _metrics(0.5, 0.25), "step": 7, "wall_s": 3.0},
        "grpo": {"final": _metrics(1.0, 0.8), "step": 9, "wall_s": 5.0},
        "greedy": {"grpo": {"greedy/format_accuracy": 1.0, "greedy/answer_accuracy": 0.9}},
    }
    lines = results_table(summary).splitlines()
    assert len(lines) == 5  # header, rule, zero-shot, sft, grpo (no ei)
    assert lines[2].split("|")[1:9] == [" zero_shot ", " 0.200 ", " 0.100 ", " 0.500 ", " - ", " - ", " 40 ", " 12 "]
    assert lines[4].split("|")[1:9] == [" grpo ", " 1.000 ", " 0.800 ", " 0.800 ", " 1.000 ", " 0.900 ", " 9 ", " 5 "]


def test_pipeline_rejects_a_missing_base_model(tmp_path):
    cfg = PipelineConfig()
    cfg = type(cfg)(
        stages=type(cfg.stages)(base_model=str(tmp_path / "nope")),
        run=type(cfg.run)(out_dir=str(tmp_path / "runs"), device="cpu"),
    )
    with pytest.raises(ConfigError, match="base_model"):
        run_pipeline(cfg)


@pytest.fixture(scope="module")
def codec():
    return TextCodec(make_tokenizer())


def test_encode_batch_equals_encode(codec):
    texts = ["User: Tom has 3 apples", "", "</think> <answer> 7 </answer>", "é ü 12,345"]
    assert codec.encode_batch(texts) == [codec.encode(t) for t in texts]
    assert codec.encode_batch([]) == []


def _linear_cut(codec, ids, end):
    for k in range(1, len(ids) + 1):
        if len(codec.decode(ids[:k])) >= end:
            return ids[:k]
    return ids


PIECES = ["</answer>", " 12", "<answer>", " apples", "é", "ü", "</", "answer>", " x", "\n", "🙂"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12), st.integers(0, 2**16))
def test_stop_cut_matches_a_linear_scan(codec, pieces, seed):
    ids = codec.encode("".join(pieces))
    random.Random(seed).shuffle(ids)  # arbitrary id orders, split UTF-8 sequences included
    text, cut, stopped = truncate_at_stop(codec, ids, ["</answer>"], True)
    full = codec.decode(ids)
    assert stopped == ("</answer>" in full)
    if stopped:
        end = full.find("</answer>") + len("</answer>")
        assert text == full[:end]
        assert cut == _linear_cut(codec, ids, end)
    else:
        assert (text, cut) == (full, ids)
