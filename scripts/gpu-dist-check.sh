#!/usr/bin/env bash
# The GPU machine's check of data parallel on NCCL (docs/distributed.md), in one call: build the CLI
# (cuda preset; DEPS = Debian's libraries unpacked, scripts/gpu-deps.sh --portable, plus Gloo's
# headers), then train seqft on the tiny model on one GPU three ways — a plain run, `retain launch
# --nproc-per-node 1` and `torchrun --no-python --nproc-per-node 1` (an NCCL group of one) — and
# check that the trained parameters are bitwise equal.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/retain-gpu-dist}
DEPS=${DEPS:-$PWD/.deps/gpu}
mkdir -p "$OUT"
TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
if [ ! -x build-cuda/retain ]; then
  cmake --preset cuda -DRETAIN_BUILD_TESTS=OFF -DRETAIN_BUILD_BENCHMARKS=OFF -DCMAKE_PREFIX_PATH="$TP;$DEPS/usr" > "$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
  grep "retain:" "$OUT/cmake.log"
  start=$(date +%s)
  cmake --build --preset cuda -j 16 --target retain_cli > "$OUT/build.log" 2>&1 || { grep -E "error" -A5 "$OUT/build.log" | head -60; exit 1; }
  echo "build: $(( $(date +%s) - start )) s"
fi
export LD_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
W=$(mktemp -d)
python3 - "$W" <<'PY'
import json, os, sys
d = os.path.join(sys.argv[1], "colors"); os.makedirs(d)
labels = ["red", "blue", "green", "black"]
json.dump({"name": "colors", "type": "classification", "labels": labels}, open(f"{d}/task.json", "w"))
with open(f"{d}/train.jsonl", "w") as f:
    for _ in range(4):
        for l in labels: f.write(json.dumps({"input": "say " + l, "output": l}) + "\n")
with open(f"{d}/test.jsonl", "w") as f:
    for l in labels: f.write(json.dumps({"input": "say " + l, "output": l}) + "\n")
PY
ARGS=(run --model tests/fixtures/models/llama_gqa --task "$W/colors" --method seqft --device cuda --lr 1e-3
      --set optim.max_steps=20 --set eval.scoring=rank --save-checkpoints)
build-cuda/retain "${ARGS[@]}" --out "$W/one" > "$OUT/one.log" 2>&1; echo "plain rc=$?"
build-cuda/retain launch --nproc-per-node 1 -- "${ARGS[@]}" --out "$W/launch" > "$OUT/launch.log" 2>&1; echo "launch rc=$?"
grep "data parallel" "$OUT/launch.log"
torchrun --no-python --nproc-per-node 1 build-cuda/retain "${ARGS[@]}" --out "$W/torchrun" > "$OUT/torchrun.log" 2>&1
echo "torchrun rc=$?"; grep "data parallel" "$OUT/torchrun.log"
for run in launch torchrun; do
  if cmp -s "$W/one/seqft/checkpoints/task_1/model.safetensors" "$W/$run/seqft/checkpoints/task_1/model.safetensors"; then
    echo "$run: parameters bitwise equal to the plain run"
  else
    echo "$run: parameters DIFFER from the plain run"; tail -5 "$OUT/$run.log"
  fi
done
