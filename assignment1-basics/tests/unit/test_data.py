"""get_batch ranges/endpoints/dtype/device and token-file loading and validation."""

import numpy as np
import pytest
import torch

from cs336_basics.data import get_batch, load_tokens, max_token_id, validate_tokens
from cs336_basics.errors import DataFileError


def test_get_batch_windows_targets_and_inclusive_range():
    n, m, b = 50, 8, 64
    data = np.arange(n, dtype=np.uint16)
    gen = torch.Generator().manual_seed(0)
    starts = []
    for _ in range(100):
        x, y = get_batch(data, b, m, "cpu", generator=gen)
        assert x.shape == y.shape == (b, m)
        assert x.dtype == y.dtype == torch.int64 and x.device.type == "cpu"
        assert torch.equal(y, x + 1)  # targets are the inputs shifted by one
        assert torch.equal(x, x[:, :1] + torch.arange(m))  # contiguous windows
        starts.append(x[:, 0])
    starts = torch.cat(starts)
    # Every start in [0, n - m - 1] inclusive is reachable, and nothing outside it.
    assert set(starts.tolist()) == set(range(n - m))


def test_get_batch_minimal_dataset_has_one_window():
    data = np.arange(9, dtype=np.uint16)
    x, y = get_batch(data, 4, 8, "cpu")
    assert torch.equal(x, torch.arange(8).expand(4, 8)) and torch.equal(y, torch.arange(1, 9).expand(4, 8))
    with pytest.raises(DataFileError, match="need at least context_length \\+ 1 = 10"):
        get_batch(data, 4, 9, "cpu")


def test_get_batch_is_reproducible_with_a_generator_and_reads_memmaps(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.random.default_rng(0).integers(0, 1000, 10_000).astype(np.uint16))
    data = load_tokens(path)
    assert isinstance(data, np.memmap) or data.base is not None
    a = get_batch(data, 8, 16, "cpu", generator=torch.Generator().manual_seed(3))
    b = get_batch(data, 8, 16, "cpu", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    full = np.load(path)
    windows = np.lib.stride_tricks.sliding_window_view(full, 17)
    for x, y in zip(a[0].numpy(), a[1].numpy(), strict=True):  # each row is some window of the file
        assert (windows == np.concatenate([x, y[-1:]])).all(axis=1).any()


def test_get_batch_invalid_device_raises():
    with pytest.raises((RuntimeError, AssertionError)):
        get_batch(np.arange(100), 2, 4, "cuda:99")


def test_load_tokens_errors(tmp_path):
    with pytest.raises(DataFileError, match="token file not found"):
        load_tokens(tmp_path / "missing.npy")
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataFileError, match="cannot read token file"):
        load_tokens(corrupt)
    two_d = tmp_path / "2d.npy"
    np.save(two_d, np.zeros((3, 3), dtype=np.uint16))
    with pytest.raises(DataFileError, match="1-D"):
        load_tokens(two_d)
    floats = tmp_path / "f.npy"
    np.save(floats, np.zeros(10, dtype=np.float32))
    with pytest.raises(DataFileError, match="integer token ids"):
        load_tokens(floats)
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x01\x02\x03")
    with pytest.raises(DataFileError, match="whole number of uint16"):
        load_tokens(odd)


def test_raw_bin_files_are_uint16(tmp_path):
    path = tmp_path / "t.bin"
    np.arange(300, dtype=np.uint16).tofile(path)
    tokens = load_tokens(path)
    assert tokens.dtype == np.uint16 and int(tokens[-1]) == 299 and max_token_id(tokens) == 299


def test_validate_tokens_catches_ids_beyond_vocab_and_short_files():
    tokens = np.array([1, 2, 3, 700, 4, 5], dtype=np.uint16)
    with pytest.raises(DataFileError, match=r"token id 700 >= model.vocab_size \(512\)"):
        validate_tokens(tokens, vocab_size=512, context_length=2, name="train")
    with pytest.raises(DataFileError, match="has 6 tokens; need at least"):
        validate_tokens(tokens, vocab_size=1000, context_length=8, name="train")
    validate_tokens(tokens, vocab_size=701, context_length=5, name="train")
