#!/usr/bin/env bash
# One H100 call after the tile sweep (benchmarks/fa2_sweep.py): GPU tests, the key shapes incl. the leaderboard cell
# (causal, batch 1, 16 heads, d 64/128, seq 4k-16k, bf16), the spec's grid for our kernel and both SDPA backends, and
# compiled end-to-end rows with our FA2.     bash assignment2-systems/benchmarks/gpu_fa2_tuned.sh "$OUT"
set -u
OUT=${1:?output dir}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/assignment1-basics:$PWD/assignment2-systems PYTHONUNBUFFERED=1
cd assignment2-systems
M="python3 -m cs336_systems"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
timeout 140 python3 -m pytest tests/unit/test_flash_attention.py -q -p no:cacheprovider 2>&1 | tail -4 | tee "$OUT/gpu_tests.txt"
timeout 150 $M bench-attention --impls triton sdpa_cudnn sdpa_flash --batch 1 --heads 16 --head-dims 64 128 \
  --seq-lens 4096 8192 16384 --causal --dtype bf16 --out "$OUT/key" 2>&1 | grep -v '^{' | tail -20
timeout 150 $M bench-attention --impls triton sdpa_flash sdpa_cudnn --batch 8 --heads 1 --head-dims 16 32 64 128 \
  --seq-lens 256 1024 4096 8192 16384 --causal --dtype bf16 --warmup-ms 10 --rep-ms 40 --out "$OUT/grid" \
  > /dev/null 2> "$OUT/grid_stderr.txt"; echo "grid rc=$?"; tail -2 "$OUT/grid_stderr.txt"
for run in small:flash_triton medium:flash_triton; do
  size=${run%%:*}; attn=${run##*:}
  timeout 70 $M bench-model --size $size --mode forward_backward --autocast bf16 --compile --attention $attn \
    --warmup 5 --steps 10 --out "$OUT/compiled.jsonl" 2>&1 | grep -v '^{' | tail -2
done
$M model-table "$OUT/compiled.jsonl" | tee "$OUT/compiled.md"
