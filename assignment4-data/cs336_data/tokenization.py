"""Tokenising filtered documents into a flat uint16 token file for the assignment 1 trainer.

Each document is encoded on its own and followed by the EOS id (GPT-2: 50256), so documents with newlines stay one
document. Ids must fit uint16 (< 65,536): checked, not assumed. Tokenizers: GPT-2's byte-level BPE from the user's
`gpt2_vocab.json` + `gpt2_merges.txt` (built as a tiktoken Encoding, no hub access) or the A1 `Tokenizer`.
"""

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from cs336_data.errors import DataError, MissingExtraError

UINT16_LIMIT = 1 << 16
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (the alphabet of its vocab file)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def gpt2_encoder(vocab_path: str, merges_path: str, eos_token: str) -> tuple[Callable[[str], list[int]], int]:
    """(encode, eos_id) for GPT-2 from its vocab/merges files, via tiktoken (mergeable ranks = vocab ids)."""
    try:
        import tiktoken
    except ImportError as exc:
        raise MissingExtraError("GPT-2 tokenisation needs tiktoken (dev group)") from exc
    decoder = {ch: b for b, ch in _bytes_to_unicode().items()}
    vocab = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
    ranks = {bytes(decoder[ch] for ch in token): idx for token, idx in vocab.items() if token != eos_token}
    eos_id = vocab[eos_token]
    enc = tiktoken.Encoding(
        "gpt2-files", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={eos_token: eos_id}
    )
    return (lambda text: enc.encode_ordinary(text)), eos_id


def a1_encoder(vocab_path: str, merges_path: str, eos_token: str) -> tuple[Callable[[str], list[int]], int]:
    """(encode, eos_id) with the assignment 1 tokenizer (imported here: only this stage needs it)."""
    try:
        from cs336_basics.tokenizer import Tokenizer
    except ImportError as exc:
        raise MissingExtraError("the A1 tokenizer (cs336_basics.tokenizer.Tokenizer) is not available") from exc
    tok = Tokenizer.from_files(vocab_path, merges_path, special_tokens=[eos_token])
    eos_id = tok.encode(eos_token)
    if len(eos_id) != 1:
        raise DataError(f"EOS token {eos_token!r} is not a single token in the A1 vocabulary")
    return tok.encode, eos_id[0]


def tokenize_to_bin(
    docs: Iterable[str], out_path: str | os.PathLike, encode: Callable[[str], list[int]], eos_id: int
) -> int:
    """Append every document's ids plus EOS to a uint16 file; returns the number of tokens written."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with open(out_path, "wb") as f:
        for text in docs:
            ids = np.asarray(list(encode(text)) + [eos_id], dtype=np.int64)
            if ids.size and (ids.max() >= UINT16_LIMIT or ids.min() < 0):
                raise DataError(f"token id {int(ids.max())} does not fit uint16 (< {UINT16_LIMIT})")
            ids.astype(np.uint16).tofile(f)
            total += int(ids.size)
    return total


def load_tokens(path: str | os.PathLike) -> np.memmap:
    return np.memmap(path, dtype=np.uint16, mode="r")
