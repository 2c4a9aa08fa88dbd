#!/usr/bin/env python3
"""Checks that a model folder written by retain loads in Hugging Face transformers (and, with
--adapter, in peft) and gives the logits retain computed for it.

    python3 tests/reference/check_transformers_roundtrip.py MODEL_DIR IDS.jsonl LOGITS.safetensors [--adapter DIR]

IDS.jsonl has lines {"ids": [...]}; LOGITS.safetensors is `retain forward` output (logits.<i>).
Exits non-zero when transformers refuses the folder or a relative error exceeds 1e-4 (float32).
"""
import argparse, json, sys
import torch
import transformers
from safetensors.torch import load_file

ap = argparse.ArgumentParser()
ap.add_argument("model"); ap.add_argument("ids"); ap.add_argument("logits"); ap.add_argument("--adapter")
args = ap.parse_args()
model = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float64, attn_implementation="eager")
if args.adapter:
    from peft import PeftModel
    model = PeftModel.from_pretrained(model, args.adapter).double()
model.eval()
ours = load_file(args.logits)
worst = 0.0
with open(args.ids) as f:
    rows = [json.loads(line)["ids"] for line in f if line.strip()]
with torch.no_grad():
    for i, ids in enumerate(rows):
        ref = model(input_ids=torch.tensor([ids])).logits[0]
        got = ours[f"logits.{i}"].double()
        worst = max(worst, ((got - ref).norm() / ref.norm()).item())
print(json.dumps({"model": args.model, "adapter": args.adapter, "sequences": len(rows), "max_relative_error": worst}))
sys.exit(0 if worst < 1e-4 else 1)
