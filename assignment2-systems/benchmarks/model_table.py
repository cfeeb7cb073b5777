"""End-to-end table in one process (so Triton autotuning and compilation happen once), JSON lines + markdown.

PYTHONPATH=assignment1-basics:assignment2-systems python3 assignment2-systems/benchmarks/model_table.py OUT_DIR
"""

import json
import sys
from pathlib import Path

from cs336_systems.bench_model import ModelBenchConfig, markdown_from_rows, run_model_bench
from cs336_systems.cli import run_meta

RUNS = [
    dict(size=size, attention=attn)
    for size in ("small", "medium", "large", "xl")
    for attn in ("naive", "sdpa", "flash_triton")
] + [
    dict(size="large", attention="flash_triton", checkpoint_every=6),
    dict(size="large", attention="flash_triton", checkpoint_every=6, checkpoint_nested=True),
    dict(size="small", attention="flash_triton", mode="train_step"),
    dict(size="small", attention="flash_triton", mode="forward"),
]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/model_table")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in RUNS:
        kwargs = dict(mode="forward_backward", autocast="bf16", device="cuda") | run
        row = run_model_bench(ModelBenchConfig(**kwargs))
        row["meta"] = run_meta()
        print(json.dumps(row), flush=True)
        rows.append(row)
        with open(out / "model_table.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
    (out / "model_table.md").write_text(markdown_from_rows(rows) + "\n")
    print(markdown_from_rows(rows))


if __name__ == "__main__":
    main()
