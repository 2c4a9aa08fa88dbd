#!/usr/bin/env python3
"""How much of each test text of a suite appears in a pretraining corpus (PROVENANCE.md's overlap check).

    overlap_check.py CORPUS/text SUITE_DIR [SUITE_DIR...]

For every test example (input and output), the share of its distinct 8-token shingles found anywhere
in the corpus; tokens are lower-cased alphanumeric runs, as in the corpus builder's rule
(`docs/data.md`). Prints per task the largest share and how many texts reach 50%. Texts shorter
than 8 tokens have no shingle and are not counted.
"""
import json, os, re, sys

TOKEN = re.compile(r"[a-z0-9]+")


def shingles(text):
    t = TOKEN.findall(text.lower())
    return {tuple(t[i:i + 8]) for i in range(len(t) - 7)}


def main():
    corpus, suites = sys.argv[1], sys.argv[2:]
    texts = []  # (suite/task, shingle set)
    for s in suites:
        for task in open(os.path.join(s, "tasks.txt")).read().split():
            for line in open(os.path.join(s, task, "test.jsonl"), encoding="utf-8"):
                ex = json.loads(line)
                for field in ("input", "output"):
                    sh = shingles(str(ex.get(field, "")))
                    if sh:
                        texts.append((f"{os.path.basename(s.rstrip('/'))}/{task}", sh))
    wanted = set().union(*(sh for _, sh in texts))
    found = set()
    for name in sorted(os.listdir(corpus)):
        for line in open(os.path.join(corpus, name), encoding="utf-8"):
            t = TOKEN.findall(line.lower())
            for i in range(len(t) - 7):
                g = tuple(t[i:i + 8])
                if g in wanted:
                    found.add(g)
    per_task = {}
    for task, sh in texts:
        share = len(sh & found) / len(sh)
        n, mx, half = per_task.get(task, (0, 0.0, 0))
        per_task[task] = (n + 1, max(mx, share), half + (share >= 0.5))
    print("| task | texts with shingles | max share in corpus | texts ≥ 50% |\n|---|---|---|---|")
    for task, (n, mx, half) in per_task.items():
        print(f"| {task} | {n} | {mx:.2f} | {half} |")


if __name__ == "__main__":
    main()
