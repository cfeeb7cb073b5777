"""Encoding throughput: our `Tokenizer` on GPT-2's files vs tiktoken's GPT-2 encoding, same text, same ids.

    cd assignment1-basics && uv run python -m benchmarks.bench_encode
    cd assignment1-basics && uv run python -m benchmarks.bench_encode --repeats 5 --out bench_encode.json

Text: shared/data/corpora/english-docs.txt.gz decompressed (~10 MB, `<|endoftext|>`-separated documents), with
`<|endoftext|>` as special token. tiktoken is built offline from shared/data/tokenizer (cache seeded as in
tests/conftest.py).

Protocol: correctness first: our ids must equal tiktoken's for the whole text (else the row is FAIL and not
timed). Then, per repeat:
- single process: `encode(text)` on a *fresh* tokenizer (cold pre-token cache, the fair case for one pass over
  new text) and a second pass on the same tokenizer (warm cache, the steady state when encoding a large corpus);
  tiktoken `encode(text, allowed_special={EOT})`;
- all cores: the text is cut at document boundaries into ~1 MB pieces; ours encodes them in a forked process
  pool (workers inherit a freshly loaded tokenizer with an empty cache; pool start-up and shipping the ids back
  as uint16 bytes are timed; file loading is not, as for tiktoken), tiktoken with
  `encode_batch(num_threads=cores)`.
MB/s = UTF-8 bytes / wall seconds; the best of `--repeats` is reported. `ratio = ours MB/s / tiktoken MB/s`
(> 1: ours faster). The machine is shared: compare the ratios, which come from the same run.
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from array import array
from multiprocessing import get_context
from pathlib import Path

from benchmarks._tokbench import EOT, collect_env, english_docs, markdown_table, shared_data, write_bench_json

from cs336_basics.pretokenize import find_chunk_boundaries, read_range
from cs336_basics.tokenizer import Tokenizer

_TIKTOKEN_FILES = {
    "6d1cbeee0f20b3d9449abfede4726ed8212e3aee": "merges",
    "6c7ea1a7e38e3a7f062df639a5b80947f075ffe6": "vocab",
}


def load_tiktoken_gpt2(cache_dir: Path):
    import tiktoken

    folder = shared_data() / "tokenizer"
    (cache_dir / "6d1cbeee0f20b3d9449abfede4726ed8212e3aee").write_bytes(
        b"#version: 0.2\n" + (folder / "gpt2_merges.txt").read_bytes()
    )
    shutil.copyfile(folder / "gpt2_vocab.json", cache_dir / "6c7ea1a7e38e3a7f062df639a5b80947f075ffe6")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return tiktoken.get_encoding("gpt2")


def _gpt2_paths() -> tuple[Path, Path]:
    folder = shared_data() / "tokenizer"
    return folder / "gpt2_vocab.json", folder / "gpt2_merges.txt"


_WORKER: Tokenizer | None = None  # set before the pool forks, so workers inherit it without re-loading files


def _encode_piece(piece: str) -> bytes:
    return array("H", _WORKER.encode(piece)).tobytes()  # uint16 ids, as `cs336-basics encode` writes them


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default="bench_encode.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_encode_") as tmp:
        path = english_docs(Path(tmp))
        text = path.read_bytes().decode("utf-8")
        bounds = find_chunk_boundaries(path, args.workers, [EOT], max_chunk_bytes=1 << 20)
        pieces = [read_range(path, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        cache = Path(tmp) / "tiktoken"
        cache.mkdir()
        enc = load_tiktoken_gpt2(cache)
    num_mb = len(text.encode("utf-8")) / 1e6

    expected = enc.encode(text, allowed_special={EOT})
    ours = Tokenizer.from_files(*_gpt2_paths(), special_tokens=[EOT])
    status = "ok" if ours.encode(text) == expected else "FAIL"
    best = {k: float("inf") for k in ("tt_1", "ours_cold", "ours_warm", "tt_all", "ours_all")}
    if status == "ok":
        ctx = get_context("fork")
        for _ in range(args.repeats):
            _, t = _timed(lambda: enc.encode(text, allowed_special={EOT}))
            best["tt_1"] = min(best["tt_1"], t)
            fresh = Tokenizer.from_files(*_gpt2_paths(), special_tokens=[EOT])
            ids, t = _timed(lambda fresh=fresh: fresh.encode(text))
            best["ours_cold"] = min(best["ours_cold"], t)
            ids_warm, t = _timed(lambda fresh=fresh: fresh.encode(text))
            best["ours_warm"] = min(best["ours_warm"], t)
            batch, t = _timed(lambda: enc.encode_batch(pieces, num_threads=args.workers, allowed_special={EOT}))
            best["tt_all"] = min(best["tt_all"], t)

            global _WORKER
            _WORKER = Tokenizer.from_files(*_gpt2_paths(), special_tokens=[EOT])  # fresh: cold caches

            def pool_encode():
                with ctx.Pool(args.workers) as pool:
                    return pool.map(_encode_piece, pieces, chunksize=1)

            parallel, t = _timed(pool_encode)
            best["ours_all"] = min(best["ours_all"], t)
            flat = array("H", b"".join(parallel)).tolist()
            flat_tt = [i for part in batch for i in part]
            if not (ids == ids_warm == expected == flat == flat_tt):
                status = "FAIL"
                break

    def mbps(key: str) -> float:
        return num_mb / best[key]

    rows, records = [], []
    for mode, ours_key, tt_key in [
        ("1 process, cold cache", "ours_cold", "tt_1"),
        ("1 process, warm cache", "ours_warm", "tt_1"),
        (f"{args.workers} processes / threads", "ours_all", "tt_all"),
    ]:
        if status != "ok":
            rows.append([mode, f"{num_mb:.1f}", "FAIL", "FAIL", "-"])
            continue
        ratio = mbps(ours_key) / mbps(tt_key)
        rows.append([mode, f"{num_mb:.1f}", f"{mbps(tt_key):.2f}", f"{mbps(ours_key):.2f}", f"{ratio:.2f}×"])
        records.append(
            {
                "mode": mode,
                "text_mb": round(num_mb, 2),
                "tiktoken_mb_s": round(mbps(tt_key), 3),
                "ours_mb_s": round(mbps(ours_key), 3),
                "ratio": round(ratio, 3),
                "num_tokens": len(expected),
                "ids_identical": True,
            }
        )
    table = markdown_table(["mode", "text MB", "tiktoken MB/s", "ours MB/s", "ours / tiktoken"], rows)
    print(table)
    env = collect_env()
    payload = {"benchmark": "encode_throughput", "status": status, "env": env, "rows": records, "protocol": __doc__}
    write_bench_json(args.out, payload)
    print(json.dumps(records))
    print(f"hardware: {env['cpu']} x{env['cpu_count']}; date {env['date_utc']}; commit {env['commit']}")
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
