#!/usr/bin/env python3
"""How far transformers' own bfloat16 CUDA logits are from its float64 reference, per fixture.

The oracle for retain's bf16 tolerance: retain in bf16 should be about as accurate as transformers
in bf16 on the same GPU. Writes FIXTURES_DIR/hf_bf16_error.json ({name: relative error}), which
tests/gpu/test_cuda.cpp reads, and prints it.
    python3 tests/reference/hf_bf16_error.py [FIXTURES_DIR]
"""
import json, os, sys
import torch, transformers
from safetensors.torch import load_file

root = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
cases = [("models", m, None) for m in ("llama_gqa", "llama_sharded", "qwen2", "qwen3", "mistral")]
cases += [("adapters", a, a) for a in ("lora_qv", "lora_patterns")]
errors = {}
for kind, name, adapter in cases:
    base = os.path.join(root, "models", "llama_gqa" if adapter else name)
    model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16).cuda()
    if adapter:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, os.path.join(root, "adapters", adapter)).to(torch.bfloat16)
    model.eval()
    ref = load_file(os.path.join(root, kind, name + ".reference.safetensors"))
    worst = 0.0
    with torch.no_grad():
        i = 0
        while f"input.{i}" in ref:
            got = model(input_ids=ref[f"input.{i}"][None].cuda()).logits[0].double().cpu()
            want = ref[f"logits.{i}"]
            worst = max(worst, ((got - want).norm() / want.norm()).item())
            i += 1
    errors[name] = worst
errors["_about"] = ("max over the fixture inputs of ||logits - reference|| / ||reference||, transformers "
                    f"{transformers.__version__} in bfloat16 on {torch.cuda.get_device_name()}")
with open(os.path.join(root, "hf_bf16_error.json"), "w") as f:
    json.dump(errors, f, indent=1)
print(json.dumps(errors, indent=1))
