"""Exact line deduplication (handout §3.1), two passes over the corpus.

    cs336-data dedup-exact --out-dir runs/dedup docs/*.txt

Pass 1 counts every line's 128-bit key (xxh3-128 of the line without its terminator: stable across processes,
unlike the salted built-in `hash`, and collisions are negligible). Pass 2 rewrites each file keeping the lines whose
key occurs exactly once in the whole corpus, with their original terminators (bytes in, bytes out, so CRLF and any
encoding survive). A line that occurs more than once anywhere is removed from every file: no copy is kept.

Two counters: in memory (a dict of keys, ~100 bytes per unique line) or, with `num_shards > 0`, sharded on disk for
corpora larger than RAM: keys are hash-partitioned into shard files of fixed 16-byte records, and each shard is
counted alone with `numpy.unique`; only the set of duplicated keys is kept in memory.
"""

import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from cs336_data.errors import ConfigError, InputFormatError

KEY_BYTES = 16


def line_body(line: bytes) -> bytes:
    """The line without its terminator, so that the last line of a file (no newline) hashes like any other."""
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith((b"\n", b"\r")):
        return line[:-1]
    return line


def line_key(line: bytes, hash_bytes: int = KEY_BYTES) -> bytes:
    return xxhash.xxh3_128_digest(line_body(line))[:hash_bytes]


def _is_blank(line: bytes) -> bool:
    return not line.strip()


def count_keys_in_memory(lines: Iterable[bytes], hash_bytes: int = KEY_BYTES) -> set[bytes]:
    """Keys of lines that occur more than once (in-memory counter)."""
    counts = Counter(line_key(line, hash_bytes) for line in lines)
    return {key for key, count in counts.items() if count > 1}


def count_keys_sharded(lines: Iterable[bytes], num_shards: int, tmp_dir: str | None = None) -> set[bytes]:
    """Keys of lines that occur more than once, counting one on-disk shard at a time."""
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix="exact-dedup-") as tmp:
        shard_files = [open(Path(tmp) / f"{i:05d}.keys", "wb") for i in range(num_shards)]
        try:
            for line in lines:
                key = line_key(line, KEY_BYTES)
                shard_files[key[0] % num_shards].write(key)
        finally:
            for f in shard_files:
                f.close()
        duplicates: set[bytes] = set()
        for i in range(num_shards):
            keys = np.fromfile(Path(tmp) / f"{i:05d}.keys", dtype=np.dtype((np.void, KEY_BYTES)))
            if keys.size == 0:
                continue
            unique, counts = np.unique(keys, return_counts=True)
            duplicates.update(k.tobytes() for k in unique[counts > 1])
        return duplicates


def duplicate_line_keys(
    lines: Iterable[bytes], *, num_shards: int = 0, keep_blank_lines: bool = False, tmp_dir: str | None = None
) -> set[bytes]:
    """Keys (16 bytes) of every line that occurs more than once; blank lines are skipped when they are kept anyway."""
    if num_shards < 0:
        raise ConfigError(f"num_shards must be >= 0, got {num_shards}")
    if keep_blank_lines:
        lines = (line for line in lines if not _is_blank(line))
    if num_shards == 0:
        return count_keys_in_memory(lines)
    return count_keys_sharded(lines, num_shards, tmp_dir)


def filter_lines(lines: Iterable[bytes], duplicates: set[bytes], keep_blank_lines: bool = False) -> list[bytes]:
    """Pass 2 on one document: the lines whose key is not in `duplicates`."""
    return [line for line in lines if (keep_blank_lines and _is_blank(line)) or line_key(line) not in duplicates]


@dataclass(frozen=True)
class ExactDedupReport:
    num_files: int
    num_lines_in: int
    num_lines_out: int
    num_duplicate_keys: int


def _check_basenames(paths: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in paths:
        if path.name in seen:
            raise InputFormatError(f"two inputs share the basename {path.name!r}: {seen[path.name]} and {path}")
        seen[path.name] = path


def _read_lines(path: Path) -> list[bytes]:
    with open(path, "rb") as f:
        return f.readlines()


def exact_line_deduplication(
    input_files: list[os.PathLike],
    output_directory: os.PathLike,
    *,
    num_shards: int = 0,
    keep_blank_lines: bool = False,
) -> ExactDedupReport:
    """Write each input to `output_directory/basename` without the lines that are duplicated in the corpus."""
    paths = [Path(p) for p in input_files]
    _check_basenames(paths)
    for path in paths:
        if not path.is_file():
            raise InputFormatError(f"input {path} is not a file")
    all_lines = (line for path in paths for line in _read_lines(path))
    duplicates = duplicate_line_keys(all_lines, num_shards=num_shards, keep_blank_lines=keep_blank_lines)
    out_dir = Path(output_directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_in = num_out = 0
    for path in paths:
        lines = _read_lines(path)
        kept = filter_lines(lines, duplicates, keep_blank_lines)
        (out_dir / path.name).write_bytes(b"".join(kept))
        num_in += len(lines)
        num_out += len(kept)
    return ExactDedupReport(len(paths), num_in, num_out, len(duplicates))
