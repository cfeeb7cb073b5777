"""The filtering pipeline: per-file stages in parallel, then corpus-level dedup and tokenisation."""

from cs336_data.pipeline.runner import run_filter

__all__ = ["run_filter"]
