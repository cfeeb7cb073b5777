#!/usr/bin/env bash
# GPU call 3: the GPU test suite (fixed tiles) and the leaderboard micro benchmark (causal, batch 1, 16 heads,
# head dim 64 = d_model 1024 / 16, seq 16384, bf16), ours vs both SDPA backends.
set -u
OUT=${1:-/tmp/out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/assignment1-basics:$PWD/assignment2-systems
cd assignment2-systems
timeout 280 python3 -m pytest tests/unit/test_flash_attention.py -q -p no:cacheprovider 2>&1 | tail -8 > "$OUT/gpu_tests.txt"
cat "$OUT/gpu_tests.txt"
timeout 120 python3 -m cs336_systems bench-attention --impls triton sdpa_cudnn sdpa_flash --batch 1 --heads 16 \
  --head-dims 64 --seq-lens 16384 --causal --dtype bf16 --out "$OUT/leaderboard" 2>&1 | grep -v '^{' | tail -6
