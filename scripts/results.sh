#!/usr/bin/env bash
# The results table of docs/results.md (issue 15): every registered method on core5 (3 seeds), long15
# and gen4 (seed 0) from models/retain-small, on the GPU machine. One process per (method, suite,
# seed), JOBS of them at once on the one GPU; every run folder is resumable, so a phase cut short by
# a time limit continues where it stopped when it is started again on the same machine.
#
#   scripts/results.sh sweep      # core5, seed 0: each method's learning rate chosen on the dev split
#   scripts/results.sh seeds      # core5, seeds 1 and 2, with the learning rate seed 0 chose
#   scripts/results.sh long       # long15 and gen4, seed 0, with the same learning rate
#   scripts/results.sh all        # the three above as one pipeline: a method's seeds and long runs
#                                 # start as soon as its sweep has chosen, JOBS runs at a time in all
#   scripts/results.sh probe      # core5 seed 0 variants that test why an ordering fails (PROBES below),
#                                 # started without waiting, so `probe seeds` shares the JOBS slots
#   scripts/results.sh collect    # results/<suite>/<method>/seed<k>/ and results/<suite>/summary.json
#
# Protocol (the same for every method): batch 32, optim.max_steps = 100 optimizer steps per task
# (3.2 epochs of a 1,000-example task; mtl's stage t gets (t + 1) × 100 on the union of tasks 1..t,
# so that every method has seen the same examples), linear decay after 5% warm-up, no weight decay,
# clipping 1.0, float32, prompts cut to 256 tokens; rank scoring on the whole test split (core5,
# long15), greedy generation scored by each task's metric on the first 100 test examples (gen4);
# general-text LM loss after every task. The sweep runs on core5 seed 0 only; its choice is reused
# for the other seeds and suites. Adapter methods sweep {3e-4, 1e-3, 3e-3}, full-weight methods
# {3e-5, 1e-4, 3e-4} (retain-small's single-task optimum for full fine-tuning is 1e-4 – 3e-4,
# docs/models.md).
#
# Environment: R (retain binary, default build-cuda/retain), MODEL, SUITES (folder of core5/,
# long15/, gen4/ from `retain data build`), RUNS (run folders, default runs/results), RESULTS
# (committed files, default results), DEVICE (cuda), JOBS (processes at once, default 13),
# METHODS (default: all 13), LONG_SUITES (phase long: "long15 gen4"), PROBES (phase probe), EXTRA (more `retain run` arguments, after the phase's own).
set -uo pipefail
cd "$(dirname "$0")/.."
R=${R:-./build-cuda/retain}
MODEL=${MODEL:-models/retain-small}
SUITES=${SUITES:-.cache/suites}
RUNS=${RUNS:-runs/results}
RESULTS=${RESULTS:-results}
DEVICE=${DEVICE:-cuda}
JOBS=${JOBS:-13}
METHODS=${METHODS:-asr seta osft seqft seqlora inclora olora inflora ewc lwf replay mtl pertask}
STEPS=${STEPS:-100}
LONG_SUITES=${LONG_SUITES:-long15 gen4}  # what phase long runs
ADAPTER_LRS=${ADAPTER_LRS:-3e-4,1e-3,3e-3}
FULL_LRS=${FULL_LRS:-3e-5,1e-4,3e-4}

common=(--device "$DEVICE"
        --set run.dtype=float32 --set run.max_length=256
        --set optim.batch_size=32 --set optim.max_steps="$STEPS" --set optim.schedule=linear
        --set optim.warmup_ratio=0.05 --set optim.weight_decay=0 --set optim.max_grad_norm=1.0
        --set eval.batch_size=32)
read -r -a extra <<< "${EXTRA:-}"  # more `retain run` arguments for every run (smoke tests: a few steps)
rank_eval=(--set eval.scoring=rank --set eval.max_examples=0)
gen_eval=(--set eval.scoring=generate --set eval.max_examples=100 --set eval.max_new_tokens=48)

