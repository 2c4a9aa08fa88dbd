#!/usr/bin/env bash
# `retain serve` on the GPU, compared with the CPU, in one GPU call (carry .cache/retain-small/deps):
# builds build-cuda/retain (the CLI alone), trains the serve test's asr checkpoint (models/retain-tiny,
# two fixture tasks), then tests/serve/compare_devices.py: the same greedy requests (auto, base, each
# task; solo and as one mixed batch) to a CPU server and a CUDA server must give the same texts and
# routes. When node and the openai client are there (OPENAI_DIR), the whole client test runs on CUDA too.
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
$R run --model models/retain-tiny --task tests/fixtures/data/echo --task tests/fixtures/data/sentiment --method asr \
  --out "$W/run" --save-checkpoints --set optim.max_steps=4 --set optim.batch_size=4 --set optim.lr=5e-3 \
  --set eval.max_examples=2 --set eval.general_text=off --set run.max_length=64 --set method.asr.expansion_dim=256 \
  --device cpu > "$W/run.log" 2>&1 || { tail -5 "$W/run.log"; exit 1; }
python3 tests/serve/compare_devices.py $R models/retain-tiny "$W/run/asr" --devices cpu,cuda
echo "compare rc=$?"
if command -v node > /dev/null && [ -n "${OPENAI_DIR:-}" ]; then
  DEVICE=cuda RETAIN=$R SOURCE_DIR=$PWD OPENAI_DIR=$OPENAI_DIR WORK=$W/node node tests/serve/serve_openai.test.mjs
  echo "node test rc=$?"
else
  echo "node test: skipped (node: $(command -v node || echo none))"
fi
