#!/usr/bin/env bash
# GPU call 4: the full attention grid (spec §1.8: batch 8, no heads, d x seq), causal, bf16, all implementations.
set -u
OUT=${1:-/tmp/out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/assignment1-basics:$PWD/assignment2-systems
cd assignment2-systems
timeout 330 python3 -m cs336_systems bench-attention --impls naive compiled triton sdpa_flash sdpa_cudnn --batch 8 \
  --heads 1 --head-dims 16 32 64 128 --seq-lens 256 1024 4096 8192 16384 --causal --dtype bf16 --warmup-ms 10 \
  --rep-ms 40 --out "$OUT/grid" > "$OUT/grid_cells.jsonl" 2> "$OUT/grid_stderr.txt"
echo rc=$?; grep -v '^{' "$OUT/grid_cells.jsonl" | tail -110; tail -3 "$OUT/grid_stderr.txt"
