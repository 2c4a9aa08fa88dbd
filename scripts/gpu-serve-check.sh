#!/usr/bin/env bash
# `retain serve` on the GPU, compared with the CPU, in one GPU call (carry .cache/retain-small/deps):
# builds build-cuda/retain (the CLI alone), trains the serve test's checkpoints on the CPU (models/retain-tiny,
# two fixture tasks: asr, seta, seta with top_k = 2, inclora), then tests/serve/compare_devices.py on each: the same greedy
# requests (auto, base, each task; solo and as one mixed batch) to a CPU server and a CUDA server must
# give the same texts and routes. When node and the openai client are there (OPENAI_DIR), the whole
# client test runs on CUDA too. Exits 1 when any comparison fails.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/retain-serve-gpu}
mkdir -p "$OUT"
if [ ! -x build-cuda/retain ] || [ ! -f build-cuda/src/serve/libretain_serve.a ]; then
  export RETAIN_TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake --preset cuda -DRETAIN_BUILD_TESTS=OFF -DRETAIN_BUILD_BENCHMARKS=OFF \
    -DCMAKE_PREFIX_PATH="$RETAIN_TORCH_PREFIX;$PWD/${DEPS:-.cache/retain-small/deps}/usr" > "$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
  cmake --build --preset cuda -j 16 --target retain_cli > "$OUT/build.log" 2>&1 || { grep -E "error" -A5 "$OUT/build.log" | head -40; exit 1; }
fi
R=build-cuda/retain
export LD_LIBRARY_PATH=$PWD/${DEPS:-.cache/retain-small/deps}/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
W=$OUT/work
rm -rf "$W" && mkdir -p "$W"
# The serve test's runs (tests/serve/serve_openai.test.mjs): a name, the method, then its settings;
# the checkpoint is $W/run-<name>/<method>.
train() {
  local name=$1 method=$2
  shift 2
  $R run --model models/retain-tiny --task tests/fixtures/data/echo --task tests/fixtures/data/sentiment --method "$method" \
    --out "$W/run-$name" --save-checkpoints --set optim.max_steps=4 --set optim.batch_size=4 \
    --set eval.max_examples=2 --set eval.general_text=off --set run.max_length=64 "$@" \
    --device cpu > "$W/run-$name.log" 2>&1 || { tail -5 "$W/run-$name.log"; exit 1; }
}
SETA_SETTINGS="--set optim.lr=5e-2 --set method.seta.gate_steps=100 --set method.seta.importance_samples=4"
train asr asr --set optim.lr=5e-3 --set method.asr.expansion_dim=256
train seta seta $SETA_SETTINGS
train seta-top2 seta $SETA_SETTINGS --set method.seta.top_k=2
train inclora inclora --set optim.lr=5e-2
status=0
for run in asr/asr seta/seta seta-top2/seta inclora/inclora; do
  python3 tests/serve/compare_devices.py $R models/retain-tiny "$W/run-${run%/*}/${run#*/}" --devices cpu,cuda
  rc=$?
  echo "compare ${run%/*} rc=$rc"
  [ $rc -eq 0 ] || status=1
done
if command -v node > /dev/null && [ -n "${OPENAI_DIR:-}" ]; then
  DEVICE=cuda RETAIN=$R SOURCE_DIR=$PWD OPENAI_DIR=$OPENAI_DIR WORK=$W/node node tests/serve/serve_openai.test.mjs
  rc=$?
  echo "node test rc=$rc"
  [ $rc -eq 0 ] || status=1
else
  echo "node test: skipped (node: $(command -v node || echo none))"
fi
exit $status
