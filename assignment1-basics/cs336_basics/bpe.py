"""Byte-level BPE training (handout §2.5, spec §1.3.2).

    uv run cs336-basics train-tokenizer CORPUS.txt --vocab-size 10000 --out-dir runs/tok   # CLI
    vocab, merges = train_bpe("corpus.txt", 10_000, ["<|endoftext|>"])                   # library

ID layout (stable; serialized tokenizers and uint16 datasets depend on it): ids 0..255 are the single bytes
(id == byte value), then the special tokens in the order given, then the merges in creation order.

Algorithm:
1. Pre-tokenize in parallel over byte ranges of the file (`pretokenize.count_pretokens`): specials are split
   out first and dropped, so no merge crosses a document boundary and no learned token contains `<|`.
2. Each distinct pre-token becomes a "word": a list of token ids with a frequency. Pair counts are weighted by
   word frequency and count every adjacent position (`aaa` contributes 2 x (a, a)).
3. Merge loop: pick the pair with the highest count, ties broken by the lexicographically greatest pair of *raw
   bytes* (`max(pairs, key=lambda p: (count[p], p))`). Counts are updated incrementally: an index pair -> words
   lists the words that may contain it, and only those are rewritten. The argmax comes from a lazy max-heap keyed
   on (-count, inverted bytes of the pair); stale entries are dropped when they surface.

Pairs are packed into one int (`a << 32 | b`), which hashes and compares much faster than tuples of bytes.
"""

import heapq
import logging
import os
import sys
from collections.abc import Iterable

from cs336_basics.errors import ConfigError
from cs336_basics.pretokenize import DEFAULT_CHUNK_BYTES, count_pretokens

logger = logging.getLogger(__name__)

_SHIFT = 32
_MASK = (1 << _SHIFT) - 1
_INVERT = bytes(range(255, -1, -1))


def _inverted_key(token: bytes) -> str:
    """A string whose ascending order is the *descending* order of `token`s as bytes.

    Each byte x becomes chr(255 - x) and a terminator chr(256) (larger than any mapped byte) is appended, so a
    proper prefix (smaller as bytes) sorts after its extensions. The terminator also makes the keys prefix-free,
    hence key(a) + key(b) orders pairs exactly like the tuples (a, b), reversed.
    """
    return token.translate(_INVERT).decode("latin-1") + "\u0100"


def validate_special_tokens(special_tokens: Iterable[str] | None) -> list[str]:
    """Special tokens as a de-duplicated list in the given order; rejects non-strings and empty strings."""
    out: list[str] = []
    for token in special_tokens or []:
        if not isinstance(token, str) or not token:
            raise ConfigError(f"special tokens must be non-empty strings, got {token!r}")
        if token not in out:
            out.append(token)
    return out


def _initial_vocab(special_tokens: list[str]) -> list[bytes]:
    return [bytes([i]) for i in range(256)] + [s.encode("utf-8") for s in special_tokens]


