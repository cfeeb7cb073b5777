"""Local backend (real training of the A1 TransformerLM on token shards): data order, failures, a smoke run."""

import numpy as np
import pytest

from cs336_scaling.api import TrainingConfig
from cs336_scaling.backends.local import LocalBackend, TokenShards, make_synthetic_corpus
from cs336_scaling.errors import ConfigError, DataError

pytest.importorskip("torch")
pytest.importorskip("cs336_basics.model")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_synthetic_corpus(
        tmp_path_factory.mktemp("corpus"), train_tokens=120_000, vocab_size=128, val_tokens=4096, shard_tokens=40_000
    )


def cfg(**over: object) -> TrainingConfig:
    body = dict(
        architecture_config=dict(hidden_size=32, head_dim=16, num_attention_heads=2, num_key_value_heads=2,
                                 num_hidden_layers=1, intermediate_size=64, vocab_size=128, dtype="float32"),
        optimizer_config=dict(type="adamw", lr_scheduler=dict(peak_value=1e-2)),
        train_batch_size=4, n_evals=4, total_train_tokens=512 * 4 * 16, max_runtime_seconds=120.0, val_batch_size=8,
    )  # fmt: skip
    body.update(over)
    return TrainingConfig.model_validate(body)


def test_window_order_is_fixed_and_independent_of_batch_size(corpus) -> None:
    shards = TokenShards(corpus)
    whole = shards.train_windows(0, 12)
    assert whole.shape == (12, 513)
    assert np.array_equal(np.concatenate([shards.train_windows(0, 4), shards.train_windows(4, 8)]), whole)
    # window k of shard 0 is the k-th entry of default_rng(0)'s permutation
    raw = np.load(corpus / "train" / "000.npy")
    j = int(np.random.default_rng(0).permutation((len(raw) - 1) // 512)[0]) * 512
    assert np.array_equal(whole[0], raw[j : j + 513])
    with pytest.raises(DataError, match="train tokens"):
        shards.train_windows(shards.windows - 1, 2)


def test_bad_data_dirs(tmp_path) -> None:
    with pytest.raises(DataError, match="expected train"):
        TokenShards(tmp_path)
    with pytest.raises(ConfigError, match="--data-dir"):
        LocalBackend(None)
    (tmp_path / "train").mkdir()
    (tmp_path / "validation").mkdir()
    np.save(tmp_path / "train" / "000.npy", np.zeros(2048, dtype=np.int32))
    np.save(tmp_path / "validation" / "0.npy", np.zeros(2048, dtype=np.uint16))
    with pytest.raises(DataError, match="uint16"):
        TokenShards(tmp_path)


def test_vocab_smaller_than_data_fails_fast(corpus) -> None:
    arch = cfg().architecture_config.model_dump() | {"vocab_size": 64}
    res = LocalBackend(corpus, val_tokens=4096).run(cfg(architecture_config=arch), lambda _: None)
    assert res.status == "unexpected" and "vocab_size" in res.failure and res.used_runtime_seconds == 1.0


def test_run_longer_than_the_data_fails_before_training(corpus) -> None:
    res = LocalBackend(corpus, val_tokens=4096).run(cfg(total_train_tokens=512 * 4 * 64), lambda _: None)
    assert res.status == "unexpected" and "train tokens" in res.failure and res.val_losses == []


@pytest.mark.slow
def test_smoke_training_reduces_loss_and_times_out(corpus) -> None:
    backend = LocalBackend(corpus, val_tokens=4096, device="cpu")
    seen: list[list[float]] = []
    res = backend.run(cfg(), seen.append)
    assert res.status == "completed" and len(res.val_losses) == 4
    assert res.val_losses[0] < np.log(128) + 0.1 and res.val_losses[-1] < res.val_losses[0] - 0.2
    assert [len(s) for s in seen] == [1, 2, 3, 4] and res.used_runtime_seconds > 0
    again = backend.run(cfg(), lambda _: None)
    assert again.val_losses == pytest.approx(res.val_losses, abs=1e-4)  # same seed, same data order
    # A model large enough that its 56 steps (the corpus holds 58) cannot finish inside the 1 s limit on any CPU.
    big = dict(hidden_size=256, head_dim=64, num_attention_heads=4, num_key_value_heads=4, num_hidden_layers=4,
               intermediate_size=1024, vocab_size=128, dtype="float32")  # fmt: skip
    timeout = backend.run(
        cfg(architecture_config=big, max_runtime_seconds=1.0, total_train_tokens=512 * 4 * 56), lambda _: None
    )
    assert timeout.status == "timeout" and len(timeout.val_losses) < 4
