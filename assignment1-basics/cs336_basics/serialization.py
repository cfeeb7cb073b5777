"""Checkpoints: the handout's save/load pair (§5.2) and the full training state used by `--resume`.

A checkpoint is one `torch.save`d dict with fixed keys `model`, `optimizer`, `iteration` (and `step`, the same
number under the style guide's name), plus optional extras such as `config` and `rng_state`. Everything in it is a
tensor or a plain Python value, so `torch.load(weights_only=True)` (the torch >= 2.6 default) reads it: never a
numpy scalar or a custom object. Keys written by a `torch.compile`d model (`_orig_mod.` prefix) are stripped on save
and on load, so compiled and eager models share checkpoints.
"""

import os
import pickle
import random
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
    """`torch.load` with weights_only=True onto the CPU, turning missing/corrupt files into package errors."""
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


def latest_checkpoint(path: str | Path) -> Path:
    """The checkpoint to resume from: `path` itself if it is a file, else the highest step under it (or its ckpt/)."""
    path = Path(path)
    if path.is_file():
        return path
    for folder in (path / "ckpt", path):
        found = sorted(folder.glob(CKPT_GLOB)) if folder.is_dir() else []
        if found:
            return found[-1]
    raise CheckpointNotFoundError(f"no checkpoint ({CKPT_GLOB}) found in {path}")
