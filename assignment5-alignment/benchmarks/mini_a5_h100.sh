#!/usr/bin/env bash
# The H100 learning proof in one call: rollout benchmark (native vs HF generate, same model and batch), then the
# mini-A5 pipeline (pretrain -> zero-shot -> SFT -> EI -> GRPO -> greedy evals), then packing for $OUT.
#   bash assignment5-alignment/benchmarks/mini_a5_h100.sh "$OUT" [--set key=value ...]     # from the repo root
# Env: CONFIG (default configs/mini_a5_h100.toml), DEVICE (cuda), BENCH_ARGS (extra bench flags), BENCH_DTYPES
# (float32 bfloat16), PIPE_TIMEOUT (470).
set -u -o pipefail
OUT=${1:-/tmp/out}; shift || true
mkdir -p "$OUT"
ROOT=$PWD
export PYTHONPATH=$ROOT/assignment1-basics:$ROOT/assignment5-alignment PYTHONUNBUFFERED=1
cd assignment5-alignment
CONFIG=${CONFIG:-configs/mini_a5_h100.toml}
DEVICE=${DEVICE:-cuda}
BENCH_ARGS=${BENCH_ARGS:---batch 512 --max-tokens 128 --d-model 320 --num-layers 5 --num-heads 5 --vocab 1024}
date -u +"start %FT%TZ"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"
[ "$DEVICE" = cuda ] && timeout 90 python3 -m pytest tests/unit/test_native_engine.py -q -p no:cacheprovider \
  --tb=short 2>&1 | tail -40
for dtype in ${BENCH_DTYPES:-float32 bfloat16}; do
  timeout 120 python3 benchmarks/bench_rollout.py --device "$DEVICE" --dtype $dtype $BENCH_ARGS --repeats 3 \
    --out "$OUT/bench_$dtype.json" --markdown "$OUT/bench.md" 2>&1 | grep -v "^$"
done
timeout "${PIPE_TIMEOUT:-470}" python3 -m cs336_alignment mini-a5 --config "$CONFIG" --out-dir /tmp/mini_a5 \
  --set run.device="\"$DEVICE\"" "$@" > /tmp/mini_a5_summary.json
echo "pipeline rc=$?"
RUN=$(ls -d /tmp/mini_a5/*mini-a5* | tail -1)
cat "$RUN/results.md"
# Small files only: metrics, samples, summaries, configs, curves (no checkpoints, no fp32 weights).
(cd "$RUN" && find . -name '*.json' -o -name '*.jsonl' -o -name '*.md' -o -name '*.png' | grep -v '/ckpt/' \
  | tar czf "$OUT/run.tar.gz" -T -)
# The SFT checkpoint in bf16 (under 16 MiB), so a second call could restart EI/GRPO from it.
SFT=$(ls -d "$RUN"/stages/*sft*/model 2>/dev/null | head -1)
if [ -n "$SFT" ]; then
  python3 - "$SFT" /tmp/sft_bf16 <<'PY'
import shutil, sys, torch
from cs336_basics.model import TransformerLM
src, dst = sys.argv[1], sys.argv[2]
TransformerLM.from_pretrained(src, dtype=torch.bfloat16).save_pretrained(dst)
shutil.copytree(f"{src}/tokenizer", f"{dst}/tokenizer", dirs_exist_ok=True)
PY
  tar cf "$OUT/sft_bf16.tar" -C /tmp sft_bf16
fi
ls -la "$OUT"
date -u +"end %FT%TZ"
