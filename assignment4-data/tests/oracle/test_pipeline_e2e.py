"""End-to-end: the synthetic crawl through `run_filter`, asserting exact per-stage counts from its ground truth."""

import gzip
import json
import os
from collections import Counter

import numpy as np
import pytest

from cs336_data.config import load_config
from cs336_data.pipeline import run_filter

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]


def expected_counts(truth: list[dict]) -> Counter:
    fates = Counter(row["fate"] for row in truth)
    stages = ["langid", "gopher", "harmful", "quality"]
    out = Counter({"docs_in": len(truth)})
    remaining = len(truth)
    for stage in stages:
        out[f"{stage}/dropped"] = fates[stage]
        remaining -= fates[stage]
        out[f"{stage}/kept"] = remaining
    out["pii/kept"] = remaining
    out["docs_out"] = remaining
    out["minhash/dropped"] = fates["minhash"]
    out["final_docs"] = remaining - fates["minhash"]
    return out


def config_for(crawl_dir, out_dir, quality_model, shared_data, executor="local", extra=()):
    tok = shared_data / "tokenizer"
    return load_config(
        None,
        [
            f'stages.quality_model="{quality_model}"',
            f'run.executor="{executor}"',
            "run.progress=false",
            "tokenize.enable=true",
            f'tokenize.vocab_path="{tok / "gpt2_vocab.json"}"',
            f'tokenize.merges_path="{tok / "gpt2_merges.txt"}"',
            *extra,
        ],
        inputs=[str(crawl_dir / "wet")],
        out_dir=str(out_dir),
    )


def test_exact_stage_counts_and_outputs(synth_crawl, corpus_quality_model, shared_data, tmp_path):
    crawl_dir, truth = synth_crawl
    report = run_filter(config_for(crawl_dir, tmp_path / "run", corpus_quality_model, shared_data))
    counters = Counter(report["counters"])
    for key, value in expected_counts(truth).items():
        assert counters[key] == value, key
    # bad input: 3 bad records per file (empty, binary, non-UTF-8) and the truncated file
    assert counters["errors/empty"] == counters["errors/binary"] == counters["errors/undecodable"] == 3
    assert counters["errors/corrupt_stream"] == 1
    # the shared navigation/footer lines are removed by exact-line dedup, from every document
    assert counters["exact_lines/lines_removed"] >= 2 * sum(row["kind"] in ("good", "near_dup") for row in truth) - 2
    final = [json.loads(line) for p in sorted((tmp_path / "run" / "final").iterdir()) for line in gzip.open(p, "rt")]
    assert len(final) == counters["final_docs"]
    assert all("Sign in" not in d["text"] for d in final)
    pii_docs = [d for d in final if d["scores"]["pii"]["emails"]]
    assert len(pii_docs) == sum(row["kind"] == "pii" for row in truth)
    # exact PII counts per document: no false negatives on the planted items, no false positives on the look-alikes
    # or on any other kept document
    by_url = {row["url"]: row for row in truth}
    for d in final:
        assert d["scores"]["pii"] == by_url[d["url"]].get("pii", {"emails": 0, "phone_numbers": 0, "ips": 0})
    assert all("ISBN 978-0-306-40615-7" in d["text"] and "v3.10.0.1" in d["text"] for d in pii_docs)
    tokens = np.memmap(tmp_path / "run" / "tokens.bin", dtype=np.uint16, mode="r")
    assert int((tokens == 50256).sum()) == len(final) == report["tokens"]["num_tokens"] - int((tokens != 50256).sum())
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert abs(sum(stats["dropped_fraction_by_stage"].values()) - 1.0) < 1e-3
    assert stats["models"]["lid"]["sha256"]


def test_resume_skips_finished_shards(synth_crawl, corpus_quality_model, shared_data, tmp_path):
    crawl_dir, _ = synth_crawl
    cfg = config_for(crawl_dir, tmp_path / "run", corpus_quality_model, shared_data, extra=["tokenize.enable=false"])
    first = run_filter(cfg)
    os.remove(tmp_path / "run" / "completions" / "00001")  # as if the worker for shard 1 had crashed
    second = run_filter(cfg)
    assert second["num_shards_resumed"] == first["num_input_files"] - 1
    assert second["counters"] == first["counters"]


def test_submitit_local_executor_gives_same_counts(synth_crawl, corpus_quality_model, shared_data, tmp_path):
    pytest.importorskip("submitit")
    crawl_dir, truth = synth_crawl
    cfg = config_for(
        crawl_dir, tmp_path / "run", corpus_quality_model, shared_data, "submitit-local", ["tokenize.enable=false"]
    )
    report = run_filter(cfg)
    assert report["counters"]["final_docs"] == expected_counts(truth)["final_docs"]


def test_warc_input_goes_through_extraction(synth_crawl, corpus_quality_model, shared_data, tmp_path):
    crawl_dir, truth = synth_crawl
    cfg = load_config(
        None,
        ["run.progress=false", "stages.gopher=false", "stages.harmful=false", "stages.quality=false",
         "dedup.minhash=false", "dedup.exact_lines=false"],
        inputs=[str(crawl_dir / "warc")],
        out_dir=str(tmp_path / "run"),
    )  # fmt: skip
    counters = run_filter(cfg)["counters"]
    # every HTML response (UTF-8, cp1252, Shift-JIS, UTF-16; with and without declared charsets) is extracted;
    # warcinfo/request records and the PNG response are skipped without counting as errors
    assert counters["docs_in"] == len(truth)
    assert not any(key.startswith("errors/") for key in counters)
    assert counters["langid/dropped"] == sum(row["fate"] == "langid" for row in truth)
