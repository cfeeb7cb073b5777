"""Documents per second per core for each filtering stage and for the whole per-document pipeline, on WET input.

    OMP_NUM_THREADS=1 uv run python benchmarks/bench_stages.py --out-dir runs/bench   # needs ../shared/data

Input: a synthetic crawl (`cs336_data.synth`, same mix as the tests, 6 WET files x 50 documents) read back from its
WET files. One process, one thread: the numbers are docs/s per core. Each stage is timed on every document (no
early exit, so each stage sees the whole mix); "whole pipeline" runs langid + Gopher + harmful + quality + PII on
every document, which is the worst case of the real early-exit chain (also reported). Baselines are the packages'
public APIs where we call something lower level: fastText's `model.predict` (langid, quality) and
`profanity_check.predict_prob` (harmful). Correctness first: each candidate's decision must equal the baseline's on
every document or the row is marked FAIL.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from common import best_time_s, env_record, markdown_table, write_bench_json  # noqa: E402

from cs336_data.config import load_config  # noqa: E402
from cs336_data.pipeline.stages import Doc, build_stages  # noqa: E402
from cs336_data.warc import iter_wet_documents  # noqa: E402

TARGET_PIPELINE_DOCS_PER_S = 300


def prepare(shared: Path, work: Path) -> tuple[list[Doc], Path]:
    from cs336_data.quality import build_training_set, prose_documents, read_eot_corpus, train_quality_classifier
    from cs336_data.synth import SynthConfig, generate_crawl

    cfg = SynthConfig(
        english_corpus=str(shared / "corpora" / "english-docs.txt.gz"),
        multilingual_dir=str(shared / "corpora" / "multilingual"),
        num_files=6,
        docs_per_file=50,
        seed=1,
        include_bad_records=False,
        include_truncated_file=False,
    )
    generate_crawl(cfg, work / "synth")
    positives = prose_documents(read_eot_corpus(shared / "corpora" / "english-docs.txt.gz"))
    report = build_training_set(positives, None, work / "train.txt")
    model = train_quality_classifier(report.path, work / "quality.bin")
    docs = [
        Doc(d.url, d.record_id, str(p), d.text)
        for p in sorted((work / "synth" / "wet").iterdir())
        for d in iter_wet_documents(p)
    ]
    return docs, model, sorted((work / "synth" / "wet").iterdir())


def baseline_fns(stages: dict) -> dict:
    """Package-API equivalents of our lower-level calls, with the same decision rule."""
    from profanity_check import predict_prob

    lid = stages["langid"].model.model
    quality = stages["quality"].model
    harmful = stages["harmful"]

    def langid(doc):
        labels, probs = lid.predict(" ".join(doc.text.split("\n")))
        return labels[0] == "__label__en" and min(1.0, float(probs[0])) >= stages["langid"].threshold

    def quality_fn(doc):
        text = " ".join(" ".join(doc.text.split()[: quality.max_words]).split("\n"))
        labels, probs = quality.model.predict(text, k=2)
        p = dict(zip(labels, probs)).get("__label__wiki", 0.0)
        return min(1.0, float(p)) >= stages["quality"].threshold

    def harmful_fn(doc):
        p = float(predict_prob([doc.text.replace("\n", " ").strip()])[0])
        return not (p > harmful.nsfw_threshold or p > harmful.toxic_threshold)

    return {
        "langid": ("fasttext model.predict", langid),
        "quality": ("fasttext model.predict", quality_fn),
        "harmful": ("profanity_check.predict_prob", harmful_fn),
    }


def run(out_dir: str) -> dict:
    from cs336_basics.testing import find_shared_data

    shared = find_shared_data(Path(__file__))
    if shared is None:
        raise SystemExit("error: ../shared/data is absent (the benchmark builds its crawl from it)")
    with tempfile.TemporaryDirectory() as tmp:
        docs, model, wet_files = prepare(shared, Path(tmp))
        cfg = load_config(None, [f'stages.quality_model="{model}"'])
        stages = {s.name: s for s in build_stages(cfg)}
        baselines = baseline_fns(stages)
        rows, records = [], []
        n = len(docs)

        def copies():
            return [Doc(d.url, d.id, d.source, d.text) for d in docs]

        for name, stage in stages.items():
            fresh = copies()
            ours = [stage(d) is not None for d in copies()]
            t = best_time_s(lambda stage=stage, fresh=fresh: [stage(d) for d in fresh])
            row = {"stage": name, "docs": n, "ours_docs_per_s": n / t}
            if name in baselines:
                label, fn = baselines[name]
                theirs = [fn(d) for d in copies()]
                ok = theirs == ours
                tb = best_time_s(lambda fn=fn: [fn(d) for d in docs])
                row.update(baseline=label, baseline_docs_per_s=n / tb, speedup=tb / t, correct=ok)
            records.append(row)

        chain = list(stages.values())

        def all_stages():
            for d in copies():
                for s in chain:
                    s(d)

        def early_exit():
            for d in copies():
                for s in chain:
                    if s(d) is None:
                        break

        def read_wet():
            return [d for p in wet_files for d in iter_wet_documents(p)]

        def read_and_all_stages():
            for d in read_wet():
                doc = Doc(d.url, d.record_id, "", d.text)
                for s in chain:
                    s(doc)

        t = best_time_s(read_wet)
        records.insert(0, {"stage": "read WET (gzip + FastWARC)", "docs": n, "ours_docs_per_s": n / t})
        for label, fn in (
            ("whole pipeline (every stage on every doc)", all_stages),
            ("WET read + whole pipeline", read_and_all_stages),
            ("early-exit chain", early_exit),
        ):
            t = best_time_s(fn)
            records.append(
                {"stage": label, "docs": n, "ours_docs_per_s": n / t, "target_docs_per_s": TARGET_PIPELINE_DOCS_PER_S}
            )

        for r in records:
            rows.append(
                [
                    r["stage"],
                    r["docs"],
                    f"{r['ours_docs_per_s']:.0f}",
                    r.get("baseline", r.get("target_docs_per_s", "—")),
                    f"{r['baseline_docs_per_s']:.0f}" if "baseline_docs_per_s" in r else "—",
                    f"{r['speedup']:.2f}×"
                    if "speedup" in r
                    else (
                        f"{r['ours_docs_per_s'] / r['target_docs_per_s']:.2f}× target"
                        if "target_docs_per_s" in r
                        else "—"
                    ),
                    {True: "ok", False: "FAIL"}.get(r.get("correct"), "—"),
                ]
            )
    table = markdown_table(["stage", "docs", "ours docs/s/core", "baseline", "baseline docs/s", "ratio", "check"], rows)
    print(table)
    env = env_record()
    print(f"\n{env['cpu']}, {env['date']}, commit {env['commit']}")
    write_bench_json(out_dir, "stages", {"rows": records, "protocol": __doc__.strip().splitlines()[0]})
    return {"rows": records}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default="runs/bench")
    run(parser.parse_args().out_dir)
