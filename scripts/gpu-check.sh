#!/usr/bin/env bash
# The GPU machine's check, in one call: optionally regenerate the reference fixtures (REGEN=1),
# build the `cuda` preset, run the whole test suite (gpu label included), and check that a model
# written by `retain init` loads in transformers with the logits `retain forward` gives.
# Expects .deps (scripts/gpu-deps.sh) and .cache-npm (scripts/fetch-tokenizers.sh .cache-npm) carried.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/retain-gpu-check}
mkdir -p "$OUT"
export RETAIN_TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
if [ "${REGEN:-0}" = 1 ]; then
  python3 tests/reference/make_fixtures.py --npm-cache .cache-npm --out "$OUT/fx" > "$OUT/fixtures.log" 2>&1 || { tail -30 "$OUT/fixtures.log"; exit 1; }
  tar czf "$OUT/fixtures.tgz" -C "$OUT" fx && cp -r "$OUT"/fx/* tests/fixtures/ && rm -rf "$OUT/fx"
  echo "fixtures regenerated"
fi
python3 tests/reference/hf_bf16_error.py tests/fixtures > "$OUT/hf_bf16.log" 2>&1 || { tail -20 "$OUT/hf_bf16.log"; exit 1; }
cp tests/fixtures/hf_bf16_error.json "$OUT/"
cmake --preset cuda -DRETAIN_TEST_CACHE_DIR="$PWD/.cache-npm" > "$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
grep "retain:" "$OUT/cmake.log"
start=$(date +%s)
cmake --build --preset cuda -j 16 > "$OUT/build.log" 2>&1 || { grep -E "error" -A5 "$OUT/build.log" | head -80; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
# 8 test processes share 16 cores: cap their intra-op threads, or CPU-side training tests crawl.
OMP_NUM_THREADS=2 ctest --preset cuda -j 8 > "$OUT/ctest.log" 2>&1; echo "ctest rc=$?"
grep -E "tests passed|Failed|FAILED|\*\*\*" "$OUT/ctest.log" | head -40
./build-cuda/tests/gpu/test_cuda 2>&1 | grep "\[ cuda \]"
# Every method trains on CUDA as on the CPU (tests/gpu/test_cuda_parity.cpp): the measured differences.
OMP_NUM_THREADS=4 ./build-cuda/tests/gpu/test_cuda_parity 2>&1 | grep -E "\[ parity \]|FAILED"
# transformers loads what retain writes
rt=$(mktemp -d)
./build-cuda/retain init --config tests/fixtures/models/qwen3/config.json --out "$rt/model" --seed 7 > /dev/null &&
  printf '{"ids": [1, 5, 9, 200, 17]}\n{"ids": [3]}\n{"ids": [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 300, 301]}\n' > "$rt/ids.jsonl" &&
  ./build-cuda/retain forward --model "$rt/model" --input "$rt/ids.jsonl" --output "$rt/logits.safetensors" &&
  python3 tests/reference/check_transformers_roundtrip.py "$rt/model" "$rt/ids.jsonl" "$rt/logits.safetensors"
echo "roundtrip rc=$?"
