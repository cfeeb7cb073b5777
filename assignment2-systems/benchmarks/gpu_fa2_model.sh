#!/usr/bin/env bash
# One H100 call: the end-to-end rows (bf16 autocast, forward+backward, context 512, batch 4) with SDPA and with our
# Triton FA2, eager for small..xl and compiled for small and medium, after the FA2 direct-launch change.
#     bash assignment2-systems/benchmarks/gpu_fa2_model.sh "$OUT"
set -u
OUT=${1:?output dir}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/assignment1-basics:$PWD/assignment2-systems PYTHONUNBUFFERED=1
M="python3 -m cs336_systems"
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } | tee "$OUT/gpu.txt"
for size in small medium large xl; do
  for attn in sdpa flash_triton; do
    timeout 50 $M bench-model --size $size --mode forward_backward --autocast bf16 --attention $attn \
      --warmup 5 --steps 10 --out "$OUT/model.jsonl" 2>&1 | grep -v '^{' | tail -1
  done
done
for size in small medium; do
  for attn in sdpa flash_triton; do
    timeout 75 $M bench-model --size $size --mode forward_backward --autocast bf16 --compile --attention $attn \
      --warmup 5 --steps 10 --out "$OUT/model.jsonl" 2>&1 | grep -v '^{' | tail -1
  done
done
$M model-table "$OUT/model.jsonl" | tee "$OUT/model.md"
