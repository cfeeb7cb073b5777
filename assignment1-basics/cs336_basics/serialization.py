"""Checkpoints: the handout's save/load pair (§5.2) and the full training state used by `--resume`.

A checkpoint is one `torch.save`d dict with fixed keys `model`, `optimizer`, `iteration` (and `step`, the same
number under the style guide's name), plus optional extras such as `config` and `rng_state`. Everything in it is a
tensor or a plain Python value, so `torch.load(weights_only=True)` (the torch >= 2.6 default) reads it: never a
numpy scalar or a custom object. Keys written by a `torch.compile`d model (`_orig_mod.` prefix) are stripped on save
and on load, so compiled and eager models share checkpoints.

Data-parallel runs (`run.parallel` = ddp/fsdp) write a *sharded* checkpoint instead: a directory
`step_00001000/` with one `rank_00000.pt` ... per rank (that rank's rows of every dim-0 sharded tensor, its
optimizer state for them and its RNG state; rank 0 also holds every replicated tensor) plus `meta.pt` (step,
config, world size, the shard layout, optimizer hyperparameters, the data sampler). `read_checkpoint` on such a
directory reassembles full tensors, so it reads like a one-file checkpoint and can be re-split for any world size.
"""

import os
import pickle
import random
import re
import shutil
import zipfile
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
import torch

from cs336_basics.errors import CheckpointError, CheckpointNotFoundError

COMPILE_PREFIX = "_orig_mod."
CKPT_GLOB = "step_*.pt"


def _strip_compile_prefix(state: dict[str, Any]) -> dict[str, Any]:
    return {k.replace(COMPILE_PREFIX, ""): v for k, v in state.items()}


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "_orig_mod", model)


def save_checkpoint(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    iteration: int,
    out: str | os.PathLike | BinaryIO | IO[bytes],
    **extra: Any,
) -> None:
    """Write model, optimizer and iteration (plus `extra` entries) to a path or a binary file object.

    Paths are written atomically (temporary file + rename), so a kill during the save never leaves a torn file.
    """
    state = {
        "model": _strip_compile_prefix(_unwrap(model).state_dict()),
        "optimizer": optimizer.state_dict(),
        "iteration": int(iteration),
        "step": int(iteration),
        **extra,
    }
    if isinstance(out, str | os.PathLike):
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
    else:
        torch.save(state, out)


def read_checkpoint(src: str | os.PathLike | BinaryIO | IO[bytes]) -> dict[str, Any]:
    """`torch.load` with weights_only=True onto the CPU, turning missing/corrupt files into package errors.
    A sharded checkpoint directory is reassembled into full tensors (`read_sharded_checkpoint`)."""
    if isinstance(src, str | os.PathLike) and Path(src).is_dir():
        return read_sharded_checkpoint(src)
    name = str(src) if isinstance(src, str | os.PathLike) else getattr(src, "name", "<file object>")
    if isinstance(src, str | os.PathLike) and not Path(src).is_file():
        raise CheckpointNotFoundError(f"checkpoint not found: {src}")
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {name}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(state, dict) or not {"model", "optimizer"} <= state.keys():
        raise CheckpointError(f"{name} is not a checkpoint (expected a dict with 'model' and 'optimizer')")
    return state


def load_checkpoint(
    src: str | os.PathLike | BinaryIO | IO[bytes],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
) -> int:
    """Restore model (and optimizer) state from `src`; return the saved iteration."""
    state = read_checkpoint(src)
    try:
        _unwrap(model).load_state_dict(_strip_compile_prefix(state["model"]))
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint does not match the model/optimizer: {str(exc).splitlines()[0]}") from exc
    return int(state.get("iteration", state.get("step", 0)))


# ---------------------------------------------------------------------------------------------------------------
# RNG state: every generator a training step can touch, as tensors and plain values (weights_only-safe).


def capture_rng_state(sampler: torch.Generator | None = None) -> dict[str, Any]:
    """Snapshot python/numpy/torch(/cuda) RNGs and the data sampler's generator."""
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(np_kind),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if sampler is not None:
        state["sampler"] = sampler.get_state()
    return state


