"""Fuzzy document deduplication with MinHash + LSH (handout §3.2).

    cs336-data dedup-minhash --num-hashes 100 --num-bands 10 --ngrams 5 --threshold 0.8 --out-dir runs/mh docs/*.txt

1. Normalise: NFD -> drop combining marks -> lowercase -> Unicode punctuation (category P*) to spaces -> collapse
   whitespace. The same normalised text is used for the exact Jaccard check.
2. Shingles: the set of word n-grams (fewer than n words: one shingle of all words; no words: the empty set).
3. Signatures, vectorised: each word is hashed once (a polynomial hash from NumPy prefix sums); an n-gram's
   64-bit hash combines its words' hashes in NumPy (no n-gram strings), is mixed (Murmur3 finaliser), and its high
   32 bits x feed k seeded permutations h_i(x) = (a_i x + b_i) mod 2^32 with odd a_i. All k minima come from one
   NumPy min over a (shingles x k) uint32 matrix instead of k Python-level hash calls per shingle.
4. LSH: k = b * r; band j's key is the bytes of its r rows; documents sharing a key in any band are candidates.
   P(candidate | Jaccard s) = 1 - (1 - s^r)^b. Empty documents get no signature and are never bucketed.
5. Verification: exact Jaccard of the sets of 64-bit shingle hashes (equal to the Jaccard of the shingle strings
   unless two distinct shingles collide, probability ~2^-64 per pair); J >= threshold (equality counts) is an edge.
6. Union-find over the edges; from each cluster one member survives, chosen by `random.Random(seed)` over the
   members in input order. Two empty documents are duplicates of each other (J(∅, ∅) = 1).
Departures: buckets larger than `max_bucket_size` (boilerplate-only pages) pair each member only with the bucket's
first member instead of with every member, to keep candidate pairs from growing quadratically; a warning says so.
"""

import functools
import logging
import os
import random
import shutil
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xxhash

from cs336_data.errors import ConfigError, InputFormatError

logger = logging.getLogger(__name__)
MAX_BUCKET_SIZE = 1000
HASH_SHIFT = np.uint64(32)


@functools.lru_cache(maxsize=1)
def _normalisation_table() -> dict[int, int | None]:
    """Code point -> replacement: combining marks removed, punctuation to a space (built once per process)."""
    table: dict[int, int | None] = {}
    space = ord(" ")
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.combining(ch):
            table[cp] = None
        elif unicodedata.category(ch).startswith("P"):
            table[cp] = space
    return table


@functools.lru_cache(maxsize=1)
def _ascii_table() -> bytes:
    """bytes.translate table for ASCII text: punctuation to space, upper to lower (NFD is the identity on ASCII)."""
    table = bytearray(range(256))
    for b in range(128):
        ch = chr(b)
        if unicodedata.category(ch).startswith("P"):
            table[b] = ord(" ")
        elif ch.isupper():
            table[b] = ord(ch.lower())
    return bytes(table)


def normalize_for_dedup(text: str) -> str:
    """NFD -> no combining marks -> lowercase -> punctuation to spaces -> single spaces, stripped."""
    if text.isascii():  # fast path, same result: a byte-level table does all four steps for ASCII
        return " ".join(text.encode("ascii").translate(_ascii_table()).decode("ascii").split())
    text = unicodedata.normalize("NFD", text).translate(_normalisation_table()).lower()
    return " ".join(text.split())


def word_ngrams(text: str, n: int) -> set[str]:
    """The set of word n-grams of already-normalised `text`, joined by single spaces."""
    if n < 1:
        raise ConfigError(f"ngrams must be >= 1, got {n}")
    words = text.split()
    if not words:
        return set()
    if len(words) < n:
        return {" ".join(words)}
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


