#!/usr/bin/env bash
# docs/fidelity.md, in one GPU call: retain against transformers / PEFT on the same task sequence.
#   scripts/gpu-fidelity.sh SUITE_DIR        (a core5 folder from `retain data build --suite core5`)
# For each of seqft, seqlora and osft (rank_rule = fixed): `retain plan` writes what the run trains on
# and scores; `retain run` trains it on CUDA in float32; bench/peers/fidelity_peer.py runs the same
# plan through transformers (full fine-tuning), PEFT LoRA and PEFT OSF; fidelity_compare.py puts
# them side by side. Expects build-cuda/retain (scripts/gpu-check.sh builds it). Results: $OUT/fidelity.
set -uo pipefail
cd "$(dirname "$0")/.."
SUITE=${1:?usage: scripts/gpu-fidelity.sh SUITE_DIR}
OUT=${OUT:-/tmp/retain-fidelity}/fidelity
MODEL=${MODEL:-models/retain-tiny}
mkdir -p "$OUT"
tasks=()
while read -r t; do tasks+=(--task "$SUITE/$t"); done < "$SUITE/tasks.txt"
# One protocol for both sides. Per-method learning rates (full fine-tuning and adapters differ).
common=(--set run.dtype=float32 --set run.max_length=256 --set run.seed=0
        --set optim.batch_size=16 --set optim.max_steps=${STEPS:-100} --set optim.schedule=linear
        --set optim.warmup_ratio=0.05 --set optim.weight_decay=0 --set optim.max_grad_norm=1.0
        --set eval.scoring=rank --set eval.max_examples=200 --set eval.batch_size=16 --set eval.general_text=off
        --set method.seqft.lr=5e-4 --set method.seqlora.lr=5e-3 --set method.osft.lr=5e-4
        --set method.osft.rank_rule=fixed --set method.osft.ratio=0.5 --set method.osft.non_target=freeze
        --set method.osft.projection=strict --set method.osft.basis_dtype=float32)
for m in seqft seqlora osft; do
  ./build-cuda/retain plan --model "$MODEL" --method "$m" --out "$OUT/plan_$m" "${tasks[@]}" "${common[@]}" 2>> "$OUT/plan.log" ||
    { tail -5 "$OUT/plan.log"; exit 1; }
done
start=$(date +%s)
./build-cuda/retain run --model "$MODEL" --method seqft --method seqlora --method osft --device cuda --save-checkpoints \
  --out "$OUT/retain" --overwrite "${tasks[@]}" "${common[@]}" > "$OUT/retain_table.txt" 2> "$OUT/retain.log" ||
  { tail -20 "$OUT/retain.log"; exit 1; }
echo "retain: $(( $(date +%s) - start )) s"; cat "$OUT/retain_table.txt"
# Chained: the peer runs the whole sequence on its own. Restarted: each task after the first starts
# from retain's weights after the task before, so rounding differences cannot compound.
peers=()
for m in seqft seqlora osft; do
  for mode in chained restarted; do
    extra=(); [ "$mode" = restarted ] && extra=(--from-retain "$OUT/retain")
    start=$(date +%s)
    python3 bench/peers/fidelity_peer.py --plan "$OUT/plan_$m" --method "$m" --out "$OUT/peer_${m}_$mode.json" "${extra[@]}" \
      > "$OUT/peer_${m}_$mode.log" 2>&1 || { grep -v Warning "$OUT/peer_${m}_$mode.log" | tail -20; }
    echo "peer $m $mode: $(( $(date +%s) - start )) s"
    peers+=(--peer "$m=$OUT/peer_${m}_$mode.json")
  done
done
python3 bench/peers/fidelity_compare.py --retain "$OUT/retain" "${peers[@]}" --json "$OUT/checks.json" > "$OUT/fidelity.md" ||
  echo "compare failed"
cat "$OUT/checks.json" 2>/dev/null
# The plans are large; keep the small files.
rm -rf "$OUT"/plan_*/plan.json "$OUT"/retain/*/checkpoints