lrs_of() {  # the sweep values of a method's family
  case $1 in seqft | osft | ewc | lwf | replay | mtl) echo "$FULL_LRS" ;; *) echo "$ADAPTER_LRS" ;; esac
}

tasks_of() {  # --task arguments of a suite, in its order
  local suite=$1
  [ -f "$SUITES/$suite/tasks.txt" ] || { echo "results.sh: $SUITES/$suite/tasks.txt not found (retain data build --suite $suite)" >&2; exit 2; }
  sed "s|^|--task $SUITES/$suite/|" "$SUITES/$suite/tasks.txt"
}

chosen_lr() {  # the learning rate the core5 seed-0 sweep chose for a method (this machine's run, else the committed one)
  local f=$RUNS/core5/$1/seed0/$1/results.json
  [ -f "$f" ] || f=$RESULTS/core5/$1/seed0/results.json
  [ -f "$f" ] || { echo "results.sh: neither $RUNS/core5/$1/seed0/$1/results.json nor $f found: run the sweep phase first" >&2; return 1; }
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sweep"]["chosen"])' "$f"
}

# `run_into DIR METHOD SUITE SEED LABEL ARGS...`: one `retain run` into DIR, skipped when finished,
# resumed when started; prints LABEL and its exit status.
run_into() {
  local dir=$1 method=$2 suite=$3 seed=$4 label=$5; shift 5
  [ -f "$dir/$method/results.json" ] && return 0
  mkdir -p "$dir"
  local how=(--overwrite)
  [ -f "$dir/config.json" ] && how=(--resume "$dir")
  # shellcheck disable=SC2046
  OMP_NUM_THREADS=1 "$R" run --model "$MODEL" $(tasks_of "$suite") --method "$method" --out "$dir" \
    "${how[@]}" "${common[@]}" --set run.seed="$seed" "$@" "${extra[@]}" > "$dir/table.txt" 2>> "$dir/log.txt"
  echo "$(date +%T) $label rc=$?"
}

# One run of the table: method, suite, seed, then extra arguments.
one_run() {
  local method=$1 suite=$2 seed=$3; shift 3
  run_into "$RUNS/$suite/$method/seed$seed" "$method" "$suite" "$seed" "$suite $method seed$seed" "$@"
}

throttle() { while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done; }

# `in_slot CMD...`: runs CMD holding one of JOBS lock files, so that runs started from different
# subshells (phase all) never exceed JOBS at once.
in_slot() {
  mkdir -p "$RUNS/.slots"
  while true; do
    for i in $(seq 1 "$JOBS"); do
      exec {fd}> "$RUNS/.slots/$i"
      if flock -n "$fd"; then
        "$@"; local rc=$?
        exec {fd}>&-
        return $rc
      fi
      exec {fd}>&-
    done
    sleep 2
  done
}

phase_sweep() {
  for m in $METHODS; do throttle; one_run "$m" core5 0 "${rank_eval[@]}" --sweep "optim.lr=$(lrs_of "$m")" & done
  wait
}

phase_seeds() {
  for seed in 1 2; do
    for m in $METHODS; do
      lr=$(chosen_lr "$m") || continue
      throttle; one_run "$m" core5 "$seed" "${rank_eval[@]}" --set "optim.lr=$lr" &
    done
  done
  wait
}

phase_long() {
  for m in $METHODS; do
    lr=$(chosen_lr "$m") || continue
    case " $LONG_SUITES " in *" long15 "*) throttle; one_run "$m" long15 0 "${rank_eval[@]}" --set "optim.lr=$lr" & ;; esac
    case " $LONG_SUITES " in *" gen4 "*) throttle; one_run "$m" gen4 0 "${gen_eval[@]}" --set "optim.lr=$lr" & ;; esac
  done
  wait
}

