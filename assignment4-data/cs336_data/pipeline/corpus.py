"""Corpus-level stages of `cs336-data filter`: exact-line dedup, MinHash dedup, tokenisation.

They run after every per-file shard is finished, over `shards/*.jsonl.gz`, and write `final/*.jsonl.gz`.
Exact-line dedup is the two-pass algorithm of `dedup.exact` applied to the documents' lines (a document that loses
every line is dropped); MinHash dedup keeps one seeded survivor per near-duplicate cluster. Both hold per-document
state in memory (shingle sets for exact Jaccard verification), which bounds this step to corpora that fit in RAM.
"""

import gzip
import json
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from cs336_data.config import FilterConfig
from cs336_data.dedup.exact import duplicate_line_keys, filter_lines
from cs336_data.dedup.minhash import find_duplicate_clusters


def _read_shard(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _write_shard(path: Path, docs: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    tmp.rename(path)


def _lines(text: str) -> list[bytes]:
    return text.encode("utf-8").splitlines(keepends=True)


def run_corpus_dedup(config: FilterConfig, out_dir: Path, num_shards: int) -> dict:
    d = config.dedup
    counters: Counter = Counter()
    seconds: Counter = Counter()
    shards = [_read_shard(out_dir / "shards" / f"{i:05d}.jsonl.gz") for i in range(num_shards)]
    if d.exact_lines:
        start = time.perf_counter()
        all_lines = (line for docs in shards for doc in docs for line in _lines(doc["text"]))
        dups = duplicate_line_keys(all_lines, num_shards=d.num_shards, keep_blank_lines=d.keep_blank_lines)
        for docs in shards:
            kept_docs = []
            for doc in docs:
                lines = _lines(doc["text"])
                kept = filter_lines(lines, dups, d.keep_blank_lines)
                counters["exact_lines/lines_removed"] += len(lines) - len(kept)
                doc["text"] = b"".join(kept).decode("utf-8")
                if doc["text"].strip():
                    kept_docs.append(doc)
                    counters["exact_lines/kept"] += 1
                else:
                    counters["exact_lines/dropped"] += 1
            docs[:] = kept_docs
        seconds["exact_lines"] += time.perf_counter() - start
    if d.minhash:
        start = time.perf_counter()
        flat = [(i, doc) for i, docs in enumerate(shards) for doc in docs]
        result = find_duplicate_clusters(
            [doc["text"] for _, doc in flat],
            num_hashes=d.num_hashes,
            num_bands=d.num_bands,
            ngrams=d.ngrams,
            jaccard_threshold=d.jaccard_threshold,
            seed=config.run.seed,
        )
        keep = set(result.survivors)
        shards = [[] for _ in range(num_shards)]
        for idx, (i, doc) in enumerate(flat):
            if idx in keep:
                shards[i].append(doc)
        counters["minhash/kept"] += len(keep)
        counters["minhash/dropped"] += len(flat) - len(keep)
        counters["minhash/clusters"] += len(result.clusters)
        seconds["minhash"] += time.perf_counter() - start
    for i, docs in enumerate(shards):
        _write_shard(out_dir / "final" / f"{i:05d}.jsonl.gz", docs)
    counters["final_docs"] = sum(len(docs) for docs in shards)
    return {"counters": counters, "seconds": seconds}


def iter_final_texts(out_dir: Path, num_shards: int, progress: bool = False):
    for i in tqdm(range(num_shards), desc="tokenize", disable=not progress):
        for doc in _read_shard(out_dir / "final" / f"{i:05d}.jsonl.gz"):
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
