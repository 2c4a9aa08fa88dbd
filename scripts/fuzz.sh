#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/, built by `cmake --preset fuzz`) for FUZZ_SECONDS each, one after
# the other, seeded from fuzz/seeds/NAME.txt and fuzz/corpus/NAME/ (fuzz/seeds/README.md); prints one
# line per target (executions, coverage, corpus size, findings) and writes build-fuzz/fuzz-summary.md.
# Exits 1 if any target found something: its input is in build-fuzz/findings/NAME/.
#   scripts/fuzz.sh [NAME...]        (default: every target built)      FUZZ_SECONDS (default 60)
#   FUZZ_JOBS=2 runs two targets at once.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for b in "$BUILD"/fuzz/fuzz_*; do [ -x "$b" ] && names+=("$(basename "$b" | sed 's/^fuzz_//')"); done
fi
[ ${#names[@]} -gt 0 ] || { echo "fuzz.sh: no targets in $BUILD/fuzz (cmake --preset fuzz && cmake --build build-fuzz --target fuzzers)" >&2; exit 2; }
# The byte-level round trip of tokenizer_encode uses Llama-3's tokenizer.json when the npm test cache has it.
LLAMA3=${RETAIN_TEST_CACHE_DIR:-$HOME/.cache/retain/npm}/llama3/tokenizer.json
[ -f "$LLAMA3" ] && export RETAIN_FUZZ_TOKENIZER=$LLAMA3

one() {
  local name=$1 bin=$BUILD/fuzz/fuzz_$1
  [ -x "$bin" ] || { echo "$name: $bin not built" > "$BUILD/fuzz-logs/$name.line"; return; }
  local seeds=$BUILD/seeds/$name corpus=$BUILD/corpus/$name findings=$BUILD/findings/$name
  rm -rf "$seeds"; mkdir -p "$seeds" "$corpus" "$findings"
  if [ -f "fuzz/seeds/$name.txt" ]; then
    # A line is a glob, or "@N glob": the files with the byte N put before them (the targets whose
    # first byte picks a reader or a file: text_formats, task_files).
    while read -r first rest; do
      [ -n "$first" ] || continue
      local byte="" pattern=$first
      case $first in @*) byte=${first#@}; pattern=$rest ;; esac
      for f in $pattern; do
        [ -f "$f" ] || continue
        local to=$seeds/${byte:+$byte-}$(echo "$f" | tr '/' '_')
        if [ -n "$byte" ]; then { printf "\\$(printf '%03o' "$byte")"; cat "$f"; } > "$to"; else cp "$f" "$to"; fi
      done
    done < "fuzz/seeds/$name.txt"
  fi
  [ -d "fuzz/corpus/$name" ] && cp fuzz/corpus/"$name"/* "$seeds/" 2>/dev/null
  local log=$BUILD/fuzz-logs/$name.log
  "$bin" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=3072 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$corpus" "$seeds" > "$log" 2>&1
  local rc=$?
  local execs cov units found
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  units=$(find "$corpus" -type f | wc -l)
  found=$(find "$findings" -type f | wc -l)
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "${execs:-?}" "$SECONDS_EACH" "${cov:-?}" "$units" \
    "$([ "$rc" -eq 0 ] && echo none || echo "rc $rc, $found file(s): $(grep -m1 -E 'ERROR|SUMMARY|uncaught|deadly' "$log" | cut -c1-120)")" \
    > "$BUILD/fuzz-logs/$name.line"
}

mkdir -p "$BUILD/fuzz-logs"
for name in "${names[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  one "$name" &
done
wait
{
  echo "| target | executions | seconds | coverage (edges) | corpus files | findings |"
  echo "|---|---|---|---|---|---|"
  for name in "${names[@]}"; do cat "$BUILD/fuzz-logs/$name.line"; done
} | tee "$BUILD/fuzz-summary.md"
! grep -q "rc [1-9]" "$BUILD/fuzz-summary.md"
