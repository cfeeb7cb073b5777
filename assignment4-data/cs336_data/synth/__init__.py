"""Synthetic WARC/WET crawls with known ground truth, for tests, demos and benchmarks."""

from cs336_data.synth.crawl import SynthConfig, generate_crawl

__all__ = ["SynthConfig", "generate_crawl"]
