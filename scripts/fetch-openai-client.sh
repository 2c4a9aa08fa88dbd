#!/usr/bin/env bash
# Fetches the official OpenAI Node client (npm `openai`, pinned) into CACHE_DIR/openai-<version>, once,
# for the `retain serve` tests (tests/serve). Idempotent: a complete install is kept.
# Usage: scripts/fetch-openai-client.sh CACHE_DIR
set -euo pipefail
cache=${1:?usage: fetch-openai-client.sh CACHE_DIR}
version=6.30.1
dest="$cache/openai-$version"
[ -f "$dest/node_modules/openai/package.json" ] && exit 0
mkdir -p "$cache"
work=$(mktemp -d "$cache/.openai-XXXXXX")
trap 'rm -rf "$work"' EXIT
npm install --silent --no-audit --no-fund --prefix "$work" "openai@$version" > /dev/null
rm -rf "$dest" && mv "$work" "$dest"
trap - EXIT
echo "fetched openai $version -> $dest"
