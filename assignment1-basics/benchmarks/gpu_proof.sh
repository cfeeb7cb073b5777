#!/usr/bin/env bash
# The GPU proof (issue 3 §4), run from the repository root on a CUDA machine with torch (no uv needed):
#   bash assignment1-basics/benchmarks/gpu_proof.sh bench   # ours vs HF Llama fwd+bwd throughput, GPT-2-small MFU
#   bash assignment1-basics/benchmarks/gpu_proof.sh train   # 8-minute TinyStories-shaped run on english-docs
# Results go to $OUT (default ./gpu_proof_out): bench.json/bench.md, or the run's metrics, plots, samples, summary.
set -euo pipefail
export PYTHONPATH=assignment1-basics${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT=${OUT:-gpu_proof_out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
case "${1:-}" in
  bench)
    python3 assignment1-basics/benchmarks/bench_lm_throughput.py --compile --out "$OUT/bench.json" \
      | tee "$OUT/bench.md"
    ;;
  train)
    python3 -m cs336_basics train --config assignment1-basics/configs/gpu_proof_h100.toml --out-dir /tmp/runs \
      "${@:2}" 2>&1 | tee "$OUT/train.log"
    run=$(ls -d /tmp/runs/*/ | tail -1)
    cp "$run"/metrics.jsonl "$run"/summary.json "$run"/env.json "$run"/samples.jsonl "$OUT"/
    cp "$run"/plots/loss_vs_step.png "$run"/plots/loss_vs_time.png "$OUT"/
    ;;
  *) echo "usage: $0 bench|train [--set key=value ...]" >&2; exit 2 ;;
esac
