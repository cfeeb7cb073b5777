"""Exact-line and MinHash/LSH fuzzy deduplication."""

from cs336_data.dedup.exact import ExactDedupReport, exact_line_deduplication
from cs336_data.dedup.minhash import MinhashReport, minhash_deduplication

__all__ = ["ExactDedupReport", "MinhashReport", "exact_line_deduplication", "minhash_deduplication"]
