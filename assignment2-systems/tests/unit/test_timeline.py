"""Per-stream timeline from a synthetic Chrome trace: stream grouping, NCCL classification, overlap arithmetic."""

from __future__ import annotations

import json

import pytest

from cs336_systems.errors import ConfigError
from cs336_systems.timeline import load_stream_intervals, render_stream_timeline


def _trace(path, events):
    path.write_text(json.dumps({"traceEvents": events}))
    return path


def _k(name, ts, dur, stream, cat="kernel"):
    return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "tid": stream, "args": {"stream": stream}}


def test_streams_nccl_and_overlap(tmp_path):
    events = [
        _k("gemm", 1000, 4000, 7),  # compute 0..4 ms
        _k("elementwise", 6000, 2000, 7),  # compute 5..7 ms
        _k("ncclDevKernel_AllReduce_Sum_f32", 3000, 3000, 17),  # NCCL 2..5 ms: 2 ms overlap with the gemm
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 0, "dur": 99999, "tid": 1},  # ignored
    ]
    streams = load_stream_intervals(_trace(tmp_path / "t.json", events))
    assert set(streams) == {"stream 7", "stream 17"}
    assert streams["stream 17"] == [(2.0, 3.0, True)]
    assert sorted(streams["stream 7"]) == [(0.0, 4.0, False), (5.0, 2.0, False)]
    summary = render_stream_timeline({"a": tmp_path / "t.json"}, tmp_path / "t.png")
    assert summary["a"]["compute_busy_ms"] == pytest.approx(6.0)
    assert summary["a"]["nccl_busy_ms"] == pytest.approx(3.0)
    assert summary["a"]["nccl_overlapped_ms"] == pytest.approx(2.0)
    assert summary["a"]["span_ms"] == pytest.approx(7.0)
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rejects_trace_without_gpu_events(tmp_path):
    path = _trace(tmp_path / "cpu.json", [{"ph": "X", "cat": "cpu_op", "name": "x", "ts": 0, "dur": 1}])
    with pytest.raises(ConfigError, match="no GPU kernel events"):
        load_stream_intervals(path)
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(ConfigError, match="cannot read"):
        load_stream_intervals(tmp_path / "bad.json")
