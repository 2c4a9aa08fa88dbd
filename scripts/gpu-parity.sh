#!/usr/bin/env bash
# The GPU tests alone (tests/gpu: test_cuda and test_cuda_parity, every method trained and scored on
# CUDA and the CPU), in one GPU call that fits the 64 MiB carry limit where gpu-check.sh's .deps does
# not. Prepare here: scripts/gpu-deps.sh --portable .cache/gputest-deps --tests; then on the GPU
# machine, carrying .cache/gputest-deps:  OUT=$OUT bash scripts/gpu-parity.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/retain-gpu-parity}
DEPS=$PWD/${DEPS:-.cache/gputest-deps}
mkdir -p "$OUT"
T0=$(date +%s)
export RETAIN_TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
cmake --preset cuda -DRETAIN_BUILD_BENCHMARKS=OFF -DRETAIN_GTEST_SOURCE_DIR="$DEPS/usr/src/googletest" \
  -DCMAKE_PREFIX_PATH="$RETAIN_TORCH_PREFIX;$DEPS/usr" > "$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
cmake --build --preset cuda -j 16 --target test_cuda test_cuda_parity retain_cli > "$OUT/build.log" 2>&1 ||
  { grep -E "error" -A5 "$OUT/build.log" | head -60; exit 1; }
echo "build: $(( $(date +%s) - T0 )) s"
export LD_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
./build-cuda/tests/gpu/test_cuda > "$OUT/test_cuda.log" 2>&1; echo "test_cuda rc=$?"
grep -E "\[ cuda \]|FAILED|PASSED|tests ran" "$OUT/test_cuda.log" | head -40
OMP_NUM_THREADS=4 ./build-cuda/tests/gpu/test_cuda_parity > "$OUT/parity.log" 2>&1; echo "test_cuda_parity rc=$?"
grep -E "\[ parity \]|FAILED|PASSED|tests ran" "$OUT/parity.log" | head -40
echo "end: $(( $(date +%s) - T0 )) s"
