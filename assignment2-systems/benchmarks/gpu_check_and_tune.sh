#!/usr/bin/env bash
# GPU call 1: correctness tests of the Triton FA2 on the GPU, then the key shapes (autotuned configs printed).
# Run from the repo root:  bash assignment2-systems/benchmarks/gpu_check_and_tune.sh "$OUT"
set -u
OUT=${1:-/tmp/out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/assignment1-basics:$PWD/assignment2-systems
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, triton; print(torch.__version__, triton.__version__)" | tee -a "$OUT/gpu.txt"
cd assignment2-systems
if python3 -c "import pytest" 2>/dev/null; then
  timeout 300 python3 -m pytest tests/unit/test_flash_attention.py -q -x -p no:cacheprovider 2>&1 | tail -15 | tee "$OUT/gpu_tests.txt"
else
  echo "pytest missing on this machine" | tee "$OUT/gpu_tests.txt"
fi
timeout 280 python3 -m cs336_systems bench-attention --impls triton sdpa_cudnn sdpa_flash --batch 1 --heads 16 \
  --head-dims 64 128 --seq-lens 4096 16384 --causal --dtype bf16 --out "$OUT/key" 2>&1 | tail -20 | tee "$OUT/key.txt"
python3 - <<'PY' 2>&1 | tee -a "$OUT/key.txt"
from cs336_systems.kernels import flash_triton as ft
for k in (ft.flash_fwd_kernel, ft.flash_bwd_dkdv_kernel, ft.flash_bwd_dq_kernel):
    print(k.fn.__name__, {str(key): str(c) for key, c in k.cache.items()})
PY
