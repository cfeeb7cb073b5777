"""Fuzzy document deduplication with MinHash + LSH (handout §3.2).

    cs336-data dedup-minhash --num-hashes 100 --num-bands 10 --ngrams 5 --threshold 0.8 --out-dir runs/mh docs/*.txt

1. Normalise: NFD -> drop combining marks -> lowercase -> Unicode punctuation (category P*) to spaces -> collapse
   whitespace. The same normalised text is used for the exact Jaccard check.
2. Shingles: the set of word n-grams (fewer than n words: one shingle of all words; no words: the empty set).
3. Signatures, vectorised: each shingle gets one 64-bit xxh3 hash x; hash function i is the multiply-add-shift
   h_i(x) = ((a_i x + b_i) mod 2^64) >> 32 with seeded odd a_i, so all k minima come from one NumPy min over a
   (shingles x k) matrix instead of k Python-level hash calls per shingle.
4. LSH: k = b * r; band j's key is the bytes of its r rows; documents sharing a key in any band are candidates.
   P(candidate | Jaccard s) = 1 - (1 - s^r)^b. Empty documents get no signature and are never bucketed.
5. Verification: exact Jaccard of the shingle sets; J >= threshold (equality counts) is a duplicate edge.
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
from collections.abc import Sequence
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


def normalize_for_dedup(text: str) -> str:
    """NFD -> no combining marks -> lowercase -> punctuation to spaces -> single spaces, stripped."""
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
    a = rng.integers(1, 2**63, size=num_hashes, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd multipliers
    b = rng.integers(0, 2**63, size=num_hashes, dtype=np.uint64)
    return a, b


def minhash_signature(shingles: set[str], num_hashes: int, seed: int = 0) -> np.ndarray | None:
    """uint32 signature of length `num_hashes`, or None for the empty set (never bucketed)."""
    if not shingles:
        return None
    a, b = _hash_params(num_hashes, seed)
    x = np.fromiter(
        (xxhash.xxh3_64_intdigest(s.encode(), seed) for s in shingles), dtype=np.uint64, count=len(shingles)
    )
    hashed = (x[:, None] * a[None, :] + b[None, :]) >> HASH_SHIFT  # uint64 arithmetic wraps mod 2^64
    return hashed.min(axis=0).astype(np.uint32)


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


def jaccard(a: set[str], b: set[str]) -> float:
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


def find_duplicate_clusters(
    texts: Sequence[str],
    *,
    num_hashes: int,
    num_bands: int,
    ngrams: int,
    jaccard_threshold: float,
    seed: int = 0,
) -> DuplicateClusters:
    """Cluster near-duplicate documents and pick the seeded survivor of each cluster."""
    if num_bands < 1 or num_hashes % num_bands:
        raise ConfigError(f"num_hashes ({num_hashes}) must be a positive multiple of num_bands ({num_bands})")
    if not 0.0 <= jaccard_threshold <= 1.0:
        raise ConfigError(f"jaccard_threshold must be in [0, 1], got {jaccard_threshold}")
    shingle_sets = [word_ngrams(normalize_for_dedup(t), ngrams) for t in texts]
    signatures = [minhash_signature(s, num_hashes, seed) for s in shingle_sets]
    candidates = lsh_candidate_pairs(signatures, num_bands)
    verified = {(i, j) for i, j in candidates if jaccard(shingle_sets[i], shingle_sets[j]) >= jaccard_threshold}
    empty = [i for i, s in enumerate(shingle_sets) if not s]
    verified.update((empty[0], j) for j in empty[1:])
    uf = UnionFind(len(texts))
    for i, j in verified:
        uf.union(i, j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(texts)):
        groups[uf.find(i)].append(i)
    clusters = sorted((members for members in groups.values() if len(members) > 1), key=lambda m: m[0])
    rng = random.Random(seed)
    removed = set()
    for members in clusters:
        keep = rng.choice(members)
        removed.update(m for m in members if m != keep)
    survivors = [i for i in range(len(texts)) if i not in removed]
    return DuplicateClusters(clusters, verified, len(candidates), survivors)


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
