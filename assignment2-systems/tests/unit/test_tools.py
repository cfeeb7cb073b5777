"""CPU tests of the benchmarking, memory, profiling and checkpointing tools (small configs)."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

import cs336_systems  # noqa: F401  (registers the flash backends)
from cs336_systems.bench_attention import run_grid
from cs336_systems.bench_model import ModelBenchConfig, build_model, markdown_from_rows, run_model_bench
from cs336_systems.checkpointing import CheckpointedLM
from cs336_systems.cli import main
from cs336_systems.errors import ConfigError
from cs336_systems.memory import SavedTensorAccounting, render_snapshot, saved_tensors_by_node, summarize_snapshot

TINY = dict(size="tiny", context_length=32, batch_size=2, device="cpu", warmup=1, steps=2)


def test_flash_backends_match_the_models_own_attention():
    from cs336_basics.model import TransformerLM

    torch.manual_seed(0)
    kw = dict(vocab_size=50, context_length=16, d_model=32, num_layers=2, num_heads=2, d_ff=64)
    ref = TransformerLM(**kw, attn_backend="ours")
    ours = TransformerLM(**kw, attn_backend="flash_torch")
    ours.load_state_dict(ref.state_dict())
    x = torch.randint(0, 50, (2, 16))
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("nested", [False, True])
def test_checkpointing_keeps_outputs_and_grads_and_saves_less(nested):
    torch.manual_seed(0)
    model = build_model(ModelBenchConfig(**TINY))
    ckpt = CheckpointedLM(model, every=1, nested=nested)
    x = torch.randint(0, 10_000, (2, 32))
    with SavedTensorAccounting() as plain:
        out = model(x)
    out.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with SavedTensorAccounting() as saved:
        out2 = ckpt(x)
    out2.sum().backward()
    torch.testing.assert_close(out2, out)
    for g, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g)
    assert saved.total_bytes < plain.total_bytes  # only group inputs (plus the head) stay alive
    with pytest.raises(ConfigError, match="k >= 1"):
        CheckpointedLM(model, every=0)


def test_saved_tensor_accounting_counts_activations_not_parameters():
    lin = torch.nn.Linear(64, 64, bias=False)
    x = torch.randn(8, 64, requires_grad=True)
    with SavedTensorAccounting() as naive:
        torch.relu(lin(x))
    # mm saves x (8*64 fp32) and a transposed view of the weight; relu saves its output
    assert naive.total_bytes == 2 * 8 * 64 * 4 + 64 * 64 * 4  # the weight view is not an nn.Parameter
    with SavedTensorAccounting(lin.parameters()) as acct:
        y = torch.relu(lin(x))
    assert acct.total_bytes == 2 * 8 * 64 * 4
    by_node = saved_tensors_by_node(y, list(lin.parameters()))
    assert sum(by_node.values()) == 2 * 8 * 64 * 4 and "ReluBackward0" in by_node


def _fake_snapshot():
    frames = [{"filename": "model.py", "line": 7, "name": "forward"}]
    trace = [
        {"action": "alloc", "addr": 1, "size": 100, "frames": frames},
        {"action": "alloc", "addr": 2, "size": 300, "frames": frames},
        {"action": "free_requested", "addr": 1, "size": 100},
        {"action": "free_completed", "addr": 1, "size": 100},
        {"action": "alloc", "addr": 3, "size": 50, "frames": []},
    ]
    return {"segments": [], "device_traces": [trace]}


def test_snapshot_summary_and_render(tmp_path):
    s = summarize_snapshot(_fake_snapshot(), top=2)
    assert s.peak_bytes == 400 and s.timeline == [100, 400, 300, 350]
    assert [a["size"] for a in s.largest] == [300, 100] and "model.py:7 forward" in s.largest[0]["frames"][0]
    path = tmp_path / "snap.pickle"
    path.write_bytes(pickle.dumps(_fake_snapshot()))
    render_snapshot(path, tmp_path / "snap.png")
    assert (tmp_path / "snap.png").stat().st_size > 1000
    with pytest.raises(ConfigError, match="device_traces"):
        summarize_snapshot({"x": 1})


def test_bench_model_row_and_table():
    row = run_model_bench(ModelBenchConfig(**TINY, mode="train_step", attention="flash_torch", checkpoint_every=1))
    assert row["status"] == "ok" and row["mean_ms"] > 0 and row["tokens_per_s"] > 0
    assert "| tiny | train_step |" in markdown_from_rows([row])
    with pytest.raises(ConfigError, match="unknown mode"):
        ModelBenchConfig(mode="fly").validate()


def test_bench_attention_cells_and_errors_recorded():
    cells = run_grid(["naive", "torch_tiled", "sdpa_cudnn"], [16], [32], 1, 2, "fp32", True, torch.device("cpu"))
    assert [c.status for c in cells[:2]] == ["ok", "ok"] and all(c.total_ms > 0 for c in cells[:2])
    assert cells[2].status != "ok"  # the cuDNN backend refuses CPU tensors: recorded, not raised
    with pytest.raises(ConfigError, match="unknown attention impl"):
        run_grid(["fast"], [16], [32], 1, 1, "fp32", True, torch.device("cpu"))


def test_cli_commands(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    args = ["--size", "tiny", "--context-length", "16", "--batch-size", "1", "--device", "cpu"]
    assert main(["bench-model", *args, "--warmup", "0", "--steps", "1", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["status"] == "ok"
    assert main(["model-table", str(out)]) == 0
    assert main(["memory", *args, "--top", "3"]) == 0
    assert "saved for backward" in capsys.readouterr().out
    assert main(["profile", *args, "--warmup", "0", "--steps", "1", "--trace", str(tmp_path / "t.json")]) == 0
    assert (tmp_path / "t.json").exists() and "| op / kernel |" in capsys.readouterr().out
    assert main(["bench-model", "--size", "huge"]) == 1
    assert "error: unknown model size" in capsys.readouterr().err
