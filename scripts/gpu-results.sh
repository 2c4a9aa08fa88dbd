#!/usr/bin/env bash
# One GPU call of the results table (docs/results.md): unpacks the suites (.cache/gpu/suites.tgz, a
# tar of .cache/suites/{core5,long15,gen4} made here), builds build-cuda/retain if missing, runs
# `results.sh ${PHASES:-all}` until BUDGET (540) seconds after the start, then collects what finished
# into $OUT: the small files of every run (runs-small.tgz, for scripts/results_carry.py), the logs
# (logs.tgz: phases, progress, GPU use, collect, build) and the binary with its source hash in
# $OUT/bin (retain.gz and hash: copy to .cache/gpu/bin for the next call). The device returns at most 8 files.
# Carry .cache/retain-small/deps (scripts/gpu-deps.sh --portable) and .cache/gpu; e.g.
#   JOBS=10 BUDGET=550 bash scripts/gpu-results.sh   (the call of 2026-12-04, docs/results.md)
set -u
cd "$(dirname "$0")/.."
T0=$(date +%s)
BUDGET=${BUDGET:-540}
mkdir -p "$OUT" "$OUT/logs"
[ -f .cache/suites/core5/tasks.txt ] || tar -C .cache -xzf .cache/gpu/suites.tgz
# Finished runs and sweep candidates of earlier calls (scripts/results_carry.py): skipped, not rerun.
[ -f .cache/gpu/runs.tgz ] && [ ! -d runs/results ] && tar -xzf .cache/gpu/runs.tgz
DEPS=$PWD/.cache/retain-small/deps
# A CUDA binary built by an earlier call from the same sources (.cache/gpu/bin, carried with
# .cache/gpu) saves the ~150 s build; the hash covers every file the build reads.
SRC_HASH=$(find CMakeLists.txt CMakePresets.json cmake src include apps -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
# Carried gzipped (.cache/gpu/bin/retain.gz) to stay under the device's 64 MiB carry limit.
if [ ! -x build-cuda/retain ] && [ -f .cache/gpu/bin/retain.gz ] && [ "$(cat .cache/gpu/bin/hash 2>/dev/null)" = "$SRC_HASH" ]; then
  mkdir -p build-cuda && gunzip -c .cache/gpu/bin/retain.gz > build-cuda/retain && chmod +x build-cuda/retain && echo "prebuilt binary $SRC_HASH"
fi
if [ ! -x build-cuda/retain ]; then
  TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake --preset cuda -DRETAIN_BUILD_TESTS=OFF -DRETAIN_BUILD_BENCHMARKS=OFF -DCMAKE_PREFIX_PATH="$TP;$DEPS/usr" > "$OUT/logs/cmake.log" 2>&1 || { tail -30 "$OUT/logs/cmake.log"; exit 1; }
  cmake --build --preset cuda -j 16 --target retain_cli > "$OUT/logs/build.log" 2>&1 || { grep -E "error" -A5 "$OUT/logs/build.log" | head -40; exit 1; }
fi
echo "build done at $(( $(date +%s) - T0 )) s"
mkdir -p "$OUT/bin" && gzip -c build-cuda/retain > "$OUT/bin/retain.gz" && echo "$SRC_HASH" > "$OUT/bin/hash"
export LD_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
(while true; do echo "== $(( $(date +%s) - T0 )) s"; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; sleep 20; done) > "$OUT/logs/smi.log" 2>&1 &
SMI=$!
(while true; do sleep 30; echo "== $(( $(date +%s) - T0 )) s"; for f in runs/results/*/*/seed*/log.txt; do [ -f "$f" ] && echo "$f: $(tr '\r' '\n' < "$f" | grep -v '^$' | tail -1 | cut -c1-160)"; done; done) > "$OUT/logs/progress.log" 2>&1 &
PROG=$!
LEFT=$(( BUDGET - ($(date +%s) - T0) ))
timeout "$LEFT" scripts/results.sh ${PHASES:-all} > "$OUT/logs/phases.log" 2>&1
echo "phases rc=$? at $(( $(date +%s) - T0 )) s"
pkill -f "retain run" ; sleep 2
kill $SMI $PROG 2>/dev/null
RESULTS=/tmp/collected scripts/results.sh collect > "$OUT/logs/collect.log" 2>&1; echo "collect rc=$?"
find runs/results \( -name '*.json' -o -name '*.csv' -o -name '*.jsonl' -o -name 'log.txt' -o -name 'table.txt' \) -size -2M -print0 | tar --null -czf "$OUT/runs-small.tgz" -T -
tail -25 "$OUT/logs/phases.log"; tail -3 "$OUT/logs/progress.log"; tail -4 "$OUT/logs/smi.log"
tar -C "$OUT" -czf "$OUT/logs.tgz" logs && rm -rf "$OUT/logs"
echo "session end at $(( $(date +%s) - T0 )) s"
