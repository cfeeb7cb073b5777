"""`cs336-basics train --parallel ddp|fsdp` end to end on CPU (gloo, 2 ranks): the CLI code path against
single-process training on the same global batch, sharded checkpoints resumed on 2, 1 and 2 ranks, a real torchrun
launch, and argument errors.

Ranks are started the way torchrun starts them (RANK / LOCAL_RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT in the
environment, then `cs336_basics.cli.main(argv)`), joining a rendezvous store served on a kernel-chosen port; one
test uses torchrun itself, so the launcher's own environment (and fresh interpreters) are covered too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cs336_basics import serialization as ser
from cs336_basics.cli import main as cli_main
from cs336_basics.config import config_from_dict
from cs336_basics.train import train

WORLD = 2
VOCAB = 61  # odd: FSDP pads the embedding / LM head rows
STEPS = 4


def _cli_rank(rank: int, world: int, port: int, argv: list[str]) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        TORCHELASTIC_USE_AGENT_STORE="True",  # the store is already served (by the launching process, like torchrun)
        OMP_NUM_THREADS="1",
    )
    torch.set_num_threads(1)  # a forked child must not reuse the parent's OpenMP pool
    code = cli_main(argv)
    if code != 0:
        raise RuntimeError(f"rank {rank}: cs336-basics {' '.join(argv)} exited with {code}")


def launch(argv: list[str], world: int = WORLD) -> None:
    """Run `cs336-basics <argv>` on `world` local ranks, as torchrun would: this process serves the rendezvous
    store on a port the kernel picks (no free-port race) and the ranks join it as clients. The ranks are forked,
    so they start with torch and the packages already imported: seconds instead of a fresh interpreter each (the
    torchrun test covers fresh processes)."""
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    method = "spawn" if torch.cuda.is_initialized() else "fork"  # a forked child cannot use the parent's CUDA
    try:
        mp.start_processes(_cli_rank, args=(world, store.port, argv), nprocs=world, join=True, start_method=method)
    finally:
        del store


def _values(data_dir, out_dir, **data) -> dict:
    return {
        "model": {
            "vocab_size": VOCAB,
            "context_length": 16,
            "d_model": 16,
            "num_layers": 1,
            "num_heads": 2,
            "d_ff": 32,
            "tie_embeddings": True,
        },
        "optim": {"lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 1, "grad_clip": 0.5},
        "data": {
            "train_path": str(data_dir / "train.npy"),
            "val_path": str(data_dir / "val.npy"),
            "batch_size": 1,
            "global_batch_size": 4,
            **data,
        },
        "run": {
            "out_dir": str(out_dir),
            "device": "cpu",
            "num_steps": STEPS,
            "log_every": 1,
            "eval_every": 2,
            "eval_batches": 3,  # odd: ranks evaluate 2 + 1 batches
            "ckpt_every": 2,
            "progress": False,
            "num_threads": 1,
            "sample_max_new_tokens": 0,
        },
    }


def _write_toml(path, values: dict) -> str:
    def lit(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v)

    lines = []
    for section, table in values.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {lit(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _run_dir(out_dir):
    (run_dir,) = [p for p in out_dir.iterdir() if p.is_dir()]
    return run_dir


def _losses(run_dir) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["train/loss"] for r in rows if "train/loss" in r}


def _evals(run_dir) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["eval/loss"] for r in rows if "eval/loss" in r}


def _params(ckpt) -> dict[str, torch.Tensor]:
    return ser.read_checkpoint(ckpt)["model"]


def _assert_params_close(a, b, **tol):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k, **tol)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tokens")
    rng = np.random.default_rng(0)
    np.save(d / "train.npy", rng.integers(0, VOCAB, 4000, dtype=np.uint16))
    np.save(d / "val.npy", rng.integers(0, VOCAB, 1000, dtype=np.uint16))
    return d


@pytest.fixture(scope="module")
def single(data_dir, tmp_path_factory):
    """The reference: one process, 4 sequences per step as 4 micro-steps of 1 (the data, and the eval windows,
    depend on the global and per-micro-step batch only); checkpoints at steps 2 and 4."""
    out = tmp_path_factory.mktemp("single")
    result = train(config_from_dict(_values(data_dir, out, batch_size=1)))
    assert result.status == "completed"
    return result.run_dir


@pytest.fixture(scope="module")
def fsdp_run(data_dir, tmp_path_factory):
    """FSDP on 2 ranks, 1 sequence per rank and micro-step, 2 micro-steps: the same 4 sequences per step."""
    tmp = tmp_path_factory.mktemp("fsdp")
    cfg = _write_toml(tmp / "cfg.toml", _values(data_dir, tmp / "runs", batch_size=1))
    launch(["train", "--config", cfg, "--parallel", "fsdp"])
    return _run_dir(tmp / "runs")


@pytest.mark.slow
def test_fsdp_cli_matches_single_process(single, fsdp_run):
    step4 = fsdp_run / "ckpt" / "step_00000004"
    assert (step4 / "meta.pt").is_file() and {p.name for p in step4.glob("rank_*.pt")} == {
        "rank_00000.pt",
        "rank_00001.pt",
    }
    _assert_params_close(_params(step4), _params(single / "ckpt" / "step_00000004.pt"), rtol=1e-5, atol=1e-6)
    a, b = _losses(single), _losses(fsdp_run)
    assert sorted(b) == list(range(1, STEPS + 1))
    np.testing.assert_allclose([b[s] for s in sorted(a)], [a[s] for s in sorted(a)], rtol=1e-5)
    ea, eb = _evals(single), _evals(fsdp_run)
    assert sorted(ea) == sorted(eb) == [2, 4]
    np.testing.assert_allclose([eb[s] for s in ea], [ea[s] for s in ea], rtol=1e-5)
    # rank 0 exports the full (gathered) model
    from cs336_basics.model import TransformerLM

    exported = TransformerLM.from_pretrained(fsdp_run / "model").state_dict()
    _assert_params_close(exported, _params(step4), rtol=0, atol=0)
    assert json.loads((fsdp_run / "summary.json").read_text())["step"] == STEPS


@pytest.mark.slow
def test_bucketed_ddp_cli_with_grad_accumulation_matches_single_process(single, data_dir, tmp_path):
    """DDP from scratch on 2 ranks: 1 sequence per rank x 2 micro-steps (the first under no_sync), several buckets."""
    cfg = _write_toml(tmp_path / "cfg.toml", _values(data_dir, tmp_path / "runs", batch_size=1))
    launch(["train", "--config", cfg, "--parallel", "ddp", "--set", "run.ddp_bucket_mb=0.001"])
    run_dir = _run_dir(tmp_path / "runs")
    ckpt = run_dir / "ckpt" / "step_00000004"
    assert (ckpt / "rank_00001.pt").is_file() and ser.read_checkpoint(ckpt)["world_size"] == 2
    _assert_params_close(_params(ckpt), _params(single / "ckpt" / "step_00000004.pt"), rtol=1e-5, atol=1e-6)
    a, b = _losses(single), _losses(run_dir)
    np.testing.assert_allclose([b[s] for s in sorted(a)], [a[s] for s in sorted(a)], rtol=1e-5)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["tokens"] for r in rows] == [64 * s for s in range(1, STEPS + 1)]  # 4 sequences x 16 tokens per step


def _resumable_copy(run_dir, dest, drop: str):
    """A copy of `run_dir` that looks as if it had been killed right after step 2's checkpoint."""
    shutil.copytree(run_dir, dest)
    last = dest / "ckpt" / drop
    shutil.rmtree(last) if last.is_dir() else last.unlink()
    (dest / "metrics.jsonl").write_text(
        "".join(line + "\n" for line in (run_dir / "metrics.jsonl").read_text().splitlines()[:2])
    )
    return dest


