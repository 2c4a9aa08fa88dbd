#!/usr/bin/env bash
# The benchmarks of anchors.md on the GPU machine, retain and its peers in the same call:
#   scripts/gpu-bench.sh [train] [router] [infer]      (default: all three)
# retain's side is build-cuda/retain_bench (bench/retain_bench.cpp); the peers are the Python
# scripts of ../shared/bench (PEER_DIR=... when they were copied elsewhere). Results: $OUT/*.json,
# logs beside them. Builds the `cuda` preset first when build-cuda/retain_bench is missing or stale.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/retain-bench}
PEER_DIR=${PEER_DIR:-../shared/bench}
mkdir -p "$OUT"
export RETAIN_TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(train router infer)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ ! -f build-cuda/build.ninja ]; then
  cmake --preset cuda -DRETAIN_TEST_CACHE_DIR="$PWD/.cache-npm" > "$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
fi
cmake --build --preset cuda -j 16 --target retain_bench > "$OUT/build-bench.log" 2>&1 || { grep -E "error" -A5 "$OUT/build-bench.log" | head -60; exit 1; }
for s in "${scenarios[@]}"; do
  echo "== retain: $s"
  ./build-cuda/retain_bench "$s" --json "$OUT/retain_$s.json" 2> "$OUT/retain_$s.log" || { tail -20 "$OUT/retain_$s.log"; }
  case "$s" in
    train)  echo "== peer: peer_train.py"; OUT="$OUT" python3 "$PEER_DIR/peer_train.py" > "$OUT/peer_train.log" 2>&1; grep -v Warning "$OUT/peer_train.log" | tail -12 ;;
    router) echo "== peer: RLS per sample (from peer_train.py's last line)" ;;
    infer)  echo "== peer: peer_infer.py"; OUT="$OUT" python3 "$PEER_DIR/peer_infer.py" > "$OUT/peer_infer.log" 2>&1; tail -12 "$OUT/peer_infer.log" ;;
  esac
done
