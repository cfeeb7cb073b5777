"""Corpus-level stages of `cs336-data filter`: exact-line dedup, MinHash dedup, tokenisation.

They run after every per-file shard is finished and stream the shards from disk, so memory holds only what the
algorithms need, never the documents:
- exact-line dedup: pass 1 counts line keys (in memory, or in on-disk key shards with `dedup.num_shards`), pass 2
  rewrites `shards/` into `lines/` without the duplicated lines (a document left empty is dropped);
- MinHash dedup: pass 1 keeps one signature per document (num_hashes x 4 bytes); the shingle sets are recomputed
  only for documents in a candidate pair (pass 2); pass 3 writes the survivors to `final/`.
Document order (shard, then position) is the global index used for the seeded survivor choice.
"""

import gzip
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from cs336_data.config import FilterConfig
from cs336_data.dedup.exact import duplicate_line_keys, filter_lines
from cs336_data.dedup.minhash import cluster_duplicates, document_shingle_set, document_signature


def iter_shard(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


class _ShardWriter:
    """Writes `<dir>/<shard>.jsonl.gz` through a temporary name, so a crash never leaves a half shard behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_suffix(".tmp")
        self.file = gzip.open(self.tmp, "wt", encoding="utf-8")

    def write(self, doc: dict) -> None:
        self.file.write(json.dumps(doc, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.file.close()
        self.tmp.rename(self.path)


def _shard_paths(folder: Path, num_shards: int) -> list[Path]:
    return [folder / f"{i:05d}.jsonl.gz" for i in range(num_shards)]


def _iter_corpus(folder: Path, num_shards: int) -> Iterator[tuple[int, dict]]:
    for i, path in enumerate(_shard_paths(folder, num_shards)):
        for doc in iter_shard(path):
            yield i, doc


def _lines(text: str) -> list[bytes]:
    return text.encode("utf-8").splitlines(keepends=True)


def _exact_lines(config: FilterConfig, src: Path, dst: Path, num_shards: int, counters: Counter) -> None:
    d = config.dedup
    all_lines = (line for _, doc in _iter_corpus(src, num_shards) for line in _lines(doc["text"]))
    dups = duplicate_line_keys(all_lines, num_shards=d.num_shards, keep_blank_lines=d.keep_blank_lines)
    dst.mkdir(parents=True, exist_ok=True)
    for src_path, dst_path in zip(_shard_paths(src, num_shards), _shard_paths(dst, num_shards)):
        writer = _ShardWriter(dst_path)
        for doc in iter_shard(src_path):
            lines = _lines(doc["text"])
            kept = filter_lines(lines, dups, d.keep_blank_lines)
            counters["exact_lines/lines_removed"] += len(lines) - len(kept)
            doc["text"] = b"".join(kept).decode("utf-8")
            if doc["text"].strip():
                writer.write(doc)
                counters["exact_lines/kept"] += 1
            else:
                counters["exact_lines/dropped"] += 1
        writer.close()


def _minhash(config: FilterConfig, src: Path, dst: Path, num_shards: int, counters: Counter) -> None:
    d, seed = config.dedup, config.run.seed
    signatures = [
        document_signature(doc["text"], num_hashes=d.num_hashes, ngrams=d.ngrams, seed=seed)
        for _, doc in _iter_corpus(src, num_shards)
    ]

    def shingle_sets_of(needed: set[int]) -> dict[int, set[int]]:
        return {
            idx: document_shingle_set(doc["text"], ngrams=d.ngrams, seed=seed)
            for idx, (_, doc) in enumerate(_iter_corpus(src, num_shards))
            if idx in needed
        }

    result = cluster_duplicates(
        signatures, shingle_sets_of, num_bands=d.num_bands, jaccard_threshold=d.jaccard_threshold, seed=seed
    )
    keep = set(result.survivors)
    writers = [_ShardWriter(p) for p in _shard_paths(dst, num_shards)]
    for idx, (shard, doc) in enumerate(_iter_corpus(src, num_shards)):
        if idx in keep:
            writers[shard].write(doc)
    for writer in writers:
        writer.close()
    counters["minhash/kept"] += len(keep)
    counters["minhash/dropped"] += len(signatures) - len(keep)
    counters["minhash/clusters"] += len(result.clusters)


def run_corpus_dedup(config: FilterConfig, out_dir: Path, num_shards: int) -> dict:
    counters: Counter = Counter()
    seconds: Counter = Counter()
    src = out_dir / "shards"
    if config.dedup.exact_lines:
        start = time.perf_counter()
        _exact_lines(config, src, out_dir / "lines", num_shards, counters)
        src = out_dir / "lines"
        seconds["exact_lines"] += time.perf_counter() - start
    final = out_dir / "final"
    final.mkdir(parents=True, exist_ok=True)
    if config.dedup.minhash:
        start = time.perf_counter()
        _minhash(config, src, final, num_shards, counters)
        seconds["minhash"] += time.perf_counter() - start
    else:
        for src_path, dst_path in zip(_shard_paths(src, num_shards), _shard_paths(final, num_shards)):
            shutil.copyfile(src_path, dst_path)
    counters["final_docs"] = sum(1 for _ in _iter_corpus(final, num_shards))
    return {"counters": counters, "seconds": seconds}


def iter_final_texts(out_dir: Path, num_shards: int, progress: bool = False) -> Iterator[str]:
    for path in tqdm(_shard_paths(out_dir / "final", num_shards), desc="tokenize", disable=not progress):
        for doc in iter_shard(path):
            yield doc["text"]


def run_tokenize(config: FilterConfig, out_dir: Path, num_shards: int) -> dict:
    from cs336_data.tokenization import a1_encoder, gpt2_encoder, tokenize_to_bin

    t = config.tokenize
    make = gpt2_encoder if t.tokenizer == "gpt2" else a1_encoder
    encode, eos_id = make(t.vocab_path, t.merges_path, t.eos_token)
    start = time.perf_counter()
    path = out_dir / "tokens.bin"
    num_tokens = tokenize_to_bin(iter_final_texts(out_dir, num_shards, config.run.progress), path, encode, eos_id)
    return {
        "path": str(path),
        "num_tokens": num_tokens,
        "eos_id": eos_id,
        "seconds": round(time.perf_counter() - start, 3),
    }
