"""The `cs336-data` command line.

uv run cs336-data --help
uv run cs336-data synth --out-dir runs/synth && uv run cs336-data filter --out-dir runs/filter runs/synth/wet
"""

import argparse
import json
import os
import sys
from pathlib import Path

from cs336_data.errors import DataError, InputFormatError


def _read_text(path: str) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise InputFormatError(f"cannot read {path}: {exc}") from exc


def _print_rows(rows) -> None:
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


def _add_core(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. run.num_workers=4")
    p.add_argument("--out-dir", help="output directory")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")


def cmd_extract(args) -> int:
    from cs336_data.extract import extract_text_from_html_bytes
    from cs336_data.warc import iter_html_responses

    for path in args.files:
        if ".warc" in Path(path).name:
            for r in iter_html_responses(path):
                text = extract_text_from_html_bytes(r.body, r.http_charset, main_content=args.main_content)
                _print_rows([{"url": r.url, "text": text}])
        else:
            sys.stdout.write(
                extract_text_from_html_bytes(Path(path).read_bytes(), main_content=args.main_content) or ""
            )
    return 0


def cmd_langid(args) -> int:
    from cs336_data.langid import LanguageIdentifier

    model = LanguageIdentifier(args.model)
    _print_rows({"file": f, "top": model.predict(_read_text(f), k=args.k)} for f in args.files)
    return 0


def cmd_pii(args) -> int:
    from cs336_data.pii import mask_pii

    for f in args.files:
        text, counts = mask_pii(_read_text(f))
        _print_rows([{"file": f, "emails": counts.emails, "phone_numbers": counts.phone_numbers, "ips": counts.ips}])
        if args.print_text:
            sys.stdout.write(text)
    return 0


def cmd_harmful(args) -> int:
    from cs336_data.harmful import classify_nsfw, classify_toxic_speech

    _print_rows(
        {"file": f, "nsfw": classify_nsfw(t), "toxic": classify_toxic_speech(t)}
        for f in args.files
        for t in [_read_text(f)]
    )
    return 0


def cmd_gopher(args) -> int:
    from dataclasses import asdict

    from cs336_data.gopher import GopherConfig, gopher_reasons, gopher_stats

    cfg = GopherConfig(extended=args.extended)
    for f in args.files:
        text = _read_text(f)
        reasons = gopher_reasons(text, cfg)
        _print_rows([{"file": f, "keep": not reasons, "reasons": reasons, **asdict(gopher_stats(text))}])
    return 0


def cmd_train_quality(args) -> int:
    from cs336_data.quality.classifier import train_quality_classifier
    from cs336_data.quality.training_set import (
        build_training_set,
        prose_documents,
        read_eot_corpus,
        warc_positive_documents,
        wet_documents,
    )

    out = Path(args.out_dir or "runs/quality")
    if args.dry_run:
        print(json.dumps(vars(args), default=str, indent=2))
        return 0
    if args.positive_warcs:
        positives = warc_positive_documents(args.positive_warcs)
    else:
        positives = prose_documents(read_eot_corpus(args.positives))
    seed = args.seed or 0
    negatives = wet_documents(args.negative_wets, len(positives), seed) if args.negative_wets else None
    hold_out = [_read_text(f) for f in args.hold_out]
    report = build_training_set(positives, negatives, out / "train.txt", hold_out=hold_out, seed=seed)
    model = train_quality_classifier(report.path, out / "quality_classifier.bin", quantize=args.quantize, seed=seed)
    print(json.dumps({**vars(report), "model": str(model)}))
    return 0


def cmd_dedup_exact(args) -> int:
    from dataclasses import asdict

    from cs336_data.dedup.exact import exact_line_deduplication

    report = exact_line_deduplication(args.files, args.out_dir, num_shards=args.num_shards)
    print(json.dumps(asdict(report)), file=sys.stderr)  # never into the output directory
    return 0


def cmd_dedup_minhash(args) -> int:
    from dataclasses import asdict

    from cs336_data.dedup.minhash import minhash_deduplication

    report = minhash_deduplication(
        args.files, args.num_hashes, args.num_bands, args.ngrams, args.threshold, args.out_dir, seed=args.seed
    )
    print(json.dumps(asdict(report)), file=sys.stderr)
    return 0


def cmd_filter(args) -> int:
    from cs336_data.config import load_config
    from cs336_data.pipeline import run_filter

    cfg = load_config(args.config, args.set, inputs=args.inputs or None, out_dir=args.out_dir, seed=args.seed)
    if args.dry_run:
        print(cfg.to_json())
        return 0
    report = run_filter(cfg)
    print(json.dumps({k: report[k] for k in ("counters", "dropped_fraction_by_stage", "total_wall_s")}, indent=2))
    return 0


def cmd_tokenize(args) -> int:
    from cs336_data.pipeline.corpus import iter_shard
    from cs336_data.tokenization import a1_encoder, gpt2_encoder, tokenize_to_bin

    make = gpt2_encoder if args.tokenizer == "gpt2" else a1_encoder
    encode, eos_id = make(args.vocab, args.merges, args.eos_token)
    docs = (d["text"] for f in args.files for d in iter_shard(Path(f)))
    print(json.dumps({"num_tokens": tokenize_to_bin(docs, args.out, encode, eos_id), "out": args.out}))
    return 0


def cmd_synth(args) -> int:
    from cs336_data.synth import SynthConfig, generate_crawl

    cfg = SynthConfig(
        english_corpus=args.english_corpus,
        multilingual_dir=args.multilingual_dir,
        num_files=args.num_files,
        docs_per_file=args.docs_per_file,
        seed=args.seed or 0,
    )
    if args.dry_run:
        print(cfg)
        return 0
    print(json.dumps(generate_crawl(cfg, args.out_dir or "runs/synth")))
    return 0


def cmd_sample(args) -> int:
    from cs336_data.sample import sample_documents, samples_to_markdown

    docs = sample_documents(args.run_dir, args.n, args.seed, args.stage)
    markdown = samples_to_markdown(docs, f"{len(docs)} samples from {args.run_dir}/{args.stage} (seed {args.seed})")
    if args.out:
        Path(args.out).write_text(markdown, encoding="utf-8")
    else:
        print(markdown)
    return 0


def cmd_proof(args) -> int:
    from cs336_data.proof import run

    return run(args)


def cmd_download_models(args) -> int:
    from cs336_data.download import download_models

    for path in download_models(args.models, args.out_dir):
        print(path)
    return 0


SHARED = "../../shared/data"  # seen from assignment4-data/, where the commands are documented to run


def _shared(relative: str) -> str:
    """A path under the shared data folder: $CS336_SHARED_DATA, else the first shared/data above the cwd."""
    env = os.environ.get("CS336_SHARED_DATA")
    if env:
        return str(Path(env) / relative)
    for parent in [Path.cwd(), *Path.cwd().parents]:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return str(candidate / relative)
    return f"{SHARED}/{relative}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cs336-data", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="re-raise errors with their traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler, example: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, epilog=f"example: {example}")
        p.set_defaults(handler=handler)
        return p

    p = add("extract", cmd_extract, "cs336-data extract page.html", "HTML file or WARC -> text")
    p.add_argument("files", nargs="+")
    p.add_argument("--main-content", action="store_true")
    p = add("langid", cmd_langid, "cs336-data langid doc.txt", "language of text files")
    p.add_argument("files", nargs="+")
    p.add_argument("--model", help="fastText lid.176 file (default: resolved asset)")
    p.add_argument("-k", type=int, default=1)
    p = add("pii", cmd_pii, "cs336-data pii --print-text doc.txt", "mask emails, phone numbers, IPs")
    p.add_argument("files", nargs="+")
    p.add_argument("--print-text", action="store_true")
    p = add("harmful", cmd_harmful, "cs336-data harmful doc.txt", "NSFW and toxic-speech scores")
    p.add_argument("files", nargs="+")
    p = add("gopher", cmd_gopher, "cs336-data gopher --extended doc.txt", "Gopher quality rules")
    p.add_argument("files", nargs="+")
    p.add_argument("--extended", action="store_true", help="the full Gopher rule set")
    p = add(
        "train-quality",
        cmd_train_quality,
        f"cs336-data train-quality --positives {SHARED}/corpora/english-docs.txt.gz --out-dir runs/quality",
        "train the fastText quality classifier",
    )
    _add_core(p)
    p.add_argument("--positives", default=_shared("corpora/english-docs.txt.gz"), help="<|endoftext|> corpus")
    p.add_argument("--positive-warcs", nargs="*", default=[], help="WARCs of Wikipedia-referenced pages")
    p.add_argument("--negative-wets", nargs="*", default=[], help="WET files (default: generated boilerplate)")
    p.add_argument("--hold-out", nargs="*", default=[], help="evaluation pages that must not be trained on")
    p.add_argument("--quantize", action="store_true", help="write a quantised .ftz")
    p = add(
        "dedup-exact", cmd_dedup_exact, "cs336-data dedup-exact --out-dir runs/dedup docs/*.txt", "exact line dedup"
    )
    p.add_argument("files", nargs="+")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--num-shards", type=int, default=0, help="on-disk key shards (0: in memory)")
    p = add(
        "dedup-minhash",
        cmd_dedup_minhash,
        "cs336-data dedup-minhash --out-dir runs/mh docs/*.txt",
        "MinHash + LSH fuzzy document dedup",
    )
    p.add_argument("files", nargs="+")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--num-hashes", type=int, default=100)
    p.add_argument("--num-bands", type=int, default=10)
    p.add_argument("--ngrams", type=int, default=5)
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=0)
    p = add(
        "filter",
        cmd_filter,
        "cs336-data filter --config configs/debug_cpu.toml --out-dir runs/filter runs/synth/wet",
        "the whole pipeline over WARC/WET files",
    )
    _add_core(p)
    p.add_argument("inputs", nargs="*", help="WARC/WET files or directories (or run.inputs in the config)")
    p = add(
        "tokenize",
        cmd_tokenize,
        f"cs336-data tokenize --vocab {SHARED}/tokenizer/gpt2_vocab.json --merges {SHARED}/tokenizer/gpt2_merges.txt "
        "--out runs/tokens.bin runs/filter/final/*.jsonl.gz",
        "JSONL.gz documents -> uint16 token file",
    )
    p.add_argument("files", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--tokenizer", choices=["gpt2", "a1"], default="gpt2")
    p.add_argument("--vocab", required=True)
    p.add_argument("--merges", required=True)
    p.add_argument("--eos-token", default="<|endoftext|>")
    p = add("synth", cmd_synth, "cs336-data synth --out-dir runs/synth --num-files 5", "synthetic WARC/WET crawl")
    _add_core(p)
    p.add_argument("--english-corpus", default=_shared("corpora/english-docs.txt.gz"))
    p.add_argument("--multilingual-dir", default=_shared("corpora/multilingual"))
    p.add_argument("--num-files", type=int, default=5)
    p.add_argument("--docs-per-file", type=int, default=40)
    p = add("sample", cmd_sample, "cs336-data sample runs/filter --n 20 --seed 0", "random documents to Markdown")
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stage", choices=["final", "shards"], default="final")
    p.add_argument("--out", help="Markdown file (default: stdout)")
    p = add(
        "proof",
        cmd_proof,
        "cs336-data proof build --carry-dir ../.carry/a4proof",
        "filtered vs unfiltered LM training on a noisy crawl (issue section 4)",
    )
    from cs336_data.proof import add_arguments

    add_arguments(p)
    p = add("download-models", cmd_download_models, "cs336-data download-models", "fetch lid.176.bin, Dolma models")
    p.add_argument("--models", nargs="+", default=["lid", "nsfw", "toxic"], choices=["lid", "nsfw", "toxic"])
    p.add_argument("--out-dir", help="default: $CS336_DATA_ASSETS or cs336_data/assets")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except DataError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