# Probes: "name method lr settings..." per line; each runs core5 seed 0 into $RUNS/probes/<name>/seed0
# (collected to results/probes/<name>/seed0, tabled by `results_table.py --probes`). PROBES replaces the
# list. Why each exists is in docs/results.md.
DEFAULT_PROBES="osft-freeze osft 3e-4 method.osft.non_target=freeze
osft-fixed90 osft 3e-4 method.osft.rank_rule=fixed method.osft.ratio=0.9
osft-fixed90-freeze osft 3e-4 method.osft.rank_rule=fixed method.osft.ratio=0.9 method.osft.non_target=freeze
asr-1e-2 asr 1e-2
pertask-1e-2 pertask 1e-2"
PROBES=${PROBES:-$DEFAULT_PROBES}

probe_run() {  # name method lr settings...
  local name=$1 method=$2 lr=$3 sets=(); shift 3
  for kv in "$@"; do sets+=(--set "$kv"); done
  run_into "$RUNS/probes/$name/seed0" "$method" core5 0 "probe $name" "${rank_eval[@]}" --set "optim.lr=$lr" "${sets[@]}"
}

phase_probe() {
  local line
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    read -r -a words <<< "$line"
    throttle; probe_run "${words[@]}" &
  done <<< "$PROBES"
}

# Per method: the sweep, then (in parallel) seeds 1 and 2, long15 and gen4 with the value it chose.
method_chain() {
  local m=$1 lr
  in_slot one_run "$m" core5 0 "${rank_eval[@]}" --sweep "optim.lr=$(lrs_of "$m")"
  lr=$(chosen_lr "$m") || return 1
  in_slot one_run "$m" core5 1 "${rank_eval[@]}" --set "optim.lr=$lr" &
  in_slot one_run "$m" core5 2 "${rank_eval[@]}" --set "optim.lr=$lr" &
  in_slot one_run "$m" long15 0 "${rank_eval[@]}" --set "optim.lr=$lr" &
  in_slot one_run "$m" gen4 0 "${gen_eval[@]}" --set "optim.lr=$lr" &
  wait
}

phase_all() {
  for m in $METHODS; do method_chain "$m" & sleep 1; done
  wait
}

# The small files of every finished run: results.json, matrix.csv and the run's config.json.
phase_collect() {
  mkdir -p "$RESULTS"
  for f in "$RUNS"/*/*/seed*/*/results.json; do  # probes/<name>/seed0/<method>/ too
    [ -f "$f" ] || continue
    local mdir run suite method seed
    mdir=$(dirname "$f"); run=$(dirname "$mdir"); seed=$(basename "$run")
    method=$(basename "$(dirname "$run")"); suite=$(basename "$(dirname "$(dirname "$run")")")
    local to=$RESULTS/$suite/$method/$seed
    mkdir -p "$to"
    cp "$f" "$mdir/matrix.csv" "$to/"
    cp "$run/config.json" "$to/run-config.json"
    [ -f "$run/table.txt" ] && cp "$run/table.txt" "$to/"
  done
  # Runs cut before their last task: the rows they scored (results_table.py --partial).
  for f in "$RUNS"/*/*/seed*/*/progress.json; do
    [ -f "$f" ] && [ ! -f "$(dirname "$f")/results.json" ] || continue
    local mdir run
    mdir=$(dirname "$f"); run=$(dirname "$mdir")
    local to=$RESULTS/$(basename "$(dirname "$(dirname "$run")")")/$(basename "$(dirname "$run")")/$(basename "$run")
    mkdir -p "$to" && cp "$f" "$to/"
  done
  python3 scripts/results_table.py --results "$RESULTS" --summaries
}

[ $# -gt 0 ] || { sed -n '2,27p' "$0"; exit 2; }
start=$(date +%s)
for phase in "$@"; do
  case $phase in
    sweep | seeds | long | all | probe | collect) "phase_$phase" ;;
    *) echo "results.sh: unknown phase \"$phase\" (sweep | seeds | long | all | probe | collect)" >&2; exit 2 ;;
  esac
  echo "results.sh: $phase done at $(( $(date +%s) - start )) s"
done
wait  # the probes' runs
echo "results.sh: all phases done at $(( $(date +%s) - start )) s"
