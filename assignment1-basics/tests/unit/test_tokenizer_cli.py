"""`cs336-basics train-tokenizer / encode / decode`: success paths and one-line errors with exit code 1."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cs336_basics.cli import main
from cs336_basics.tokenizer import Tokenizer

EOT = "<|endoftext|>"
DOCS = [f"Document {i}: the cat sat on the mat, {i * 3} times.\n\nNaïve café {i}." for i in range(60)]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_bytes(("\n" + EOT + "\n").join(DOCS).encode())
    return path


@pytest.fixture
def tok_dir(corpus: Path, tmp_path: Path) -> Path:
    out = tmp_path / "tok"
    assert main(["train-tokenizer", str(corpus), "--vocab-size", "300", "--out-dir", str(out), "--no-progress"]) == 0
    return out


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_train_encode_decode_roundtrip(corpus: Path, tok_dir: Path, tmp_path: Path, capsys):
    stats = json.loads((tok_dir / "stats.json").read_text())
    assert stats["vocab_size"] == 300 and stats["num_merges"] == 300 - 257
    assert stats["time_s"] >= 0 and stats["peak_rss_mib"] > 0 and stats["longest_token_bytes"] >= 2

    ids_path = tmp_path / "ids.npy"
    assert main(["encode", str(corpus), "--tokenizer-dir", str(tok_dir), "-o", str(ids_path), "--no-progress"]) == 0
    assert "bytes/token" in capsys.readouterr().out
    ids = np.load(ids_path, mmap_mode="r")
    assert ids.dtype == np.uint16
    tok = Tokenizer.from_files(tok_dir / "vocab.json", tok_dir / "merges.txt", [EOT])
    text = corpus.read_text(encoding="utf-8")
    assert ids.tolist() == tok.encode(text)
    assert ids.tolist().count(256) == len(DOCS) - 1  # <|endoftext|> kept as its id

    out = tmp_path / "decoded.txt"
    assert main(["decode", str(ids_path), "--tokenizer-dir", str(tok_dir), "-o", str(out)]) == 0
    assert out.read_bytes() == corpus.read_bytes()


def test_parallel_encode_equals_serial(corpus: Path, tok_dir: Path, tmp_path: Path, monkeypatch):
    import cs336_basics.tokenizer_cli as tcli

    monkeypatch.setattr(tcli, "_ENCODE_CHUNK_BYTES", 300)  # many jobs, boundaries on <|endoftext|>
    args = ["encode", str(corpus), "--tokenizer-dir", str(tok_dir), "--no-progress"]
    assert main([*args, "-o", str(tmp_path / "a.npy"), "--num-workers", "2"]) == 0
    assert main([*args, "-o", str(tmp_path / "b.npy"), "--num-workers", "1"]) == 0
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_train_bpe_alias_reports_stats(corpus: Path, tmp_path: Path, capsys):
    assert (
        main(["train-bpe", str(corpus), "--vocab-size", "260", "--out-dir", str(tmp_path / "t"), "--no-progress"]) == 0
    )
    assert (tmp_path / "t" / "merges.txt").exists()
    out = capsys.readouterr().out
    assert "trained 3 merges (vocab 260)" in out and "peak RSS" in out and "longest token" in out


def test_error_missing_input(tmp_path: Path, capsys):
    assert main(["train-tokenizer", str(tmp_path / "none.txt"), "--out-dir", str(tmp_path / "o")]) == 1
    assert "not found" in _error_line(capsys)


def test_error_non_utf8(tmp_path: Path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\xff\xfe")
    assert main(["train-tokenizer", str(bad), "--out-dir", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "not valid UTF-8: byte offset 2" in _error_line(capsys)


def test_error_vocab_too_small(corpus: Path, tmp_path: Path, capsys):
    assert main(["train-tokenizer", str(corpus), "--vocab-size", "100", "--out-dir", str(tmp_path / "o")]) == 1
    assert "vocab_size 100 < 256 byte tokens + 1 special token(s) = 257" in _error_line(capsys)


def test_error_empty_corpus(tmp_path: Path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert main(["train-tokenizer", str(empty), "--out-dir", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "is empty" in _error_line(capsys)


def test_error_vocab_too_large_for_uint16(corpus: Path, tok_dir: Path, tmp_path: Path, capsys):
    vocab = json.loads((tok_dir / "vocab.json").read_text(encoding="utf-8"))
    vocab["<|big|>"] = 70_000
    (tmp_path / "big.json").write_text(json.dumps(vocab), encoding="utf-8")
    args = ["encode", str(corpus), "--vocab", str(tmp_path / "big.json"), "--merges", str(tok_dir / "merges.txt")]
    assert main([*args, "-o", str(tmp_path / "x.npy")]) == 1
    assert "do not fit uint16" in _error_line(capsys)


def test_error_decode_out_of_range(tok_dir: Path, tmp_path: Path, capsys):
    np.save(tmp_path / "ids.npy", np.array([1, 2, 999], dtype=np.uint16))
    assert main(["decode", str(tmp_path / "ids.npy"), "--tokenizer-dir", str(tok_dir), "-o", str(tmp_path / "o")]) == 1
    assert "token id 999 is not in the vocabulary" in _error_line(capsys)


def test_error_mismatched_files(corpus: Path, tok_dir: Path, tmp_path: Path, capsys):
    (tmp_path / "m.txt").write_text("#version: 0.2\nzz qq\n", encoding="utf-8")
    args = ["encode", str(corpus), "--vocab", str(tok_dir / "vocab.json"), "--merges", str(tmp_path / "m.txt")]
    assert main([*args, "-o", str(tmp_path / "x.npy")]) == 1
    assert "vocab and merges do not match" in _error_line(capsys)


def test_error_missing_tokenizer_args(corpus: Path, tmp_path: Path, capsys):
    assert main(["encode", str(corpus), "-o", str(tmp_path / "x.npy")]) == 1
    assert "--tokenizer-dir" in _error_line(capsys)


def test_console_entry_point_prints_one_line(tmp_path: Path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cs336_basics",
            "encode",
            str(tmp_path / "nope.txt"),
            "--tokenizer-dir",
            str(tmp_path),
            "-o",
            "x.npy",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: input file not found: {tmp_path / 'nope.txt'}"]
