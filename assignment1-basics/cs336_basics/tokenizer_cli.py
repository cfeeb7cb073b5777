"""Subcommands of `cs336-basics`: train-tokenizer (alias train-bpe), encode, decode.

    uv run cs336-basics train-tokenizer corpus.txt --vocab-size 10000 --out-dir runs/tok
    uv run cs336-basics encode corpus.txt --tokenizer-dir runs/tok --output corpus.npy
    uv run cs336-basics decode corpus.npy --tokenizer-dir runs/tok --output corpus.decoded.txt

`encode` writes a uint16 `.npy` (load it with `np.load(path, mmap_mode="r")`); special tokens such as
`<|endoftext|>` are kept as their ids. It splits the file at document boundaries and encodes the pieces in
parallel worker processes; the output equals `Tokenizer.encode(whole_file)`.
"""

import argparse
import codecs
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import numpy as np

from cs336_basics.bpe import train_bpe
from cs336_basics.errors import ConfigError, InputFileError
from cs336_basics.pretokenize import check_readable, find_chunk_boundaries, read_range
from cs336_basics.tokenizer import Tokenizer

DEFAULT_SPECIAL = "<|endoftext|>"
UINT16_LIMIT = 1 << 16
_ENCODE_CHUNK_BYTES = 4 << 20  # one worker job; small enough for a smooth progress bar and bounded memory
_DECODE_BLOCK = 1 << 20  # token ids per decode step


