"""Checkpoint round trips (paths and file objects), compiled-model keys, corrupt/missing files, RNG state."""

import io
import random

import numpy as np
import pytest
import torch

from cs336_basics.errors import CheckpointError, CheckpointNotFoundError
from cs336_basics.serialization import (
    capture_rng_state,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)


def _tiny(seed: int):
    from cs336_basics.model import TransformerLM
    from cs336_basics.optimizer import AdamW

    torch.manual_seed(seed)
    model = TransformerLM(vocab_size=50, context_length=8, d_model=16, num_layers=2, num_heads=2, d_ff=32)
    return model, AdamW(model.parameters(), lr=1e-2)


def _train_steps(model, optimizer, steps: int, seed: int = 0) -> list[float]:
    from cs336_basics.nn_utils import cross_entropy

    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        x = torch.randint(0, 50, (4, 8), generator=gen)
        loss = cross_entropy(model(x[:, :-1]), x[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("as_file_object", [False, True])
def test_round_trip_restores_model_optimizer_and_iteration(tmp_path, as_file_object):
    model, opt = _tiny(0)
    _train_steps(model, opt, 3)
    target = io.BytesIO() if as_file_object else tmp_path / "ck.pt"
    save_checkpoint(model, opt, 3, target)
    if as_file_object:
        target.seek(0)
    model2, opt2 = _tiny(1)  # different init: everything must come from the checkpoint
    assert load_checkpoint(target, model2, opt2) == 3
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    # Same state => identical continuation (the optimizer moments came back too).
    assert _train_steps(model, opt, 3, seed=1) == _train_steps(model2, opt2, 3, seed=1)


def test_checkpoint_is_weights_only_loadable_and_iteration_is_an_int(tmp_path):
    model, opt = _tiny(0)
    _train_steps(model, opt, 1)
    save_checkpoint(model, opt, np.int64(7), tmp_path / "ck.pt", rng_state=capture_rng_state())
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert type(state["iteration"]) is int and state["iteration"] == 7


def test_compiled_prefix_is_stripped(tmp_path):
    model, opt = _tiny(0)
    prefixed = {f"_orig_mod.{k}": v for k, v in model.state_dict().items()}
    torch.save({"model": prefixed, "optimizer": opt.state_dict(), "iteration": 5}, tmp_path / "c.pt")
    model2, opt2 = _tiny(1)
    assert load_checkpoint(tmp_path / "c.pt", model2, opt2) == 5
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model2.parameters(), strict=True))


def test_missing_corrupt_and_mismatched_checkpoints(tmp_path):
    model, opt = _tiny(0)
    with pytest.raises(CheckpointNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt", model, opt)
    save_checkpoint(model, opt, 1, tmp_path / "ok.pt")
    (tmp_path / "torn.pt").write_bytes((tmp_path / "ok.pt").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "torn.pt", model, opt)
    from cs336_basics.model import TransformerLM

    other = TransformerLM(vocab_size=60, context_length=8, d_model=16, num_layers=2, num_heads=2, d_ff=32)
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(tmp_path / "ok.pt", other, None)


def test_rng_state_round_trip():
    sampler = torch.Generator().manual_seed(5)
    state = capture_rng_state(sampler)
    first = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=sampler).item())
    restore_rng_state(state, sampler)
    again = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=sampler).item())
    assert first == again


def test_latest_checkpoint_picks_highest_step(tmp_path):
    with pytest.raises(CheckpointNotFoundError):
        latest_checkpoint(tmp_path)
    for step in (5, 100, 20):
        checkpoint_path(tmp_path / "ckpt", step).parent.mkdir(exist_ok=True)
        checkpoint_path(tmp_path / "ckpt", step).write_bytes(b"")
    assert latest_checkpoint(tmp_path).name == "step_00000100.pt"
