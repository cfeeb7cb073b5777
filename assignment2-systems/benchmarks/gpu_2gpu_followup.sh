#!/usr/bin/env bash
# 2-GPU follow-up (nvidia-h200-x2): NCCL smoke test of the A1 trainer under torchrun (FSDP 2 ranks -> checkpoint ->
# resume under DDP), then the 8B leaderboard step with the first k blocks checkpointed and the xl memory rows.
#   OUT=<dir> LB_CKPT=26 bash assignment2-systems/benchmarks/gpu_2gpu_followup.sh
# CPU dry run (gloo, tiny shapes):  DRY=1 OUT=/tmp/x bash assignment2-systems/benchmarks/gpu_2gpu_followup.sh
set -uo pipefail
export PYTHONPATH=assignment1-basics:assignment2-systems${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
PY=${PY:-python3}
OUT=${OUT:?set OUT}
LB_CKPT=${LB_CKPT:-26}
mkdir -p "$OUT"
if [ -n "${DRY:-}" ]; then DEV=cpu; DRYFLAG=--dry-run; export OMP_NUM_THREADS=1; else DEV=cuda; DRYFLAG=; fi
nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null | tee "$OUT/gpus.txt"
CFG=assignment1-basics/configs/debug_cpu.toml
RUNS=$(mktemp -d)
echo "== torchrun: fsdp, 2 ranks, 100 steps, checkpoint every 50"
$PY -m torch.distributed.run --standalone --nproc-per-node 2 -m cs336_basics train --config $CFG --device $DEV \
    --parallel fsdp --out-dir "$RUNS" --set run.num_steps=100 --set run.ckpt_every=50 --set run.name='"nccl-smoke"' \
    2>&1 | tail -n 15 | tee "$OUT/torchrun_fsdp.txt"
RUN=$(ls -d "$RUNS"/*/ | head -n 1)
echo "== torchrun: resume $RUN under ddp to step 150"
$PY -m torch.distributed.run --standalone --nproc-per-node 2 -m cs336_basics train --resume "$RUN" --device $DEV \
    --parallel ddp --set run.num_steps=150 2>&1 | tail -n 15 | tee "$OUT/torchrun_ddp_resume.txt"
echo "== leaderboard (first $LB_CKPT blocks checkpointed) + xl memory rows"
$PY assignment2-systems/benchmarks/bench_2gpu.py --out "$OUT/bench" --budget "${BUDGET:-220}" $DRYFLAG \
    --parts leaderboard,xl --lb-checkpoint "$LB_CKPT" --xl-variants local,overlap,fsdp,torch_fsdp2 --xl-steps 5
