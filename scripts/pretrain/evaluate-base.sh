#!/usr/bin/env bash
# What a base model can do, in one GPU call: held-out perplexity on the pretrain-large corpus and
# learnability of each core5 task (docs/models.md).
#   MODELS="retain-tiny=models/retain-tiny retain-small=models/retain-small" \
#     CORPUS=.cache/suites/pretrain-large SUITE=.cache/suites/core5 scripts/pretrain/evaluate-base.sh
# 1. the corpus' held-out documents (`retain pretrain --general-text-only`: the split pretraining
#    holds out), scored by heldout_perplexity.py (per token, per word and bits per byte);
# 2. each core5 task trained alone from each base model: full fine-tuning (seqft), 3 epochs, batch 16,
#    linear decay after 5% warm-up, float32; the learning rate chosen from LRS on the dev split
#    (`retain run --sweep`); rank scoring on the whole test split. All (model, task) runs at once.
# Results in $OUT/evaluate: perplexity.json, learnability.md/.json, learn/<model>/<task>/ (run folders).
set -uo pipefail
cd "$(dirname "$0")/../.."
R=${RETAIN:-./build-cuda/retain}
DEVICE=${DEVICE:-cuda}
CORPUS=${CORPUS:-.cache/suites/pretrain-large}
SUITE=${SUITE:-.cache/suites/core5}
MODELS=${MODELS:-retain-tiny=models/retain-tiny retain-small=models/retain-small}
LRS=${LRS:-1e-4,3e-4,1e-3}
EPOCHS=${EPOCHS:-3}
OUT=${OUT:-/tmp/retain-evaluate}/evaluate
mkdir -p "$OUT"
first=${MODELS%% *}; first=${first#*=}
# HELDOUT=folder with general_text.jsonl and text/ (the held-out lines of each shard: `heldout` below,
# run where the corpus is) stands in for the corpus on a machine that cannot carry all of it.
if [ -n "${HELDOUT:-}" ]; then
  mkdir -p "$OUT/heldout" && cp "$HELDOUT/general_text.jsonl" "$OUT/heldout/" && CORPUS=$HELDOUT
else
  $R pretrain --general-text-only --general-text-documents 100000000 --config "$first/config.json" \
    --tokenizer "$first/tokenizer.json" --text "$CORPUS/text" --doc-separator '\n' --seed 0 --out "$OUT/heldout" || exit 1
fi
margs=(); for m in $MODELS; do margs+=(--model "$m"); done
(python3 scripts/pretrain/heldout_perplexity.py --heldout "$OUT/heldout/general_text.jsonl" --corpus "$CORPUS/text" \
   "${margs[@]}" --out "$OUT/perplexity.json" > "$OUT/perplexity.log" 2>&1; echo "perplexity rc=$?" >> "$OUT/perplexity.log") &
common=(--method seqft --sweep "optim.lr=$LRS" --device "$DEVICE" --overwrite
        --set run.dtype=float32 --set run.max_length=256 --set run.seed=0
        --set optim.batch_size=16 --set optim.epochs=$EPOCHS --set optim.schedule=linear --set optim.warmup_ratio=0.05
        --set optim.weight_decay=0 --set optim.max_grad_norm=1.0
        --set eval.scoring=rank --set eval.max_examples=0 --set eval.batch_size=32 --set eval.general_text=off)
start=$(date +%s)
for m in $MODELS; do
  name=${m%%=*}; dir=${m#*=}
  while read -r t; do
    mkdir -p "$OUT/learn/$name/$t"
    OMP_NUM_THREADS=1 $R run --model "$dir" --task "$SUITE/$t" --out "$OUT/learn/$name/$t" "${common[@]}" \
      > "$OUT/learn/$name/$t/table.txt" 2> "$OUT/learn/$name/$t/log.txt" &
  done < "$SUITE/tasks.txt"
done
wait
echo "learnability: $(( $(date +%s) - start )) s"
cat "$OUT/perplexity.log"
for f in "$OUT"/learn/*/*/log.txt; do grep -q "Error\|error:" "$f" && { echo "== $f"; tail -5 "$f"; }; done
python3 scripts/pretrain/learnability_table.py "$OUT/learn" --json "$OUT/learnability.json" | tee "$OUT/learnability.md"
rm -rf "$OUT/heldout"
