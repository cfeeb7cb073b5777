"""The parallelism registry (`run.parallel`) and the sharded checkpoint format, in one process.

The data-parallel runs themselves (2 ranks over gloo, torchrun) are tested in assignment2-systems, which provides
`ddp` and `fsdp`: tests/unit/distributed/test_train_parallel.py.
"""

import ast
import sys
from pathlib import Path

import pytest
import torch

import cs336_basics
from cs336_basics import parallel
from cs336_basics import serialization as ser
from cs336_basics.config import TrainConfig, config_from_dict
from cs336_basics.errors import CheckpointError, ConfigError
from cs336_basics.model import TransformerLM
from cs336_basics.optimizer import AdamW

VOCAB = 37  # odd, so shards are padded


def test_no_module_imports_cs336_systems_at_import_time():
    """Assignment 2 depends on assignment 1, never the reverse: the plug-ins are imported by name on demand."""
    offenders = []
    for path in Path(cs336_basics.__file__).parent.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "cs336_systems"]
    assert offenders == []


def _cfg(parallel_name: str) -> TrainConfig:
    return config_from_dict({"run": {"parallel": parallel_name, "device": "cpu"}})


def test_none_is_built_in_and_refuses_to_run_as_one_of_several_ranks(monkeypatch):
    par = parallel.create_parallelism(_cfg("none"))
    assert type(par) is parallel.Parallelism and (par.rank, par.world_size, par.is_main) == (0, 1, True)
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ConfigError, match=r"WORLD_SIZE=4 .* --parallel ddp or --parallel fsdp"):
        par.setup()


@pytest.mark.parametrize("missing", ["cs336_systems", "cs336_systems.distributed.train_parallel"])
def test_a_plugin_whose_package_is_missing_names_the_package(missing, monkeypatch):
    monkeypatch.delitem(parallel._REGISTRY, "fsdp", raising=False)
    monkeypatch.setitem(sys.modules, missing, None)  # the import fails as if not installed
    with pytest.raises(ConfigError, match=r"--parallel fsdp is provided by the cs336-systems package"):
        parallel.create_parallelism(_cfg("fsdp"))


def test_registered_strategies_are_found_by_name(monkeypatch):
    class Fake(parallel.Parallelism):
        name = "fake"

    monkeypatch.setitem(parallel._REGISTRY, "ddp", Fake)
    assert type(parallel.create_parallelism(_cfg("ddp"))) is Fake


def test_unknown_parallel_mode_is_a_config_error():
    with pytest.raises(ConfigError, match=r"run.parallel must be one of \['none', 'ddp', 'fsdp'\]"):
        _cfg("tp")


# ---- sharded checkpoints ----------------------------------------------------------------------------------------


def _trained(seed: int = 0):
    torch.manual_seed(seed)
    model = TransformerLM(VOCAB, 8, 16, 1, 2, 24)
    opt = AdamW(model.parameters(), lr=1e-2)
    x = torch.randint(0, VOCAB, (2, 8))
    model(x).logsumexp(-1).mean().backward()
    opt.step()
    return model, opt