def merge_words(
    word_counts: dict[bytes, int], vocab: list[bytes], num_merges: int, progress: bool = False
) -> list[tuple[int, int]]:
    """Run `num_merges` BPE merges over `{pre-token bytes: count}`; appends new tokens to `vocab`.

    Returns the merged id pairs in creation order (fewer when no pair is left). Single-byte words are ignored:
    they have no pairs.
    """
    words: list[list[int]] = []
    freqs: list[int] = []
    pair_counts: dict[int, int] = {}
    where: dict[int, set[int]] = {}
    for token, freq in word_counts.items():
        if len(token) < 2:
            continue
        w = len(words)
        symbols = list(token)
        words.append(symbols)
        freqs.append(freq)
        for x, y in zip(symbols, symbols[1:]):
            p = x << _SHIFT | y
            pair_counts[p] = pair_counts.get(p, 0) + freq
            ws = where.get(p)
            if ws is None:
                where[p] = {w}
            else:
                ws.add(w)

    keys = [_inverted_key(t) for t in vocab]
    heap = [(-c, keys[p >> _SHIFT] + keys[p & _MASK], p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    heappush, heappop = heapq.heappush, heapq.heappop

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num_merges, unit="merge", desc="bpe merges", mininterval=0.5)

    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges:
        # Lazy deletion: an entry is current only if its count still equals the live count.
        while heap and pair_counts.get(heap[0][2], 0) != -heap[0][0]:
            heappop(heap)
        if not heap:
            break
        best = heappop(heap)[2]
        a, b = best >> _SHIFT, best & _MASK
        new = len(vocab)
        vocab.append(vocab[a] + vocab[b])
        keys.append(_inverted_key(vocab[new]))
        merges.append((a, b))

        delta: dict[int, int] = {}
        for w in where.pop(best):
            symbols = words[w]
            if a not in symbols:  # stale index entry: this word lost the pair to an earlier merge
                continue
            out: list[int] = []
            i, n = 0, len(symbols)
            last = n - 1
            while i < n:
                s = symbols[i]
                if s == a and i < last and symbols[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(s)
                    i += 1
            if len(out) == n:
                continue
            freq = freqs[w]
            for x, y in zip(symbols, symbols[1:]):
                p = x << _SHIFT | y
                delta[p] = delta.get(p, 0) - freq
            for x, y in zip(out, out[1:]):
                p = x << _SHIFT | y
                delta[p] = delta.get(p, 0) + freq
                if x == new or y == new:
                    ws = where.get(p)
                    if ws is None:
                        where[p] = {w}
                    else:
                        ws.add(w)
            words[w] = out

        for p, d in delta.items():
            if not d:
                continue
            c = pair_counts.get(p, 0) + d
            if c > 0:
                pair_counts[p] = c
                heappush(heap, (-c, keys[p >> _SHIFT] + keys[p & _MASK], p))
            else:
                pair_counts.pop(p, None)
                where.pop(p, None)
        pair_counts.pop(best, None)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return merges


def train_bpe(
    input_path: str | os.PathLike,
    vocab_size: int,
    special_tokens: list[str] | None = None,
    *,
    num_workers: int | None = None,
    progress: bool | None = None,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train a byte-level BPE tokenizer on a UTF-8 text file.

    `vocab_size` counts everything (256 bytes + specials + merges); training stops early when no pair is left.
    `num_workers` processes pre-tokenize (default: all cores); each reads at most `max_chunk_bytes` at a time, so
    memory is bounded by the chunk size plus the count tables, not by the file size. `progress` shows tqdm bars
    (default: only when stderr is a terminal).
    """
    specials = validate_special_tokens(special_tokens)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise ConfigError(f"vocab_size must be an int, got {vocab_size!r}")
    minimum = 256 + len(specials)
    if vocab_size < minimum:
        raise ConfigError(
            f"vocab_size {vocab_size} < 256 byte tokens + {len(specials)} special token(s) = {minimum}; "
            f"use vocab_size >= {minimum}"
        )
    if num_workers is not None and num_workers < 1:
        raise ConfigError(f"num_workers must be >= 1, got {num_workers}")
    if progress is None:
        progress = sys.stderr.isatty()

    counts = count_pretokens(input_path, specials, num_workers, max_chunk_bytes, progress)
    word_counts: dict[bytes, int] = {}
    for piece, c in counts.items():
        token = piece.encode("utf-8")
        word_counts[token] = word_counts.get(token, 0) + c
    del counts

    vocab_list = _initial_vocab(specials)
    merged = merge_words(word_counts, vocab_list, vocab_size - len(vocab_list), progress)
    if len(vocab_list) < vocab_size:
        logger.info(
            "no pairs left after %d merges: vocab has %d < %d entries", len(merged), len(vocab_list), vocab_size
        )
    vocab = dict(enumerate(vocab_list))
    merges = [(vocab_list[a], vocab_list[b]) for a, b in merged]
    return vocab, merges
