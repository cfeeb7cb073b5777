#!/usr/bin/env bash
# One H100 call: torch.compile rows of the end-to-end table (bf16 autocast, forward+backward, SDPA and our Triton
# FA2), a CUDA memory snapshot rendered offline (active-memory timeline PNG + largest allocations) and a
# torch.profiler trace with its top-kernel table.   bash assignment2-systems/benchmarks/gpu_part1_leftovers.sh "$OUT"
set -u
OUT=${1:?output dir}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/assignment1-basics:$PWD/assignment2-systems PYTHONUNBUFFERED=1
M="python3 -m cs336_systems"
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
for run in small:sdpa small:flash_triton medium:sdpa large:sdpa large:flash_triton xl:sdpa; do
  size=${run%%:*}; attn=${run##*:}
  timeout 75 $M bench-model --size $size --mode forward_backward --autocast bf16 --compile --attention $attn \
    --warmup 5 --steps 10 --out "$OUT/compiled.jsonl" 2>&1 | grep -v '^{' | tail -2
done
$M model-table "$OUT/compiled.jsonl" | tee "$OUT/compiled.md"
timeout 90 $M memory --size large --mode train_step --autocast bf16 --attention flash_triton --warmup 2 --steps 1 \
  --snapshot /tmp/mem_large.pickle 2>&1 | tail -30 | tee "$OUT/memory_large.txt"
timeout 90 $M memory --render /tmp/mem_large.pickle --png "$OUT/memory_large.png" --top 10 2>&1 | tail -30 \
  | tee "$OUT/memory_large_render.txt"
timeout 90 $M profile --size small --mode train_step --autocast bf16 --attention flash_triton --warmup 3 --steps 2 \
  --trace /tmp/trace_small.json --top 20 2>&1 | tail -30 | tee "$OUT/profile_small.txt"