def _layout(model, world: int) -> dict[str, tuple[int, int]]:
    """Shard the embedding, the LM head and one projection along dim 0; the rest replicated."""
    keys = ["token_embeddings.weight", "lm_head.weight", "layers.0.ffn.w1.weight"]
    sd = model.state_dict()
    return {k: (sd[k].shape[0], -(-sd[k].shape[0] // world)) for k in keys}


def _write_sharded(model, opt, folder: Path, world: int, step: int = 7) -> Path:
    layout = _layout(model, world)
    names = [n for n, _ in model.named_parameters()]
    full_model, full_opt = model.state_dict(), opt.state_dict()
    tmp = folder / f"step_{step:08d}.tmp"
    for rank in reversed(range(world)):  # rank 0 last: it finalises
        local = {k: ser.shard_rows(v, *layout[k], rank) if k in layout else v for k, v in full_model.items()}
        local_opt = ser.shard_optimizer_state(full_opt, names, layout, rank)
        ser.write_rank_shard(tmp, rank, local, local_opt, names, layout, {"rank": torch.tensor(rank)})
    meta = {
        "step": step,
        "world_size": world,
        "parallel": "fsdp",
        "layout": layout,
        "param_names": names,
        "param_groups": full_opt["param_groups"],
        "config": TrainConfig().to_dict(),
        "sampler": torch.Generator().manual_seed(3).get_state(),
        "elapsed_s": 1.5,
    }
    return ser.finalize_sharded_checkpoint(tmp, ser.sharded_checkpoint_path(folder, step), meta)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_sharded_checkpoint_reassembles_the_full_state(world, tmp_path):
    model, opt = _trained()
    path = _write_sharded(model, opt, tmp_path, world)
    assert not (tmp_path / "step_00000007.tmp").exists()
    assert sorted(p.name for p in path.iterdir()) == ["meta.pt", *[f"rank_{r:05d}.pt" for r in range(world)]]
    state = ser.read_checkpoint(path)
    assert state["step"] == state["iteration"] == 7 and state["world_size"] == world
    assert [s["rank"].item() for s in state["rng_states"]] == list(range(world))
    assert torch.equal(state["rng_state"]["sampler"], torch.Generator().manual_seed(3).get_state())
    full = model.state_dict()
    assert state["model"].keys() == full.keys() and all(torch.equal(state["model"][k], full[k]) for k in full)
    expected = opt.state_dict()
    for i, entry in expected["state"].items():
        got = state["optimizer"]["state"][i]
        assert got.keys() == entry.keys()
        for k, v in entry.items():
            assert torch.equal(got[k], v) if isinstance(v, torch.Tensor) else got[k] == v
    # the handout loader reads the directory too, into a fresh model and optimizer
    model2, opt2 = _trained(seed=1)
    assert ser.load_checkpoint(path, model2, opt2) == 7
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))


def test_optimizer_state_reshards_to_another_world_size(tmp_path):
    model, opt = _trained()
    state = ser.read_checkpoint(_write_sharded(model, opt, tmp_path, world=2))
    names = [n for n, _ in model.named_parameters()]
    layout3 = _layout(model, 3)
    parts = [ser.shard_optimizer_state(state["optimizer"], names, layout3, r) for r in range(3)]
    i = names.index("token_embeddings.weight")
    rows, per_rank = layout3["token_embeddings.weight"]
    for key in ("m", "v"):
        shards = [p["state"][i][key] for p in parts]
        assert all(s.shape == (per_rank, 16) for s in shards)
        assert torch.equal(torch.cat(shards)[:rows], opt.state[model.token_embeddings.weight][key])
        assert not torch.cat(shards)[rows:].any()  # padding rows are zero
    j = names.index("layers.0.ln1.weight")  # replicated: every rank gets all of it
    assert all(torch.equal(p["state"][j]["m"], opt.state[model.layers[0].ln1.weight]["m"]) for p in parts)


def test_latest_checkpoint_and_pruning_see_both_formats(tmp_path):
    model, opt = _trained()
    ckpt = tmp_path / "ckpt"
    ser.save_checkpoint(model, opt, 3, ser.checkpoint_path(ckpt, 3))
    _write_sharded(model, opt, ckpt, world=2, step=7)
    (ckpt / "step_00000009").mkdir()  # a save that never finished (no meta.pt)
    (ckpt / "step_00000011.tmp").mkdir()
    assert ser.latest_checkpoint(tmp_path) == ckpt / "step_00000007"
    assert ser.latest_checkpoint(ckpt / "step_00000007") == ckpt / "step_00000007"
    assert [s for s, _ in ser.list_checkpoints(ckpt)] == [3, 7]
    assert ser.prune_checkpoints(ckpt, keep_last=1) == [ckpt / "step_00000003.pt"]
    assert ser.prune_checkpoints(ckpt, keep_last=0) == []
    assert [s for s, _ in ser.list_checkpoints(ckpt)] == [7]


def test_a_missing_rank_file_is_a_clear_error(tmp_path):
    model, opt = _trained()
    path = _write_sharded(model, opt, tmp_path, world=2)
    (path / "rank_00001.pt").unlink()
    with pytest.raises(CheckpointError, match=r"incomplete: .*rank_00001.pt is missing"):
        ser.read_checkpoint(path)
