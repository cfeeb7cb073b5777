"""The `cs336-basics` command line.

    uv run cs336-basics --help
    uv run cs336-basics train-tokenizer --help
    uv run cs336-basics train --help

Tokenizer commands live in `tokenizer_cli.py`, training and generation commands in `train_cli.py`; each module
exposes `register(subparsers)`, which adds its subcommands with a `handler` default.
"""

import argparse
import sys

from cs336_basics import tokenizer_cli, train_cli
from cs336_basics.errors import BasicsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cs336-basics", description="CS336 assignment 1: tokenizer and LM training.")
    parser.add_argument("--debug", action="store_true", help="re-raise errors with their traceback")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    tokenizer_cli.register(subparsers)
    train_cli.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except (BasicsError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