def restore_rng_state(state: dict[str, Any], sampler: torch.Generator | None = None) -> None:
    """Inverse of `capture_rng_state`."""
    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in state["python"]))
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state((np_state["kind"], keys, np_state["pos"], np_state["has_gauss"], np_state["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if sampler is not None and "sampler" in state:
        sampler.set_state(state["sampler"])


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint files inside a run directory: <run>/ckpt/step_00001000.pt


def checkpoint_path(ckpt_dir: str | Path, step: int) -> Path:
    return Path(ckpt_dir) / f"step_{step:08d}.pt"


def sharded_checkpoint_path(ckpt_dir: str | Path, step: int) -> Path:
    return Path(ckpt_dir) / f"step_{step:08d}"


_CKPT_NAME = re.compile(r"step_(\d+)(\.pt)?")


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint in `folder`, oldest first: `step_N.pt` files and `step_N/`
    directories holding a `meta.pt` (a directory without one is a save that never finished)."""
    folder = Path(folder)
    found = []
    for entry in folder.iterdir() if folder.is_dir() else ():
        match = _CKPT_NAME.fullmatch(entry.name)
        if match is None:
            continue
        if (entry.is_file() and match.group(2)) or (entry.is_dir() and (entry / META_NAME).is_file()):
            found.append((int(match.group(1)), entry))
    return sorted(found)


def latest_checkpoint(path: str | Path) -> Path:
    """The checkpoint to resume from: `path` itself if it is a checkpoint file or a sharded checkpoint directory,
    else the highest step under it (or its ckpt/)."""
    path = Path(path)
    if path.is_file() or (path / META_NAME).is_file():
        return path
    for folder in (path / "ckpt", path):
        found = list_checkpoints(folder)
        if found:
            return found[-1][1]
    raise CheckpointNotFoundError(f"no checkpoint ({CKPT_GLOB} or sharded step_*/) found in {path}")


def prune_checkpoints(folder: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` checkpoints in `folder` (0 keeps all); returns what was deleted."""
    if keep_last <= 0:
        return []
    old = [p for _, p in list_checkpoints(folder)[:-keep_last]]
    for p in old:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    return old


# ---------------------------------------------------------------------------------------------------------------
# Sharded checkpoints. `layout` maps a model state_dict key to (full rows, rows per rank) for every tensor that is
# split along dim 0 (rank r holds rows [r * k, (r + 1) * k) of the tensor zero-padded to world * k rows); every
# other key is replicated, identical on all ranks, and written by rank 0 only. Optimizer state is keyed by parameter
# name on disk (the order of `param_names`, i.e. the optimizer's parameter order), so it re-shards with its weight.

SHARDED_FORMAT = "cs336-sharded-v1"
META_NAME = "meta.pt"


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def rank_file(folder: str | Path, rank: int) -> Path:
    return Path(folder) / f"rank_{rank:05d}.pt"


def shard_rows(full: torch.Tensor, rows: int, rows_per_rank: int, rank: int) -> torch.Tensor:
    """Rank `rank`'s dim-0 slice of `full` (first `rows` rows meaningful), zero-padded to `rows_per_rank` rows."""
    if full.shape[0] != rows:
        raise CheckpointError(f"tensor with {full.shape[0]} rows does not match the shard layout ({rows} rows)")
    out = full.new_zeros((rows_per_rank, *full.shape[1:]))
    lo, hi = rank * rows_per_rank, min((rank + 1) * rows_per_rank, rows)
    if hi > lo:
        out[: hi - lo] = full[lo:hi]
    return out


def write_rank_shard(
    folder: str | Path,
    rank: int,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    param_names: list[str],
    layout: dict[str, tuple[int, int]],
    rng_state: dict[str, Any],
) -> Path:
    """Write one rank's part of a sharded checkpoint into `folder` (atomically). `model_state` and
    `optimizer_state` are this rank's `state_dict()`s (shards for the keys in `layout`)."""
    mine = {k for k in model_state if rank == 0 or k in layout}
    names = dict(enumerate(param_names))
    state = {
        "format": SHARDED_FORMAT,
        "rank": rank,
        "model": {k: v.detach() for k, v in _strip_compile_prefix(model_state).items() if k in mine},
        "optimizer_state": {names[i]: st for i, st in optimizer_state["state"].items() if names[i] in mine},
        "rng_state": rng_state,
    }
    path = rank_file(folder, rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(state, path)
    return path


def finalize_sharded_checkpoint(folder: str | Path, final: str | Path, meta: dict[str, Any]) -> Path:
    """Rank 0, once every rank has written its shard into the temporary `folder`: write `meta.pt` and rename the
    folder to `final`, so a checkpoint directory either is complete or does not exist."""
    folder, final = Path(folder), Path(final)
    _atomic_save({"format": SHARDED_FORMAT, **meta}, folder / META_NAME)
    if final.exists():
        shutil.rmtree(final)
    os.replace(folder, final)
    return final


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"sharded checkpoint is incomplete: {path} is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from exc


def read_sharded_checkpoint(folder: str | Path) -> dict[str, Any]:
    """Reassemble a sharded checkpoint into the one-file layout: full `model` tensors, an index-keyed `optimizer`
    state_dict, `rng_state` (rank 0's, with the sampler), plus `rng_states` (one per saved rank), `world_size`,
    `layout` and the meta entries (`step`, `config`, `elapsed_s`, ...)."""
    folder = Path(folder)
    if not (folder / META_NAME).is_file():
        raise CheckpointNotFoundError(f"{folder} is not a sharded checkpoint (no {META_NAME})")
    meta = _load(folder / META_NAME)
    if meta.get("format") != SHARDED_FORMAT:
        raise CheckpointError(f"{folder / META_NAME}: unknown format {meta.get('format')!r}")
    shards = [_load(rank_file(folder, r)) for r in range(int(meta["world_size"]))]
    layout = {k: tuple(v) for k, v in meta["layout"].items()}

    def full(parts: list[torch.Tensor], rows: int) -> torch.Tensor:
        return torch.cat(parts, dim=0)[:rows].clone()

    model = {}
    for key, value in shards[0]["model"].items():
        model[key] = full([s["model"][key] for s in shards], layout[key][0]) if key in layout else value.clone()
    state = {}
    for i, name in enumerate(meta["param_names"]):
        if name not in shards[0]["optimizer_state"]:
            continue  # no optimizer state yet (never stepped, or no grad)
        entry = {}
        for k, v in shards[0]["optimizer_state"][name].items():
            if name in layout and isinstance(v, torch.Tensor) and v.shape == shards[0]["model"][name].shape:
                v = full([s["optimizer_state"][name][k] for s in shards], layout[name][0])
            entry[k] = v.clone() if isinstance(v, torch.Tensor) else v
        state[i] = entry
    rng_states = [s["rng_state"] for s in shards]
    extra = {k: v for k, v in meta.items() if k not in ("format", "param_groups", "sampler")}
    return {
        **extra,
        "model": model,
        "optimizer": {"state": state, "param_groups": meta["param_groups"]},
        "iteration": int(meta["step"]),
        "rng_state": {**rng_states[0], "sampler": meta["sampler"]},
        "rng_states": rng_states,
        "layout": layout,
    }


def shard_optimizer_state(
    optimizer_state: dict[str, Any], param_names: list[str], layout: dict[str, tuple[int, int]], rank: int
) -> dict[str, Any]:
    """Cut a full (index-keyed) optimizer state_dict down to rank `rank`'s shards under `layout`: each state tensor
    of a sharded parameter with the parameter's row count is sliced like the parameter."""
    state = {}
    for i, entry in optimizer_state["state"].items():
        name = param_names[int(i)]
        if name in layout:
            rows, per_rank = layout[name]
            entry = {
                k: shard_rows(v, rows, per_rank, rank)
                if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == rows
                else v
                for k, v in entry.items()
            }
        state[i] = entry
    return {"state": state, "param_groups": optimizer_state["param_groups"]}
