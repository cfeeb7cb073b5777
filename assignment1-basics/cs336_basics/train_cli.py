"""Subcommands of `cs336-basics`: train, generate, download, plot.

    uv run cs336-basics train --config configs/offline_demo.toml
    uv run cs336-basics generate --model runs/<run> --prompt "Once upon a time" --max-new-tokens 100
    uv run cs336-basics download tinystories --out-dir data/
    uv run cs336-basics plot runs/<run>

Handlers only parse, build the config and call one library function (style guide §2.3).
"""

import argparse
import json
import logging
import os

from cs336_basics.config import PARALLEL_MODES
from cs336_basics.errors import BasicsError

_EXAMPLES = {
    "train": "examples:\n"
    "  cs336-basics train --config configs/debug_cpu.toml --set optim.lr=3e-3 --device cpu\n"
    "  torchrun --nproc-per-node 2 -m cs336_basics train --config configs/debug_cpu.toml --parallel ddp",
    "generate": 'example: cs336-basics generate --model runs/<run> --prompt "Once upon a time" --temperature 0.8',
    "download": "example: cs336-basics download tinystories --out-dir data/",
    "plot": "example: cs336-basics plot runs/<run>",
}


def _parser(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=_EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _setup_logging() -> None:
    # Under torchrun only rank 0 reports progress; the other ranks log warnings and errors.
    rank = os.environ.get("RANK", "0")
    level = logging.INFO if rank == "0" else logging.WARNING
    logging.basicConfig(level=level, format=f"%(asctime)s %(levelname)s [rank {rank}] %(message)s", datefmt="%H:%M:%S")


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    p = _parser(subparsers, "train", "Train a Transformer LM from a TOML config (resumable).")
    p.add_argument("--config", help="TOML file with [model] [optim] [data] [corpus] [run] tables")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, value parsed as a TOML literal (repeatable), e.g. optim.lr=3e-4",
    )
    p.add_argument("--out-dir", help="parent of the run directory (run.out_dir)")
    p.add_argument("--seed", type=int, help="run.seed")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="run.device")
    p.add_argument("--max-wall-clock", type=float, metavar="SECONDS", help="run.max_wall_clock_s")
    p.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (WANDB_MODE=offline works)")
    p.add_argument(
        "--parallel",
        choices=list(PARALLEL_MODES),
        help="run.parallel: none = one process; ddp / fsdp = data parallel over the ranks torchrun starts "
        "(provided by cs336-systems)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR_OR_CKPT",
        help="continue from the latest checkpoint of a run dir (its saved config; --set still applies)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(handler=cmd_train)


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    pairs = [
        ("run.out_dir", args.out_dir),
        ("run.seed", args.seed),
        ("run.device", args.device),
        ("run.max_wall_clock_s", args.max_wall_clock),
        ("run.wandb", True if args.wandb else None),
        ("run.parallel", args.parallel),
    ]
    # json.dumps writes TOML-compatible literals for strings (quoted, escaped), numbers and booleans.
    return [f"{key}={json.dumps(value)}" for key, value in pairs if value is not None]


def cmd_train(args: argparse.Namespace) -> int:
    from cs336_basics.config import load_config
    from cs336_basics.train import train

    overrides = [*args.overrides, *_flag_overrides(args)]
    if args.resume:
        if args.config:
            raise BasicsError("--resume uses the checkpoint's own config; pass changes with --set, not --config")
        if args.dry_run:
            print(f"would resume from {args.resume} with overrides {overrides}")
            return 0
        _setup_logging()
        result = train(load_config(None), resume=args.resume, resume_overrides=overrides)
    else:
        cfg = load_config(args.config, overrides)
        if args.dry_run:
            print(cfg.to_json())
            return 0
        _setup_logging()
        result = train(cfg)
    if result.is_main:
        _print_result(result)
    return 130 if result.status == "interrupted" else 0


def _print_result(result) -> None:
    s = result.summary
    print(f"run: {result.run_dir}  status: {result.status}  step: {result.step}  eval/loss: {s.get('eval/loss'):.4f}")
    for row in s.get("samples", []):
        print(f"--- sample ({row['prompt']!r}) ---\n{row['prompt']}{row['completion']}")


def add_generate_parser(subparsers: argparse._SubParsersAction) -> None:
    p = _parser(subparsers, "generate", "Complete prompts with a trained model (until <|endoftext|> or max tokens).")
    p.add_argument("--model", required=True, help="run directory, or a save_pretrained directory")
    p.add_argument("--tokenizer-dir", help="vocab.json + merges.txt (default: <model>/tokenizer)")
    p.add_argument("--prompt", action="append", required=True, help="prompt text (repeat for a batch)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.set_defaults(handler=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from cs336_basics.model import TransformerLM
    from cs336_basics.sampling import generate_texts, load_tokenizer, resolve_model_dir
    from cs336_basics.train import select_device

    if args.max_new_tokens < 0 or args.temperature < 0 or (args.top_p is not None and not 0 < args.top_p <= 1):
        raise BasicsError("need --max-new-tokens >= 0, --temperature >= 0 and --top-p in (0, 1]")
    model_dir, tok_dir = resolve_model_dir(args.model)
    tok_dir = args.tokenizer_dir or tok_dir
    if tok_dir is None:
        raise BasicsError(f"no tokenizer next to {args.model}; pass --tokenizer-dir")
    model = TransformerLM.from_pretrained(model_dir).to(select_device(args.device))
    texts = generate_texts(
        model,
        load_tokenizer(tok_dir),
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
    )
    for prompt, text in zip(args.prompt, texts, strict=True):
        print(f"{prompt}{text}")
        if len(args.prompt) > 1:
            print("---")
    return 0


def add_download_parser(subparsers: argparse._SubParsersAction) -> None:
    p = _parser(subparsers, "download", "Fetch TinyStories or the OWT sample (needs internet).")
    p.add_argument("dataset", choices=["tinystories", "owt"])
    p.add_argument("--out-dir", default="data")
    p.set_defaults(handler=cmd_download)


def cmd_download(args: argparse.Namespace) -> int:
    from cs336_basics.download import download_dataset

    _setup_logging()
    for path in download_dataset(args.dataset, args.out_dir):
        print(path)
    return 0


def add_plot_parser(subparsers: argparse._SubParsersAction) -> None:
    p = _parser(subparsers, "plot", "Regenerate a run's loss-vs-step and loss-vs-wall-clock PNGs from metrics.jsonl.")
    p.add_argument("run_dir")
    p.set_defaults(handler=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    from cs336_basics.metrics import plot_run

    for path in plot_run(args.run_dir):
        print(path)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the `cs336-basics` parser."""
    add_train_parser(subparsers)
    add_generate_parser(subparsers)
    add_download_parser(subparsers)
    add_plot_parser(subparsers)
