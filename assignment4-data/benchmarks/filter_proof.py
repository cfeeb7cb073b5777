"""Proof that filtering helps: noisy crawl -> `cs336-data filter` -> the same A1 model trained on the filtered and
the unfiltered text for the same number of tokens -> held-out clean-English loss. See `cs336_data/proof.py` for the
protocol; `cs336-data proof ...` is the same command.

    # CPU, from assignment4-data/ (needs FastWARC/Resiliparse/fastText): writes ../.carry/a4proof/
    uv run python benchmarks/filter_proof.py build --work-dir runs/proof --carry-dir ../.carry/a4proof
    # GPU, from the repository root (only cs336_basics + torch + numpy needed there)
    PYTHONPATH=assignment1-basics:assignment4-data python3 assignment4-data/benchmarks/filter_proof.py train \
        --carry-dir .carry/a4proof --out-dir $OUT/proof --device cuda --epochs 1 4 --time-budget-s 300
    # anywhere with matplotlib
    uv run python benchmarks/filter_proof.py report --results R/results.json --out-dir benchmarks/reports/filter_proof
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # cs336_data without installing (GPU machine)

from cs336_data.proof import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
