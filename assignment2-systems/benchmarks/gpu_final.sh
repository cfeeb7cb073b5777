#!/usr/bin/env bash
# GPU call 2: GPU tests, key attention shapes (incl. the leaderboard cell: causal, batch 1, 16 heads, d 64,
# seq 16384, bf16) and the end-to-end model table.  bash assignment2-systems/benchmarks/gpu_final.sh "$OUT"
set -u
OUT=${1:-/tmp/out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/assignment1-basics:$PWD/assignment2-systems
cd assignment2-systems
timeout 150 python3 -m pytest tests/unit/test_flash_attention.py -q -p no:cacheprovider 2>&1 | tail -8 > "$OUT/gpu_tests.txt"
cat "$OUT/gpu_tests.txt"
timeout 150 python3 -m cs336_systems bench-attention --impls triton sdpa_cudnn sdpa_flash --batch 1 --heads 16 \
  --head-dims 64 128 --seq-lens 4096 8192 16384 --causal --dtype bf16 --out "$OUT/key" 2>&1 | grep -v '^{' | tail -16
timeout 260 python3 benchmarks/model_table.py "$OUT/model" 2>&1 | grep -v '^{' | tail -25
