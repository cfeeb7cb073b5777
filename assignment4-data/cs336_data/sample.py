"""Deterministic samples of pipeline output as Markdown, for the handout's "look at 20 random examples" questions.

    cs336-data sample runs/filter --n 20 --seed 0 --stage final --out runs/filter/samples.md

`--stage final` samples the documents that survived everything; `--stage shards` those that passed the per-file
stages (before dedup). Each sample shows its provenance (source file, url, record id) and every recorded score.
"""

import gzip
import json
import random
from pathlib import Path

from cs336_data.errors import InputFormatError

PREVIEW_CHARS = 1500


def sample_documents(run_dir: str | Path, n: int, seed: int, stage: str = "final") -> list[dict]:
    folder = Path(run_dir) / stage
    files = sorted(folder.glob("*.jsonl.gz"))
    if not files:
        raise InputFormatError(f"no {stage}/*.jsonl.gz in {run_dir}; run `cs336-data filter` first")
    docs = []
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            docs.extend(json.loads(line) for line in f)
    return random.Random(seed).sample(docs, min(n, len(docs)))


def samples_to_markdown(docs: list[dict], title: str) -> str:
    parts = [f"# {title}", ""]
    for i, doc in enumerate(docs, 1):
        text = doc["text"][:PREVIEW_CHARS] + ("…" if len(doc["text"]) > PREVIEW_CHARS else "")
        parts += [
            f"## {i}. {doc['url']}",
            f"- source: `{doc['source']}`, id: `{doc['id']}`",
            f"- scores: `{json.dumps(doc['scores'], ensure_ascii=False)}`",
            "",
            "```text",
            text.replace("```", "'''"),
            "```",
            "",
        ]
    return "\n".join(parts)
