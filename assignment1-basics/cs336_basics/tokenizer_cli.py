"""Subcommands of `cs336-basics`: train-tokenizer, encode, decode."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the `cs336-basics` parser."""
