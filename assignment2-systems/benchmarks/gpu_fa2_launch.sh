#!/usr/bin/env bash
# One H100 call after the direct-launch change: GPU tests of the FA2 kernels, the host-cost breakdown
# (benchmarks/fa2_overhead.py) and the key shapes (causal, batch 1, 16 heads, d 64/128, seq 4k-16k, bf16) for our
# kernel and both SDPA backends, then the spec grid (batch 8, 1 head).     bash assignment2-systems/benchmarks/gpu_fa2_launch.sh "$OUT"
set -u
OUT=${1:?output dir}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/assignment1-basics:$PWD/assignment2-systems PYTHONUNBUFFERED=1
cd assignment2-systems
M="python3 -m cs336_systems"
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } | tee "$OUT/gpu.txt"
timeout 200 python3 -m pytest tests/unit/test_flash_attention.py -q -p no:cacheprovider 2>&1 | tail -4 | tee "$OUT/gpu_tests.txt"
timeout 150 python3 benchmarks/fa2_overhead.py --out "$OUT/overhead" --seq 4096 16384 > "$OUT/overhead_stdout.txt" 2>&1
echo "overhead rc=$?"; grep "| host" "$OUT/overhead/overhead.md"
timeout 170 $M bench-attention --impls triton sdpa_cudnn sdpa_flash --batch 1 --heads 16 --head-dims 64 128 \
  --seq-lens 4096 8192 16384 --causal --dtype bf16 --out "$OUT/key" 2>&1 | grep -v '^{' | tail -20
timeout 150 $M bench-attention --impls triton sdpa_flash sdpa_cudnn --batch 8 --heads 1 --head-dims 16 32 64 128 \
  --seq-lens 256 1024 4096 8192 16384 --causal --dtype bf16 --warmup-ms 10 --rep-ms 40 --out "$OUT/grid" \
  > /dev/null 2> "$OUT/grid_stderr.txt"; echo "grid rc=$?"; tail -2 "$OUT/grid_stderr.txt"
grep -c "| ok |" "$OUT/grid/attention.md"