@pytest.mark.slow
def test_sharded_resume_on_the_same_world_size_is_exact(fsdp_run, tmp_path):
    copy = _resumable_copy(fsdp_run, tmp_path / "run", "step_00000004")
    launch(["train", "--resume", str(copy)])  # parallel = fsdp comes from the checkpoint's config
    a, b = _params(fsdp_run / "ckpt" / "step_00000004"), _params(copy / "ckpt" / "step_00000004")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _losses(copy) == _losses(fsdp_run)  # steps 3 and 4 bit for bit


@pytest.mark.slow
def test_sharded_checkpoint_resumes_on_one_process(fsdp_run, tmp_path):
    copy = _resumable_copy(fsdp_run, tmp_path / "run", "step_00000004")
    result = train(None, resume=str(copy), resume_overrides=['run.parallel="none"'])
    assert result.status == "completed" and result.step == STEPS
    _assert_params_close(
        _params(copy / "ckpt" / "step_00000004.pt"), _params(fsdp_run / "ckpt" / "step_00000004"), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(_losses(copy)[4], _losses(fsdp_run)[4], rtol=1e-5)


@pytest.mark.slow
def test_ddp_via_torchrun_resumes_a_single_process_checkpoint_and_matches_it(single, tmp_path):
    """A real `torchrun --standalone --nproc-per-node 2` launch: steps 3-4 of the one-process run, continued under
    DDP on 2 ranks (1 sequence per rank x 2 accumulation steps, the non-final one under no_sync), give the
    one-process parameters; keep_last=1 leaves only the new sharded checkpoint."""
    copy = _resumable_copy(single, tmp_path / "run", "step_00000004.pt")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "cs336_basics"]
    cmd += ["train", "--resume", str(copy), "--parallel", "ddp", "--set", "run.keep_last=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("status: completed") == 1  # only rank 0 prints the result
    assert [p.name for _, p in ser.list_checkpoints(copy / "ckpt")] == ["step_00000004"]  # step 2 pruned
    _assert_params_close(
        _params(copy / "ckpt" / "step_00000004"), _params(single / "ckpt" / "step_00000004.pt"), rtol=1e-5, atol=1e-6
    )
    a, b = _losses(single), _losses(copy)
    assert sorted(b) == list(range(1, STEPS + 1))
    np.testing.assert_allclose([b[s] for s in sorted(a)], [a[s] for s in sorted(a)], rtol=1e-5)
    np.testing.assert_allclose(_evals(copy)[4], _evals(single)[4], rtol=1e-5)


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_fresh_run_on_an_existing_one_rank_group_matches_single_process(parallel, single, data_dir, tmp_path):
    """The from-scratch path of each strategy (wrap, sync, clip, sharded save, export) without spawning: a process
    group that already exists is used as it is (and left alone)."""
    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    try:
        values = _values(data_dir, tmp_path, batch_size=1)
        values["run"]["parallel"] = parallel
        values["run"]["ddp_bucket_mb"] = 0.001  # several buckets
        result = train(config_from_dict(values))
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()
    assert result.status == "completed" and result.is_main
    ckpt = result.run_dir / "ckpt" / "step_00000004"
    _assert_params_close(_params(ckpt), _params(single / "ckpt" / "step_00000004.pt"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.summary["eval/loss"], _evals(single)[4], rtol=1e-5)


# ---- argument errors: one line on stderr, exit 1, before any process group exists --------------------------------


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["--parallel", "ddp"], {}, "torchrun"),
        (["--parallel", "none"], {"WORLD_SIZE": "2"}, "--parallel ddp or --parallel fsdp"),
        (["--parallel", "fsdp", "--set", "run.compile=true"], {}, "run.compile is not supported"),
        (["--parallel", "ddp", "--device", "mps"], {}, "not mps"),
        (["--set", "data.batch_size=2", "--set", "data.global_batch_size=3"], {}, "multiple of data.batch_size"),
        (["--set", "data.global_batch_size=8", "--set", "data.grad_accum_steps=3"], {}, "contradicts"),
    ],
)
def test_bad_combinations_are_one_line_errors(argv, env, needle, data_dir, tmp_path, monkeypatch, capsys):
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cfg = _write_toml(tmp_path / "cfg.toml", _values(data_dir, tmp_path / "runs"))
    assert cli_main(["train", "--config", cfg, *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unknown_parallel_flag_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["train", "--parallel", "tp"])
    assert exc.value.code == 2 and "invalid choice: 'tp'" in capsys.readouterr().err