@functools.lru_cache(maxsize=16)
def _hash_params(num_hashes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = (rng.integers(0, 2**31, size=num_hashes, dtype=np.uint32) << np.uint32(1)) | np.uint32(1)  # odd multipliers
    b = rng.integers(0, 2**32, size=num_hashes, dtype=np.uint32)
    return a, b


def _mix64(h: np.ndarray) -> np.ndarray:
    """Murmur3's 64-bit finaliser: spreads every input bit over the high bits that the signatures use."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _signature_from_hashes(x: np.ndarray, num_hashes: int, seed: int) -> np.ndarray:
    """min_s ((a_i * x_s + b_i) mod 2^32) over the high 32 bits of the mixed shingle hashes: (k,) uint32."""
    a, b = _hash_params(num_hashes, seed)
    x32 = (_mix64(x) >> HASH_SHIFT).astype(np.uint32)
    permuted = np.multiply.outer(x32, a)  # uint32 arithmetic wraps mod 2^32: a bijection for odd a
    permuted += b
    return permuted.min(axis=0)


def minhash_signature(shingles: set[str], num_hashes: int, seed: int = 0) -> np.ndarray | None:
    """uint32 signature of length `num_hashes` of a set of shingle strings, or None for the empty set."""
    if not shingles:
        return None
    x = np.fromiter(
        (xxhash.xxh3_64_intdigest(s.encode(), seed) for s in shingles), dtype=np.uint64, count=len(shingles)
    )
    return _signature_from_hashes(x, num_hashes, seed)


# per-position multipliers combining word hashes into n-gram hashes (odd 64-bit constants)
_POSITION_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93, 0xA0761D6478BD642F,
     0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3, 0x1D8E4E27C47D124F, 0xB492B66FBE98F273],
    dtype=np.uint64,
)  # fmt: skip
_SPACE = ord(" ")
_POWERS: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # seed -> (P^k, P^-k) mod 2^64


def _powers(seed: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """P^k and P^-k (mod 2^64) for k < length, for the seeded odd base P (odd numbers are invertible mod 2^64)."""
    cached = _POWERS.get(seed)
    if cached is None or len(cached[0]) < length:
        size = max(length, 1 << 16, 2 * len(cached[0]) if cached else 0)
        base = (xxhash.xxh3_64_intdigest(b"minhash-base", seed) | 1) & 0xFFFFFFFFFFFFFFFF
        up = np.full(size, base, dtype=np.uint64)
        up[0] = 1
        down = np.full(size, pow(base, -1, 1 << 64), dtype=np.uint64)
        down[0] = 1
        cached = _POWERS[seed] = (np.cumprod(up, dtype=np.uint64), np.cumprod(down, dtype=np.uint64))
    return cached


def _word_hashes(normalized: str, seed: int) -> np.ndarray:
    """A 64-bit hash of every word of normalised text (single spaces, stripped), fully vectorised.

    Polynomial hash over the UTF-8 bytes, h(word) = sum_k byte_k P^k (mod 2^64), from prefix sums of
    byte_i P^i shifted back by P^-start: equal words get equal hashes wherever they occur, with no Python-level
    loop over words or bytes."""
    data = np.frombuffer(normalized.encode("utf-8"), dtype=np.uint8)
    up, down = _powers(seed, len(data) + 1)
    prefix = np.zeros(len(data) + 1, dtype=np.uint64)
    np.cumsum((data + np.uint64(1)) * up[: len(data)], out=prefix[1:])  # +1: a zero byte still contributes
    spaces = np.flatnonzero(data == _SPACE)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [len(data)]))
    return (prefix[ends] - prefix[starts]) * down[starts]


def shingle_hashes(normalized: str, n: int, seed: int = 0) -> np.ndarray:
    """64-bit hashes of the word n-grams of normalised text (fewer than n words: one hash of all words).

    `normalized` must come from `normalize_for_dedup` (words separated by single spaces). Each word is hashed once;
    an n-gram's hash is sum_j hash(word_{i+j}) * M_j (mod 2^64), so no n-gram string is ever built. Equal n-grams
    get equal hashes; distinct ones collide with probability ~2^-64."""
    if n < 1:
        raise ConfigError(f"ngrams must be >= 1, got {n}")
    if n > len(_POSITION_MULTIPLIERS):
        raise ConfigError(f"ngrams must be <= {len(_POSITION_MULTIPLIERS)}, got {n}")
    if not normalized:
        return np.empty(0, dtype=np.uint64)
    w = _word_hashes(normalized, seed)
    span = min(n, len(w))
    count = len(w) - span + 1
    h = w[:count] * _POSITION_MULTIPLIERS[0]
    for j in range(1, span):
        h += w[j : j + count] * _POSITION_MULTIPLIERS[j]
    return h


def lsh_candidate_pairs(
    signatures: Sequence[np.ndarray | None], num_bands: int, max_bucket_size: int = MAX_BUCKET_SIZE
) -> set[tuple[int, int]]:
    """Pairs (i < j) of documents that share at least one band bucket."""
    present = [i for i, sig in enumerate(signatures) if sig is not None]
    if not present:
        return set()
    num_hashes = len(signatures[present[0]])
    if num_bands < 1 or num_hashes % num_bands:
        raise ConfigError(f"num_hashes ({num_hashes}) must be a positive multiple of num_bands ({num_bands})")
    rows = num_hashes // num_bands
    matrix = np.stack([signatures[i] for i in present])
    pairs: set[tuple[int, int]] = set()
    for band in range(num_bands):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        band_rows = np.ascontiguousarray(matrix[:, band * rows : (band + 1) * rows])
        for idx, key in zip(present, band_rows):
            buckets[key.tobytes()].append(idx)
        for members in buckets.values():
            if len(members) < 2:
                continue
            if len(members) > max_bucket_size:
                logger.warning("LSH bucket with %d members: pairing with its first member only", len(members))
                pairs.update((members[0], m) for m in members[1:])
                continue
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    pairs.add((members[x], members[y]))
    return pairs


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x: int, y: int) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[max(rx, ry)] = min(rx, ry)


@dataclass
class DuplicateClusters:
    clusters: list[list[int]]  # clusters of size >= 2, members in input order, ordered by first member
    duplicate_pairs: set[tuple[int, int]]  # verified pairs (i < j)
    num_candidate_pairs: int
    survivors: list[int] = field(default_factory=list)  # indices of kept documents, in input order


def _check_params(num_hashes: int, num_bands: int, jaccard_threshold: float) -> None:
    if num_bands < 1 or num_hashes % num_bands:
        raise ConfigError(f"num_hashes ({num_hashes}) must be a positive multiple of num_bands ({num_bands})")
    if not 0.0 <= jaccard_threshold <= 1.0:
        raise ConfigError(f"jaccard_threshold must be in [0, 1], got {jaccard_threshold}")


def document_signature(text: str, *, num_hashes: int, ngrams: int, seed: int = 0) -> np.ndarray | None:
    """Signature of one raw document (normalised and shingled here); None when it has no words."""
    hashes = shingle_hashes(normalize_for_dedup(text), ngrams, seed)
    return _signature_from_hashes(hashes, num_hashes, seed) if hashes.size else None


def document_shingle_set(text: str, *, ngrams: int, seed: int = 0) -> set[int]:
    """The set of 64-bit shingle hashes of one raw document (what the Jaccard verification compares)."""
    return set(shingle_hashes(normalize_for_dedup(text), ngrams, seed).tolist())


def cluster_duplicates(
    signatures: Sequence[np.ndarray | None],
    shingle_sets_of: Callable[[set[int]], dict[int, set[int]]],
    *,
    num_bands: int,
    jaccard_threshold: float,
    seed: int = 0,
) -> DuplicateClusters:
    """LSH candidates -> exact Jaccard verification -> union-find clusters -> seeded survivors.

    `shingle_sets_of(indices)` returns the shingle sets of just those documents, so a caller streaming a corpus from
    disk only needs the signatures in memory plus the sets of documents that are in some candidate pair."""
    num_docs = len(signatures)
    candidates = lsh_candidate_pairs(signatures, num_bands)
    sets = shingle_sets_of({i for pair in candidates for i in pair})
    verified = {(i, j) for i, j in candidates if jaccard(sets[i], sets[j]) >= jaccard_threshold}
    empty = [i for i, sig in enumerate(signatures) if sig is None]
    verified.update((empty[0], j) for j in empty[1:])
    uf = UnionFind(num_docs)
    for i, j in verified:
        uf.union(i, j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(num_docs):
        groups[uf.find(i)].append(i)
    clusters = sorted((members for members in groups.values() if len(members) > 1), key=lambda m: m[0])
    rng = random.Random(seed)
    removed = set()
    for members in clusters:
        keep = rng.choice(members)
        removed.update(m for m in members if m != keep)
    survivors = [i for i in range(num_docs) if i not in removed]
    return DuplicateClusters(clusters, verified, len(candidates), survivors)


def find_duplicate_clusters(
    texts: Sequence[str],
    *,
    num_hashes: int,
    num_bands: int,
    ngrams: int,
    jaccard_threshold: float,
    seed: int = 0,
) -> DuplicateClusters:
    """Cluster near-duplicate documents held in memory and pick the seeded survivor of each cluster."""
    _check_params(num_hashes, num_bands, jaccard_threshold)
    hashes = [shingle_hashes(normalize_for_dedup(t), ngrams, seed) for t in texts]
    signatures = [_signature_from_hashes(h, num_hashes, seed) if h.size else None for h in hashes]
    return cluster_duplicates(
        signatures,
        lambda needed: {i: set(hashes[i].tolist()) for i in needed},
        num_bands=num_bands,
        jaccard_threshold=jaccard_threshold,
        seed=seed,
    )


@dataclass(frozen=True)
class MinhashReport:
    num_docs: int
    num_kept: int
    num_candidate_pairs: int
    num_duplicate_pairs: int
    cluster_sizes: list[int]


def minhash_deduplication(
    input_files: list[os.PathLike],
    num_hashes: int,
    num_bands: int,
    ngrams: int,
    jaccard_threshold: float,
    output_directory: os.PathLike,
    *,
    seed: int = 0,
) -> MinhashReport:
    """Copy one survivor per near-duplicate cluster (and every singleton) byte-for-byte to `output_directory`."""
    paths = [Path(p) for p in input_files]
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise InputFormatError(f"inputs must have distinct basenames, got duplicates among {names}")
    texts = []
    for path in paths:
        if not path.is_file():
            raise InputFormatError(f"input {path} is not a file")
        texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    result = find_duplicate_clusters(
        texts,
        num_hashes=num_hashes,
        num_bands=num_bands,
        ngrams=ngrams,
        jaccard_threshold=jaccard_threshold,
        seed=seed,
    )
    out_dir = Path(output_directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i in result.survivors:
        shutil.copyfile(paths[i], out_dir / paths[i].name)
    return MinhashReport(
        num_docs=len(paths),
        num_kept=len(result.survivors),
        num_candidate_pairs=result.num_candidate_pairs,
        num_duplicate_pairs=len(result.duplicate_pairs),
        cluster_sizes=[len(c) for c in result.clusters],
    )
