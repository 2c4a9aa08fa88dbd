#!/usr/bin/env bash
# Pretrain retain's small base model on the GPU machine, in one call:
#   CORPUS=path/to/text-folder-or-file (for `retain data`'s output: its text/ folder) [BUDGET_S=1200] [OUT=/tmp/retain-pretrain] scripts/pretrain/gpu-pretrain.sh
# 1. builds build-cuda/retain (the `cuda` preset), 2. trains the tokenizer (VOCAB, 8192) on CORPUS,
# 3. checks it against Hugging Face `tokenizers` (if installed), 4. measures tokens/s with a 30-step
# probe and sizes --steps to fill BUDGET_S seconds of training, 5. pretrains, 6. checks that
# transformers loads the folder with the logits `retain forward` gives (if transformers is installed).
# The model folder lands in $OUT/model (config.json, model.safetensors, tokenizer.json, pretrain.json).
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${CORPUS:?set CORPUS to a text file or folder}"
OUT=${OUT:-/tmp/retain-pretrain}
BUDGET_S=${BUDGET_S:-1200}
BATCH=${BATCH:-64}
SEQ=${SEQ:-512}
LR=${LR:-2e-3}
DOC_SEP=${DOC_SEP-'\n'}  # retain data's corpus: text/*.txt, one document per line
CONFIG=${CONFIG:-scripts/pretrain/config.json}  # the architecture (config-small.json: retain-small)
VOCAB=${VOCAB:-8192}                            # must equal the config's vocab_size
DTYPE_OUT=${DTYPE_OUT:-float32}                 # model.safetensors dtype (bfloat16: retain-small)
CMAKE_EXTRA=${CMAKE_EXTRA:-}                    # e.g. -DRETAIN_BUILD_TESTS=OFF for a build of the CLI alone
mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda}
AUTOCAST=${AUTOCAST:-bf16}
R=${RETAIN:-./build-cuda/retain}  # RETAIN=build/retain DEVICE=cpu AUTOCAST=off: a dry run on a CPU machine
if [ -z "${RETAIN:-}" ] && { [ ! -x build-cuda/retain ] || [ "${REBUILD:-1}" = 1 ]; }; then
  export RETAIN_TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  [ -f build-cuda/build.ninja ] || cmake --preset cuda $CMAKE_EXTRA > "$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
  cmake --build --preset cuda -j 16 --target retain_cli > "$OUT/build.log" 2>&1 || { grep -E "error" -A5 "$OUT/build.log" | head -60; exit 1; }
fi

$R tokenizer train --input "$CORPUS" --vocab-size "$VOCAB" --out "$OUT/tokenizer.json" || exit 1
if python3 -c 'import tokenizers' 2> /dev/null; then
  sample=$(find "$CORPUS" -type f | head -1)
  python3 scripts/check_tokenizer_hf.py "$OUT/tokenizer.json" "$sample" --retain $R --limit 5000
  echo "hf tokenizer check rc=$?"
fi

common=(--config "$CONFIG" --tokenizer "$OUT/tokenizer.json" --text "$CORPUS"
        --doc-separator "$DOC_SEP" --batch-size "$BATCH" --seq-len "$SEQ" --lr "$LR" --device "$DEVICE" --autocast "$AUTOCAST" --dtype-out "$DTYPE_OUT" --seed 0)
rm -rf "$OUT/probe"
$R pretrain "${common[@]}" --out "$OUT/probe" --steps 30 --warmup 5 --eval-every 0 --checkpoint-every 0 > "$OUT/probe.log" 2>&1 ||
  { tail -20 "$OUT/probe.log"; exit 1; }
# Steady-state speed: the median of the last 15 steps (the first ones pay for CUDA start-up).
tps=$(python3 -c "
import json, statistics
r = [json.loads(l) for l in open('$OUT/probe/metrics.jsonl')]
print(statistics.median([x['tokens_per_s'] for x in r if 'tokens_per_s' in x][-15:]))")
steps=${STEPS:-$(python3 -c "print(max(100, int(0.85 * $BUDGET_S * $tps / ($BATCH * $SEQ))))")}
warmup=$(python3 -c "print(min($steps, max(10, $steps // 50)))")
echo "probe: $tps tokens/s -> $steps steps (warm-up $warmup) for ${BUDGET_S} s"

# Reuse the probe's token cache: the data key (files, tokenizer, split) is the same.
rm -rf "$OUT/model" && mkdir -p "$OUT/model" && cp -r "$OUT/probe/data" "$OUT/model/"
$R pretrain "${common[@]}" --out "$OUT/model" --steps "$steps" --warmup "$warmup" --eval-every $((steps / 20 + 1)) \
  --checkpoint-every $((steps / 10 + 1)) --resume 2>&1 | tee "$OUT/pretrain.log" | grep -E "held-out|step .*00/|retain pretrain"
rc=${PIPESTATUS[0]}
echo "pretrain rc=$rc"
[ "$rc" = 0 ] || exit 1

if python3 -c 'import transformers' 2> /dev/null; then
  printf '{"ids": [0, 300, 301, 302, 1000, 17]}\n{"ids": [0, 5]}\n' > "$OUT/ids.jsonl"
  $R forward --model "$OUT/model" --input "$OUT/ids.jsonl" --output "$OUT/logits.safetensors" &&
    python3 tests/reference/check_transformers_roundtrip.py "$OUT/model" "$OUT/ids.jsonl" "$OUT/logits.safetensors"
  echo "transformers roundtrip rc=$?"
fi
$R generate --model "$OUT/model" --device "$DEVICE" --prompt "This program is free software" --prompt "Copyright" --max-new-tokens 40
