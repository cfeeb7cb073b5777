"""BPE training: ours (`cs336_basics.bpe.train_bpe`) vs Hugging Face `tokenizers` (BpeTrainer + ByteLevel).

    cd assignment1-basics && uv run python -m benchmarks.bench_bpe                 # 10 MB and 100 MB, vocab 10k
    cd assignment1-basics && uv run python -m benchmarks.bench_bpe --copies 1 --repeats 3 --out bench_bpe.json

Corpus: shared/data/corpora/english-docs.txt.gz decompressed (~10 MB, 597 documents each followed by a
`<|endoftext|>` line), and the same file concatenated `--copies` times (~100 MB). Both trainers get the same vocab
size and the special token `<|endoftext|>`, and use all cores (ours: one pre-tokenization process per core; HF:
its Rayon thread pool).

Protocol: each training runs in a fresh subprocess (so peak memory is that run's alone); wall time is measured
inside the subprocess around the training call only (imports and interpreter start excluded); peak RSS is the
largest sum of RSS over the subprocess and all its descendants, sampled every 20 ms with psutil (forked workers'
shared pages are counted once per process, so this overestimates ours slightly). Ratios: `speedup = HF time /
our time` (> 1: ours faster), `RSS ratio = ours / HF` (< 1: ours smaller). The two vocabularies are
compared: the share of HF's learned tokens that we also learn is reported as a sanity check (the trainers differ
in tie-breaking and HF does not strip the special token from the text, so 100 % is not expected).
The machine is shared; repeat with `--repeats` and read the ratios, which come from the same run.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from benchmarks._tokbench import EOT, collect_env, english_docs, markdown_table, write_bench_json


def _train_ours(path: str, vocab_size: int) -> dict:
    from cs336_basics.bpe import train_bpe

    start = time.perf_counter()
    vocab, _ = train_bpe(path, vocab_size, [EOT], progress=False)
    time_s = time.perf_counter() - start
    return {"time_s": time_s, "vocab": sorted(t.hex() for i, t in vocab.items() if i > 256)}


def _train_hf(path: str, vocab_size: int) -> dict:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    start = time.perf_counter()
    tok.train([path], trainer)
    time_s = time.perf_counter() - start
    from cs336_basics.gpt2_format import str_to_token

    learned = [str_to_token(s, "hf") for s, i in tok.get_vocab().items() if s != EOT and len(s) > 1]
    return {"time_s": time_s, "vocab": sorted(t.hex() for t in learned)}


def _child(which: str, path: str, vocab_size: int, out: str) -> None:
    result = (_train_ours if which == "ours" else _train_hf)(path, vocab_size)
    Path(out).write_text(json.dumps(result))


def run_in_subprocess(which: str, path: Path, vocab_size: int) -> dict:
    """Train in a fresh interpreter; return its timing, vocab and the peak RSS of its process tree."""
    result_path = path.parent / f"result_{which}.json"
    cmd = [sys.executable, "-m", "benchmarks.bench_bpe", "--child", which, str(path), str(vocab_size), str(result_path)]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1])
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"error: {which} training failed with exit code {proc.returncode}")
    result = json.loads(result_path.read_text())
    result["peak_rss_mib"] = peak / 2**20
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=10_000)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10], help="corpus sizes, in copies of ~10 MB")
    parser.add_argument("--repeats", type=int, default=1, help="runs per trainer and size (median reported)")
    parser.add_argument("--out", default="bench_bpe.json")
    parser.add_argument("--child", nargs=4, metavar=("WHICH", "PATH", "VOCAB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]), args.child[3])
        return 0

    rows, records = [], []
    with tempfile.TemporaryDirectory(prefix="bench_bpe_") as tmp:
        for copies in args.copies:
            path = english_docs(Path(tmp), copies)
            size_mb = path.stat().st_size / 1e6
            runs = {"ours": [], "hf": []}
            for _ in range(args.repeats):
                for which in ("hf", "ours"):
                    runs[which].append(run_in_subprocess(which, path, args.vocab_size))
            ours_vocab, hf_vocab = set(runs["ours"][0]["vocab"]), set(runs["hf"][0]["vocab"])
            overlap = len(ours_vocab & hf_vocab) / max(len(hf_vocab), 1)
            med = {w: statistics.median(r["time_s"] for r in runs[w]) for w in runs}
            rss = {w: max(r["peak_rss_mib"] for r in runs[w]) for w in runs}
            record = {
                "corpus_mb": round(size_mb, 1),
                "vocab_size": args.vocab_size,
                "ours_time_s": [round(r["time_s"], 2) for r in runs["ours"]],
                "hf_time_s": [round(r["time_s"], 2) for r in runs["hf"]],
                "ours_peak_rss_mib": round(rss["ours"]),
                "hf_peak_rss_mib": round(rss["hf"]),
                "speedup": round(med["hf"] / med["ours"], 3),
                "rss_ratio": round(rss["ours"] / rss["hf"], 3),
                "vocab_overlap": round(overlap, 3),
            }
            records.append(record)
            rows.append(
                [
                    f"{size_mb:.0f}",
                    args.vocab_size,
                    f"{med['hf']:.2f}",
                    f"{med['ours']:.2f}",
                    f"{record['speedup']:.2f}×",
                    f"{rss['hf']:.0f}",
                    f"{rss['ours']:.0f}",
                    f"{record['rss_ratio']:.2f}",
                    f"{overlap:.1%}",
                ]
            )
            print(json.dumps(record), flush=True)
    header = [
        "corpus MB",
        "vocab",
        "HF tokenizers s",
        "ours s",
        "speedup",
        "HF peak RSS MiB",
        "ours peak RSS MiB",
        "RSS ratio",
        "HF tokens also ours",
    ]
    table = markdown_table(header, rows)
    print(table)
    env = collect_env()
    write_bench_json(args.out, {"benchmark": "bpe_training", "env": env, "rows": records, "protocol": __doc__})
    print(f"hardware: {env['cpu']} x{env['cpu_count']}; date {env['date_utc']}; commit {env['commit']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
