#!/usr/bin/env python3
"""The learnability table of docs/models.md from `evaluate-base.sh`'s runs.

    learnability_table.py LEARN_DIR [--json out.json]

LEARN_DIR/<model>/<task>/seqft/results.json: one task trained alone from the base model (full
fine-tuning), the learning rate chosen on the dev split by `retain run --sweep`. Prints a markdown
table: per task and model the test accuracy after training (rank scoring, whole test split), the base
model's accuracy before training, the chosen lr and the dev accuracy of every candidate.
"""
import json, os, sys

TARGETS = {"food_review": 0.80, "deb_section": 0.70, "wordnet_noun": 0.70, "spam": 0.95, "fortune_topic": 0.45}


def main():
    root = sys.argv[1]
    rows, out = [], {}
    models = sorted(os.listdir(root))
    for task in TARGETS:
        cells = []
        for m in models:
            path = os.path.join(root, m, task, "seqft", "results.json")
            if not os.path.exists(path):
                cells.append("—")
                continue
            r = json.load(open(path))
            sw = r["sweep"]
            test, base = r["matrix"][-1][0], r["matrix"][0][0]
            dev = ", ".join(f"{v} {d:.2f}" for v, d in zip(sw["values"], sw["dev_aa"]))
            out.setdefault(m, {})[task] = {"test": test, "base": base, "lr": sw["chosen"], "dev": dict(zip(sw["values"], sw["dev_aa"]))}
            mark = "✓" if test >= TARGETS[task] else "✗"
            cells.append(f"**{test:.3f}** {mark} (base {base:.3f}; lr {sw['chosen']}; dev {dev})")
        rows.append(f"| {task} | ≥ {TARGETS[task]:.2f} | " + " | ".join(cells) + " |")
    print("| task | target | " + " | ".join(models) + " |")
    print("|---|---|" + "---|" * len(models))
    print("\n".join(rows))
    if len(sys.argv) > 3 and sys.argv[2] == "--json":
        json.dump(out, open(sys.argv[3], "w"), indent=1)


if __name__ == "__main__":
    main()