def _peak_rss_mib() -> float:
    """Peak resident memory of this process and of its (finished) children, in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _tokenizer_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.vocab is not None and args.merges is not None:
        return Path(args.vocab), Path(args.merges)
    if args.tokenizer_dir is None:
        raise ConfigError("give --tokenizer-dir DIR (with vocab.json and merges.txt) or both --vocab and --merges")
    root = Path(args.tokenizer_dir)
    return Path(args.vocab or root / "vocab.json"), Path(args.merges or root / "merges.txt")


def _add_tokenizer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer-dir", help="folder with vocab.json and merges.txt (as written by train-tokenizer)")
    p.add_argument("--vocab", help="vocab JSON (GPT-2 format); overrides --tokenizer-dir")
    p.add_argument("--merges", help="merges TXT (GPT-2 format); overrides --tokenizer-dir")
    p.add_argument(
        "--special-token",
        action="append",
        dest="special_tokens",
        help=f"special token (repeatable; default {DEFAULT_SPECIAL})",
    )


def _specials(args: argparse.Namespace) -> list[str]:
    return args.special_tokens if args.special_tokens is not None else [DEFAULT_SPECIAL]


# ---- train-tokenizer ----------------------------------------------------------------------------------------
def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    specials = [] if args.no_special else _specials(args)
    start = time.perf_counter()
    vocab, merges = train_bpe(
        args.input, args.vocab_size, specials, num_workers=args.num_workers, progress=not args.no_progress
    )
    time_s = time.perf_counter() - start
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    Tokenizer(vocab, merges, specials).save(out_dir / "vocab.json", out_dir / "merges.txt")
    longest = max((t for i, t in vocab.items() if i >= 256 + len(specials)), key=len, default=b"")
    stats = {
        "input": str(args.input),
        "input_bytes": os.path.getsize(args.input),
        "vocab_size": len(vocab),
        "num_merges": len(merges),
        "special_tokens": specials,
        "time_s": round(time_s, 3),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "longest_token": longest.decode("utf-8", errors="replace"),
        "longest_token_bytes": len(longest),
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"trained {len(merges)} merges (vocab {len(vocab)}) on {stats['input_bytes'] / 1e6:.1f} MB in {time_s:.2f} s; "
        f"peak RSS {stats['peak_rss_mib']:.0f} MiB; longest token {len(longest)} bytes: {stats['longest_token']!r}"
    )
    print(f"wrote {out_dir / 'vocab.json'}, {out_dir / 'merges.txt'}, {out_dir / 'stats.json'}")
    return 0


# ---- encode ---------------------------------------------------------------------------------------------------
_WORKER_TOKENIZER: Tokenizer | None = None


def _init_worker(vocab_path: str, merges_path: str, specials: list[str]) -> None:
    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = Tokenizer.from_files(vocab_path, merges_path, specials)


def _encode_range(job: tuple[str, int, int]) -> tuple[bytes, int]:
    path, start, end = job
    assert _WORKER_TOKENIZER is not None
    ids = _WORKER_TOKENIZER.encode(read_range(path, start, end))
    return np.asarray(ids, dtype=np.uint16).tobytes(), end - start


def cmd_encode(args: argparse.Namespace) -> int:
    path = check_readable(args.input)
    vocab_path, merges_path = _tokenizer_paths(args)
    specials = _specials(args)
    tok = Tokenizer.from_files(vocab_path, merges_path, specials)
    if max(tok.vocab) >= UINT16_LIMIT:
        raise ConfigError(f"vocab has ids up to {max(tok.vocab)}, which do not fit uint16 (max {UINT16_LIMIT - 1})")
    num_workers = args.num_workers or os.cpu_count() or 1
    bounds = find_chunk_boundaries(path, num_workers, specials, _ENCODE_CHUNK_BYTES)
    jobs = [(str(path), a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    start = time.perf_counter()
    num_tokens = 0
    with tempfile.NamedTemporaryFile(dir=output.parent, suffix=".ids.tmp", delete=False) as raw:
        try:
            with tqdm(total=bounds[-1], unit="B", unit_scale=True, desc="encode", disable=args.no_progress) as bar:
                for data, num_bytes in _map_jobs(jobs, num_workers, tok, str(vocab_path), str(merges_path), specials):
                    raw.write(data)
                    num_tokens += len(data) // 2
                    bar.update(num_bytes)
            raw.flush()
            _raw_to_npy(raw.name, output, num_tokens)
        finally:
            os.unlink(raw.name)
    time_s = time.perf_counter() - start
    num_bytes = bounds[-1]
    print(
        f"encoded {num_bytes / 1e6:.2f} MB into {num_tokens:,} tokens "
        f"({num_bytes / max(num_tokens, 1):.3f} bytes/token) "
        f"in {time_s:.2f} s ({num_bytes / 1e6 / max(time_s, 1e-9):.2f} MB/s, {num_workers} workers) -> {output}"
    )
    return 0


def _map_jobs(jobs: list, num_workers: int, tok: Tokenizer, vocab_path: str, merges_path: str, specials: list[str]):
    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = tok  # forked workers inherit it; spawned ones re-load the files in the initializer
    if num_workers <= 1 or len(jobs) <= 1:
        yield from map(_encode_range, jobs)
        return
    if "fork" in get_all_start_methods():
        pool = get_context("fork").Pool(min(num_workers, len(jobs)))
    else:
        init = (vocab_path, merges_path, specials)
        pool = get_context("spawn").Pool(min(num_workers, len(jobs)), initializer=_init_worker, initargs=init)
    with pool:
        yield from pool.imap(_encode_range, jobs)  # ordered: ids must come out in file order


def _raw_to_npy(raw_path: str, output: Path, num_tokens: int) -> None:
    """Wrap raw little-endian uint16 ids into a `.npy` file (header + data) without loading them in memory."""
    array = np.lib.format.open_memmap(output, mode="w+", dtype=np.uint16, shape=(num_tokens,))
    offset = array.offset
    del array
    with open(raw_path, "rb") as src, open(output, "r+b") as dst:
        dst.seek(offset)
        shutil.copyfileobj(src, dst, 16 << 20)


# ---- decode ---------------------------------------------------------------------------------------------------
def cmd_decode(args: argparse.Namespace) -> int:
    path = check_readable(args.input)
    vocab_path, merges_path = _tokenizer_paths(args)
    tok = Tokenizer.from_files(vocab_path, merges_path, _specials(args))
    try:
        ids = np.load(path, mmap_mode="r")
    except ValueError as exc:
        raise InputFileError(f"{path} is not a .npy array of token ids: {exc}") from None
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ConfigError(f"{path} must hold a 1-D integer array of token ids, got {ids.dtype} with shape {ids.shape}")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # characters may straddle blocks
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        for i in range(0, len(ids), _DECODE_BLOCK):
            out.write(decoder.decode(tok.decode_bytes(ids[i : i + _DECODE_BLOCK])))
        out.write(decoder.decode(b"", final=True))
    finally:
        if args.output:
            out.close()
    return 0


# ---- registration ---------------------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the `cs336-basics` parser."""
    p = subparsers.add_parser(
        "train-tokenizer",
        aliases=["train-bpe"],
        help="train a byte-level BPE tokenizer on a UTF-8 text file",
        description="Train byte-level BPE; writes OUT_DIR/{vocab.json,merges.txt,stats.json}.",
        epilog="example: cs336-basics train-tokenizer corpus.txt --vocab-size 10000 --out-dir runs/tok",
    )
    p.add_argument("input", help="UTF-8 text file (documents separated by the special token)")
    p.add_argument("--vocab-size", type=int, default=10_000, help="bytes + specials + merges (default 10000)")
    p.add_argument("--out-dir", required=True, help="output folder")
    p.add_argument(
        "--special-token",
        action="append",
        dest="special_tokens",
        help=f"special token (repeatable; default {DEFAULT_SPECIAL})",
    )
    p.add_argument("--no-special", action="store_true", help="train without special tokens")
    p.add_argument("--num-workers", type=int, default=None, help="pre-tokenization processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(handler=cmd_train_tokenizer)

    p = subparsers.add_parser(
        "encode",
        help="encode a text file into a uint16 .npy of token ids",
        description="Encode UTF-8 text into a uint16 .npy (np.load(path, mmap_mode='r')), specials kept.",
        epilog="example: cs336-basics encode corpus.txt --tokenizer-dir runs/tok --output corpus.npy",
    )
    p.add_argument("input", help="UTF-8 text file")
    p.add_argument("--output", "-o", required=True, help="output .npy path")
    _add_tokenizer_args(p)
    p.add_argument("--num-workers", type=int, default=None, help="encoding processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=cmd_encode)

    p = subparsers.add_parser(
        "decode",
        help="decode a .npy of token ids back to text",
        description="Decode a .npy of token ids; invalid UTF-8 becomes U+FFFD.",
        epilog="example: cs336-basics decode corpus.npy --tokenizer-dir runs/tok --output corpus.txt",
    )
    p.add_argument("input", help=".npy file of token ids")
    p.add_argument("--output", "-o", help="output text file (default: stdout)")
    _add_tokenizer_args(p)
    p.set_defaults(handler=cmd_decode)
