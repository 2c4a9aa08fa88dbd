#!/usr/bin/env python3
"""The peer side of docs/fidelity.md: runs a `retain plan` through Hugging Face transformers / PEFT.

    python3 bench/peers/fidelity_peer.py --plan PLAN_DIR --method seqft|seqlora|osft --out peer.json

The plan (retain plan, include/retain/train/plan.h) fixes everything a run depends on: the tokenized
examples, each optimizer step's micro-batches and learning rate, the AdamW settings, the test
candidates. What each method is here:

  seqft    transformers full fine-tuning: every parameter trains, task after task.
  seqlora  PEFT LoRA, loaded from PLAN_DIR/initial/adapter (retain's initial A and B = 0, so both
           start from the same values) with is_trainable=True, trained task after task.
  osft     PEFT OSF (peft.OSFConfig) with effective_rank = the plan's method ratio (a fraction: PEFT
           freezes int(min(m, n) · ratio) top singular directions, as retain's rank_rule = fixed),
           re-decomposed at every task start: merge_and_unload(safe_merge=True), then get_peft_model
           again on the merged weights.

The loop, as retain's train/trainer.h: per step, per micro-batch the summed next-token cross-entropy
of the answer tokens divided by the step's answer tokens, backward; gradient clipping
(clip_grad_norm_); torch.optim.AdamW (fused on CUDA), a fresh optimizer per task; the learning
rate from transformers.get_scheduler, checked against the plan's value at every step.

Scoring, before the first task and after each: every test example's label candidates ranked by the
summed log-likelihood of their answer tokens; the accuracy is the share whose best candidate is the
right label (retain's eval.scoring = rank).

With --from-retain RUN_DIR (a `retain run --save-checkpoints` folder of the same plan), every task
after the first starts from retain's weights after the task before (its checkpoint), not from the
peer's own: each task is then compared from one shared starting point, so that rounding differences
cannot compound over the sequence (the "restarted" mode of docs/fidelity.md). Row k of the matrix is
still the peer's own model after training task k.

Writes OUT (JSON): {"mode": "chained" | "restarted", ... {"method", "losses": [[per step] per task], "matrix": [[T] × (T + 1)],
"lr_max_rel_diff", "seconds", "leakage": [per task] (osft: ‖U_hᵀ ΔW‖ / ‖ΔW‖ over the target
matrices, U_h the frozen directions at the task's start)}.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F


def load_model(path, device):
    from transformers import AutoModelForCausalLM
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    except TypeError:  # transformers 4
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
    return model.to(device)


def pad_rows(rows, pad, device):
    width = max(len(r["ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["ids"])
        ids[i, :n] = torch.tensor(r["ids"])
        mask[i, :n] = 1
        labels[i, r["prompt_length"]:n] = torch.tensor(r["ids"][r["prompt_length"]:])
    return ids.to(device), mask.to(device), labels.to(device)


def loss_sum(model, rows, pad, device):
    ids, mask, labels = pad_rows(rows, pad, device)
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    target = labels[:, 1:]
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=-100,
                           reduction="sum"), int((target != -100).sum())


@torch.no_grad()
def score(model, task, pad, device, batch_examples=32):
    model.eval()
    right = 0
    tests = task["test"]
    for first in range(0, len(tests), batch_examples):
        chunk = tests[first:first + batch_examples]
        rows = [c for t in chunk for c in t["candidates"]]
        ids, mask, labels = pad_rows(rows, pad, device)
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        target = labels[:, 1:]
        picked = logp[:, :-1].gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        sums = (picked * (target != -100)).sum(-1).view(len(chunk), -1).double().cpu()
        for t, row in zip(chunk, sums):
            right += int(int(torch.argmax(row)) == t["answer"])  # torch.argmax: the first maximum on ties
    model.train()
    return right / len(tests)


def scheduler_name(schedule):
    return {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[schedule]


def osf_leakage(before, after, ranks):
    """‖U_hᵀ (W_after − W_before)‖ / ‖W_after − W_before‖ over all target matrices together."""
    num = den = 0.0
    for name, w0 in before.items():
        k = ranks[name]
        if k == 0:
            continue
        dw = after[name].double() - w0.double()
        u = torch.linalg.svd(w0.double(), full_matrices=False)[0][:, :k]
        num += float((u.T @ dw).norm() ** 2)
        den += float(dw.norm() ** 2)
    return math.sqrt(num / den) if den > 0 else 0.0


def target_weights(model, targets):
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and any(name == t or name.endswith("." + t) for t in targets):
            out[name] = module.weight.detach().clone()
    return out


def load_retain_state(model, method, checkpoint):
    """The weights retain had after a task (its --save-checkpoints folder), into the peer's model."""
    from safetensors.torch import load_file
    if method == "seqlora":
        from peft import set_peft_model_state_dict
        result = set_peft_model_state_dict(model, load_file(os.path.join(checkpoint, "adapter", "adapter_model.safetensors")))
        unexpected = getattr(result, "unexpected_keys", [])
        assert not unexpected, f"adapter tensors PEFT did not take: {unexpected[:5]}"
        return
    state = load_file(os.path.join(checkpoint, "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected, f"tensors the model did not take: {unexpected[:5]}"
    assert all(m == "lm_head.weight" for m in missing), f"tensors retain's checkpoint lacks: {missing[:5]}"  # tied


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True, help="folder written by retain plan")
    ap.add_argument("--method", required=True, choices=["seqft", "seqlora", "osft"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--from-retain", help="retain run folder: start each task from retain's checkpoint of the task before")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 as retain computes it
    torch.backends.cudnn.allow_tf32 = False
    with open(os.path.join(args.plan, "plan.json")) as f:
        plan = json.load(f)
    device = torch.device(args.device)
    pad = plan["pad_token_id"]
    o = plan["optim"]
    from transformers import get_scheduler

    model = load_model(plan["model"], device)
    settings = plan["method_settings"]
    if args.method == "seqlora":
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, os.path.join(args.plan, "initial", "adapter"), is_trainable=True)
    tasks = plan["tasks"]
    matrix = [[score(model, t, pad, device) for t in tasks]]
    losses, leakage, lr_diff = [], [], 0.0
    started = time.time()
    for k, task in enumerate(tasks):
        if args.from_retain and k > 0:
            load_retain_state(model, args.method, os.path.join(args.from_retain, args.method, "checkpoints", f"task_{k}"))
        ranks = {}
        if args.method == "osft":
            from peft import OSFConfig, get_peft_model
            targets = settings["targets"]
            before = target_weights(model, targets)
            ranks = {n: int(min(w.shape) * settings["ratio"]) for n, w in before.items()}
            model = get_peft_model(model, OSFConfig(effective_rank=settings["ratio"], target_modules=targets))
        params = [p for p in model.parameters() if p.requires_grad]
        if args.method == "seqft":
            for p in model.parameters():
                p.requires_grad_(True)
            params = list(model.parameters())
        optimizer = torch.optim.AdamW(params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                                      weight_decay=o["weight_decay"], fused=device.type == "cuda")
        total = len(task["steps"])
        warmup = math.ceil(o["warmup_ratio"] * total)  # transformers' TrainingArguments.get_warmup_steps
        scheduler = get_scheduler(scheduler_name(o["schedule"]), optimizer, num_warmup_steps=warmup,
                                  num_training_steps=total)
        model.train()
        curve = []
        examples = task["examples"]
        for step in task["steps"]:
            lr = optimizer.param_groups[0]["lr"]
            lr_diff = max(lr_diff, abs(lr - step["lr"]) / max(step["lr"], 1e-30))
            micro = [[examples[i] for i in mb] for mb in step["micro_batches"]]
            targets = sum(sum(len(r["ids"]) - r["prompt_length"] for r in rows) for rows in micro)
            step_loss = 0.0
            for rows in micro:
                s, _ = loss_sum(model, rows, pad, device)
                (s / targets).backward()
                step_loss += float(s)
            if o["max_grad_norm"] > 0:
                torch.nn.utils.clip_grad_norm_(params, o["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            curve.append(step_loss / targets)
        losses.append(curve)
        if args.method == "osft":
            model = model.merge_and_unload(safe_merge=True)
            leakage.append(osf_leakage(before, target_weights(model, settings["targets"]), ranks))
        matrix.append([score(model, t, pad, device) for t in tasks])
        print(f"{args.method} {task['name']}: loss {curve[0]:.4f} -> {curve[-1]:.4f}, accuracy {matrix[-1]}", flush=True)
    out = {"method": args.method, "mode": "restarted" if args.from_retain else "chained", "losses": losses, "matrix": matrix, "lr_max_rel_diff": lr_diff,
           "seconds": time.time() - started, "leakage": leakage}
    with open(args.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
