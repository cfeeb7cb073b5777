"""The training loop end to end on CPU: loss falls, run-dir contents, kill-and-resume determinism, wall-clock stop,
and bad input caught before step 1."""

import json
import os
import signal
import time

import numpy as np
import pytest

from cs336_basics.config import CorpusConfig, config_from_dict
from cs336_basics.corpus import prepare_corpus
from cs336_basics.errors import CheckpointNotFoundError, DataFileError
from cs336_basics.train import train

VOCAB = 300


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return prepare_corpus(CorpusConfig(kind="synthetic-stories", num_docs=200), VOCAB, tmp_path_factory.mktemp("c"))


def _cfg(corpus, out_dir, **run):
    values = {
        "model": {
            "vocab_size": VOCAB,
            "context_length": 32,
            "d_model": 32,
            "num_layers": 2,
            "num_heads": 2,
            "d_ff": 64,
        },
        "optim": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5},
        "data": {
            "train_path": str(corpus.train),
            "val_path": str(corpus.val),
            "tokenizer_dir": str(corpus.tokenizer),
            "batch_size": 8,
        },
        "run": {
            "out_dir": str(out_dir),
            "device": "cpu",
            "num_steps": 60,
            "log_every": 1,
            "eval_every": 30,
            "eval_batches": 2,
            "ckpt_every": 0,
            "progress": False,
            "sample_max_new_tokens": 8,
            **run,
        },
    }
    return config_from_dict(values)


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_smoke_run_loss_falls_and_writes_the_run_dir(corpus, tmp_path):
    t0 = time.perf_counter()
    result = train(_cfg(corpus, tmp_path))
    assert time.perf_counter() - t0 < 60
    assert result.status == "completed" and result.step == 60
    rows = _rows(result.run_dir)
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0, losses
    last = rows[-1]
    for key in ("step", "time_s", "train/loss", "eval/loss", "train/lr", "train/grad_norm", "perf/tokens_per_s"):
        assert key in last, key
    for name in (
        "config.json",
        "env.json",
        "summary.json",
        "samples.jsonl",
        "plots/loss_vs_step.png",
        "plots/loss_vs_time.png",
        "model/config.json",
        "tokenizer/vocab.json",
    ):
        assert (result.run_dir / name).is_file(), name
    assert json.loads((result.run_dir / "summary.json").read_text())["eval/loss"] == last["eval/loss"]
    assert json.loads((result.run_dir / "config.json").read_text())["model"]["vocab_size"] == VOCAB


class _KillAt:
    """A metrics sink that sends this process SIGTERM once `step` has been logged (a real signal, mid-run)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def log(self, metrics, step):
        if step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)

    def close(self):
        pass


def test_kill_and_resume_reproduces_the_losses_bit_for_bit(corpus, tmp_path):
    straight = train(_cfg(corpus, tmp_path / "a", num_steps=24, eval_every=100))
    killed = train(_cfg(corpus, tmp_path / "b", num_steps=24, eval_every=100), extra_sinks=[_KillAt(11)])
    assert killed.status == "interrupted" and killed.step == 11
    resumed = train(_cfg(corpus, tmp_path / "unused"), resume=str(killed.run_dir))
    assert resumed.status == "completed" and resumed.run_dir == killed.run_dir and resumed.step == 24

    def losses(run_dir):
        return {r["step"]: r["train/loss"] for r in _rows(run_dir) if "train/loss" in r}

    a, b = losses(straight.run_dir), losses(killed.run_dir)
    assert sorted(b) == list(range(1, 25))
    assert a == b  # exact float equality, steps 1..24
    final_eval = [r["eval/loss"] for r in _rows(straight.run_dir) if r["step"] == 24 and "eval/loss" in r]
    assert final_eval == [resumed.summary["eval/loss"]]


def test_max_wall_clock_stops_with_a_checkpoint(corpus, tmp_path):
    result = train(_cfg(corpus, tmp_path, max_wall_clock_s=1e-6))
    assert result.status == "wall_clock" and result.step == 1
    assert (result.run_dir / "ckpt" / "step_00000001.pt").is_file()


def test_token_ids_beyond_vocab_fail_before_training(corpus, tmp_path):
    cfg = _cfg(corpus, tmp_path)
    small = config_from_dict({**cfg.to_dict(), "model": {**cfg.to_dict()["model"], "vocab_size": 100}})
    with pytest.raises(DataFileError, match=r">= model.vocab_size \(100\)"):
        train(small)
    assert not list(tmp_path.glob("*/metrics.jsonl"))


def test_resume_without_checkpoint_is_a_clear_error(corpus, tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint"):
        train(_cfg(corpus, tmp_path), resume=str(tmp_path))


def test_wandb_sink_is_lazy_and_names_the_missing_extra(tmp_path, monkeypatch):
    import sys
    import types

    from cs336_basics.errors import BasicsError
    from cs336_basics.metrics import WandbSink

    monkeypatch.setitem(sys.modules, "wandb", None)  # import fails as if not installed
    with pytest.raises(BasicsError, match=r"cs336-basics\[wandb\]"):
        WandbSink("p", "n", {}, tmp_path)
    calls = []
    fake = types.SimpleNamespace(
        init=lambda **kw: types.SimpleNamespace(
            log=lambda m, step: calls.append((step, m)), finish=lambda: calls.append("finish")
        )
    )
    monkeypatch.setitem(sys.modules, "wandb", fake)
    sink = WandbSink("p", "n", {"a": 1}, tmp_path)
    sink.log({"train/loss": 1.0}, 3)
    sink.close()
    assert calls == [(3, {"train/loss": 1.0}), "finish"]


@pytest.mark.gpu
def test_get_batch_on_cuda_is_pinned_and_on_device():
    import torch

    from cs336_basics.data import get_batch

    x, y = get_batch(np.arange(1000, dtype=np.uint16), 4, 16, "cuda")
    assert x.device.type == y.device.type == "cuda" and x.dtype == torch.int64
    assert torch.equal(y.cpu(), x.cpu() + 1)


def test_grad_accumulation_matches_one_large_batch(corpus, tmp_path):
    import torch

    big = train(_cfg(corpus, tmp_path / "big", num_steps=6, sample_max_new_tokens=0))
    cfg = _cfg(corpus, tmp_path / "acc", num_steps=6, sample_max_new_tokens=0)
    values = cfg.to_dict()
    values["data"].update(batch_size=4, grad_accum_steps=2)  # same 8 windows per step, drawn in two halves
    acc = train(config_from_dict(values))
    for (name, a), (_, b) in zip(
        torch.load(next((big.run_dir / "ckpt").iterdir()), weights_only=True)["model"].items(),
        torch.load(next((acc.run_dir / "ckpt").iterdir()), weights_only=True)["model"].items(),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    la = [r["train/loss"] for r in _rows(big.run_dir) if "train/loss" in r]
    lb = [r["train/loss"] for r in _rows(acc.run_dir) if "train/loss" in r]
    np.testing.assert_allclose(la, lb, rtol=1e-5)
