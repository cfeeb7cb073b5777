#!/usr/bin/env bash
# Prepare the GPU-proof data on a CPU: split english-docs.txt.gz (every 20th document -> validation), train a 10K BPE
# on the train split, encode both splits to uint16 .npy under .carry/a1/ (git-ignored; carried to the GPU machine).
#   bash assignment1-basics/benchmarks/prepare_english_docs.sh [path/to/english-docs.txt.gz]   # from the repo root
set -euo pipefail
SRC=${1:-../shared/data/corpora/english-docs.txt.gz}
OUT=.carry/a1
mkdir -p "$OUT"
python3 - "$SRC" "$OUT" <<'PY'
import gzip, sys
src, out = sys.argv[1], sys.argv[2]
docs = [d for d in gzip.open(src, "rt", encoding="utf-8").read().split("<|endoftext|>") if d.strip()]
for name, keep in (("train", lambda i: i % 20 != 19), ("val", lambda i: i % 20 == 19)):
    part = [d for i, d in enumerate(docs) if keep(i)]
    with open(f"{out}/english_{name}.txt", "w", encoding="utf-8") as f:
        f.write("".join(d.strip("\n") + "\n<|endoftext|>\n" for d in part))
    print(name, len(part), "documents")
PY
cd assignment1-basics
uv run --frozen cs336-basics train-tokenizer ../$OUT/english_train.txt --vocab-size 10000 --out-dir ../$OUT/tok10k
for split in train val; do
  uv run --frozen cs336-basics encode ../$OUT/english_$split.txt --tokenizer-dir ../$OUT/tok10k \
    --output ../$OUT/english_$split.npy
done
rm ../$OUT/english_train.txt ../$OUT/english_val.txt
