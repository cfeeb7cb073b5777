"""The multi-GPU benchmark workers on 2 gloo CPU ranks at tiny sizes (what the GPU driver runs, minus NCCL)."""

from __future__ import annotations

import json

import pytest

from cs336_systems.bench_dist import TINY, _merge_ranks, run_allreduce, run_xl
from cs336_systems.errors import ConfigError


def test_merge_ranks_takes_slowest_rank_and_first_error():
    a = {"variant": "v", "status": "ok", "step_ms": 10.0, "sync_ms": 1.0, "fwd_bwd_ms": 8.0, "opt_ms": 1.0,
         "peak_GiB": 2.0, "mem_after_init_GiB": 1.0}  # fmt: skip
    b = dict(a, step_ms=12.0, peak_GiB=3.0)
    merged = _merge_ranks([a, b])
    assert merged["step_ms"] == 12.0 and merged["peak_GiB"] == 3.0 and merged["peak_GiB_per_rank"] == [2.0, 3.0]
    failed = _merge_ranks([a, {"variant": "v", "status": "error: OOM"}])
    assert failed["status"] == "error: OOM"


def test_unknown_variant_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unknown variants"):
        run_xl(str(tmp_path / "x.json"), backend="gloo", variants=("bogus",))


@pytest.mark.slow
def test_allreduce_and_xl_workers_on_gloo(tmp_path):
    run_allreduce(str(tmp_path / "ar.json"), backend="gloo", sizes_mb=(0.25,), iters={"gloo": 2})
    ar = json.loads((tmp_path / "ar.json").read_text())
    (row,) = ar["rows"]
    assert row["correct"] and row["backend"] == "gloo" and row["iters"] == 2
    assert row["busbw_GBps"] == pytest.approx(row["algbw_GBps"])  # 2 ranks: 2(n-1)/n = 1
    assert row["algbw_GBps"] == pytest.approx(0.25e6 / (row["mean_ms"] / 1e3) / 1e9, rel=1e-6)

    run_xl(str(tmp_path / "xl.json"), backend="gloo", shape=TINY, variants=("local", "naive", "fsdp"), warmup=1,
           steps=2)  # fmt: skip
    xl = json.loads((tmp_path / "xl.json").read_text())
    assert [r["variant"] for r in xl["rows"]] == ["local", "naive", "fsdp"]
    for r in xl["rows"]:
        assert r["status"] == "ok", r
        assert r["step_ms"] > 0 and r["step_ms"] >= r["fwd_bwd_ms"]
    assert xl["rows"][0]["overhead_ms"] == 0.0
