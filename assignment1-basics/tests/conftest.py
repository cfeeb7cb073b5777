"""Fixtures shared by the A1 tests: GPT-2 tokenizer files and tiktoken's GPT-2 encoding, built offline.

tiktoken downloads GPT-2's `vocab.bpe`/`encoder.json` and checks their sha256. The copies in
shared/data/tokenizer are the same files (the merges lack the `#version` header line), so we seed a private
`TIKTOKEN_CACHE_DIR` under the session's tmp dir with them (spec §2.2); no network is used. Tests using these
fixtures skip cleanly when the shared data folder or tiktoken is absent.
"""

import os
import shutil
from pathlib import Path

import pytest

# tiktoken names its cache files by the sha1 of the download URL.
_TIKTOKEN_VOCAB_BPE = "6d1cbeee0f20b3d9449abfede4726ed8212e3aee"
_TIKTOKEN_ENCODER_JSON = "6c7ea1a7e38e3a7f062df639a5b80947f075ffe6"


@pytest.fixture(scope="session")
def gpt2_files(shared_data: Path) -> tuple[Path, Path]:
    """(vocab JSON, merges TXT) of GPT-2 from the shared data folder."""
    vocab, merges = shared_data / "tokenizer" / "gpt2_vocab.json", shared_data / "tokenizer" / "gpt2_merges.txt"
    if not (vocab.is_file() and merges.is_file()):
        pytest.skip("GPT-2 tokenizer files are absent from the shared data folder")
    return vocab, merges


@pytest.fixture(scope="session")
def tiktoken_gpt2(gpt2_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """tiktoken's GPT-2 `Encoding`, loaded from a cache seeded with the shared files (no network)."""
    tiktoken = pytest.importorskip("tiktoken")
    vocab, merges = gpt2_files
    cache = tmp_path_factory.mktemp("tiktoken_cache")
    (cache / _TIKTOKEN_VOCAB_BPE).write_bytes(b"#version: 0.2\n" + merges.read_bytes())
    shutil.copyfile(vocab, cache / _TIKTOKEN_ENCODER_JSON)
    saved = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        return tiktoken.get_encoding("gpt2")
    finally:
        if saved is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = saved


@pytest.fixture(scope="session")
def gpt2_tokenizer(gpt2_files: tuple[Path, Path]):
    """Our Tokenizer on GPT-2's files with `<|endoftext|>` as special token (built once: 50k merges)."""
    from cs336_basics.tokenizer import Tokenizer

    return Tokenizer.from_files(*gpt2_files, special_tokens=["<|endoftext|>"])
