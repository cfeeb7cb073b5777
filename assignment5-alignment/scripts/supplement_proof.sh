#!/usr/bin/env bash
# The supplement's proof in one run: instruction-tune a fresh assignment-1 model on synthetic instructions, DPO on
# synthetic preference pairs, then MMLU / GSM8K / AlpacaEval / SimpleSafetyTests with the native engine, and a report
# (markdown table + curves PNG) written by benchmarks/supplement_report.py. No logic here beyond chaining commands.
#
#   DATA holds: tokenizer/ (GPT-2 vocab + merges), mmlu/ (CSV folder), gsm8k_test.jsonl, alpaca_eval.jsonl, sst.csv
#   GPU (from the repo root):
#     PYTHONPATH=assignment1-basics:assignment5-alignment assignment5-alignment/scripts/supplement_proof.sh OUT DATA
#   CPU rehearsal at toy scale:
#     PY=.venv/bin/python CFG=debug_cpu assignment5-alignment/scripts/supplement_proof.sh /tmp/proof DATA
set -euo pipefail
OUT=${1:?usage: supplement_proof.sh OUT_DIR DATA_DIR}
DATA=${2:?usage: supplement_proof.sh OUT_DIR DATA_DIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-python3}
CFG=${CFG:-synthetic_h100}
CLI="$PY -m cs336_alignment ${QUIET:-}"
RUNS=$OUT/runs
mkdir -p "$RUNS"
field() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
stamp() { echo "[$(date -u +%H:%M:%S)] $*"; }

stamp "instruct-tune"
$CLI instruct-tune --config "$HERE/configs/instruct_$CFG.toml" --out-dir "$RUNS" \
  --set "model.tokenizer_path=\"$DATA/tokenizer\"" > "$OUT/instruct.json"
SFT=$(field "$OUT/instruct.json" model_dir)

stamp "dpo from $SFT"
$CLI dpo --config "$HERE/configs/dpo_$CFG.toml" --out-dir "$RUNS" --set "model.path=\"$SFT\"" > "$OUT/dpo.json"
BEST=$(field "$OUT/dpo.json" best_model)

EVAL="$HERE/configs/eval_$CFG.toml"
for spec in "gsm8k gsm8k gsm8k_test.jsonl" "mmlu mmlu mmlu" "alpacaeval alpaca_eval alpaca_eval.jsonl"; do
  set -- $spec
  stamp "eval-$1 (DPO best model)"
  $CLI "eval-$1" --config "$EVAL" --out-dir "$RUNS" --set "model.path=\"$BEST\"" --set "task.path=\"$DATA/$3\"" \
    > "$OUT/eval_$2.json" || echo "eval-$1 failed (exit $?)"
done
# SST with the refusal-keyword heuristic, before and after DPO (the course's 70B judge is not available here).
for which in sft dpo; do
  model=$SFT; [ "$which" = dpo ] && model=$BEST
  stamp "eval-sst ($which)"
  $CLI eval-sst --config "$EVAL" --out-dir "$RUNS" --set "model.path=\"$model\"" --set "task.path=\"$DATA/sst.csv\"" \
    --set 'judge.kind="refusal_keywords"' --set "run.name=\"$which\"" > "$OUT/eval_sst_$which.json" || echo "eval-sst ($which) failed"
done

stamp "report"
$PY "$HERE/benchmarks/supplement_report.py" "$OUT" ${DEVICE_NAME:+--device-name "$DEVICE_NAME"}
stamp "done"
