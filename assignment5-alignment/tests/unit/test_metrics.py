"""Metric sinks (JSONL, wandb through a stand-in module) and the plot command."""

import math
import sys
import types

from cs336_alignment.metrics import JSONLSink, MetricsLogger, WandbSink, read_metrics
from cs336_alignment.plotting import plot_run


class FakeRun:
    def __init__(self):
        self.defined, self.logged = [], []

    def define_metric(self, name, step_metric=None):
        self.defined.append((name, step_metric))

    def log(self, data):
        self.logged.append(data)

    def finish(self):
        self.finished = True


def test_wandb_sink_uses_separate_step_axes(monkeypatch):
    run = FakeRun()
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=lambda **kw: run))
    sink = WandbSink("proj", "name", {})
    assert ("train/*", "train_step") in run.defined and ("eval/*", "eval_step") in run.defined
    sink.log({"step": 3, "train/loss": 1.5, "note": "text"}, 3)
    sink.log({"step": 3, "eval/answer_accuracy": 0.5}, 3)
    assert run.logged[0] == {"step": 3, "train/loss": 1.5, "train_step": 3}
    assert run.logged[1]["eval_step"] == 3 and "train_step" not in run.logged[1]
    sink.close()
    assert run.finished


def test_jsonl_keeps_nan_visible_and_plot_reads_it(tmp_path):
    logger = MetricsLogger([JSONLSink(tmp_path / "metrics.jsonl")])
    for step in range(1, 6):
        logger.log({"train/reward": step / 10, "train/token_entropy": 2.0 - step / 10}, step)
    logger.log({"eval/answer_accuracy": math.nan}, 6)
    logger.close()
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows[0]["step"] == 1 and "time_s" in rows[0] and rows[-1]["eval/answer_accuracy"] == "nan"
    paths = plot_run(tmp_path)
    assert paths and paths[0].stat().st_size > 1000
