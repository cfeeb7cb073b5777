"""The `cs336-scaling` command line.

uv run cs336-scaling --help
"""

import argparse
import sys

from cs336_scaling.errors import ScalingError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cs336-scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="re-raise errors with their traceback")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except ScalingError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
