#!/usr/bin/env python3
"""Held-out perplexity of base models on the same documents, comparable across tokenizers.

    heldout_perplexity.py --heldout general_text.jsonl --corpus CORPUS/text \
        --model retain-tiny=models/retain-tiny --model retain-small=models/retain-small [--out ppl.json]

Each held-out document (one {"text"} line, as `retain pretrain --general-text-only` writes them) is
framed as pretraining frames it, [bos] ids [eos], and scored by transformers in float32 in
non-overlapping windows of --window tokens (every token after the first is predicted once). Token
perplexity depends on the tokenizer; per-word perplexity (exp of the summed loss over
whitespace-separated words) and bits per UTF-8 byte do not, so models with different tokenizers can
be compared on them. Documents are grouped by the corpus file that holds them (`--corpus`), and
summarised for all documents, for the shards --seen names (a model may have trained on them) and
for the rest.
"""
import argparse, json, math, os, sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

SEEN_BY_TINY = "austen,debian_descriptions,foldoc,fortunes,gcide,jargon,wordnet"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--heldout", required=True)
    p.add_argument("--corpus", required=True, help="the corpus' text/ folder (to name each document's shard)")
    p.add_argument("--model", action="append", required=True, help="NAME=FOLDER (repeatable)")
    p.add_argument("--seen", default=SEEN_BY_TINY, help="shards retain-tiny's corpus had (comma-separated)")
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out")
    a = p.parse_args()

    docs = []
    with open(a.heldout, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                docs.append(json.loads(line)["text"])
            except (ValueError, KeyError) as e:
                sys.exit(f"{a.heldout}:{n}: expected a {{\"text\": ...}} line ({e})")
    wanted = set(docs)
    shard_of = {}
    for name in sorted(os.listdir(a.corpus)):
        with open(os.path.join(a.corpus, name), encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line in wanted and line not in shard_of:
                    shard_of[line] = name.rsplit(".", 1)[0]
    missing = [d for d in docs if d not in shard_of]
    if missing:
        sys.exit(f"{len(missing)} held-out documents are in no file of {a.corpus}: {missing[0][:80]!r}")
    shards = [shard_of[d] for d in docs]
    seen = set(a.seen.split(","))
    words = [len(d.split()) for d in docs]
    nbytes = [len(d.encode("utf-8")) for d in docs]

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    result = {"documents": len(docs), "window": a.window, "seen_shards": sorted(seen), "models": {}}
    for spec in a.model:
        name, folder = spec.split("=", 1)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).to(dev).eval()
        bos, eos = cfg["bos_token_id"], cfg["eos_token_id"]
        # Windows: (document index, ids of length <= window + 1); predicted tokens = len - 1.
        windows = []
        for i, d in enumerate(docs):
            ids = [bos] + tok.encode(d, add_special_tokens=False).ids + [eos]
            for s in range(0, len(ids) - 1, a.window):
                windows.append((i, ids[s : s + a.window + 1]))
        windows.sort(key=lambda w: len(w[1]))
        nll = [0.0] * len(docs)
        ntok = [0] * len(docs)
        with torch.no_grad():
            for b in range(0, len(windows), a.batch):
                chunk = windows[b : b + a.batch]
                width = max(len(w) for _, w in chunk) - 1
                inp = torch.zeros(len(chunk), width, dtype=torch.long)
                tgt = torch.full((len(chunk), width), -100, dtype=torch.long)
                mask = torch.zeros(len(chunk), width, dtype=torch.long)
                for r, (_, w) in enumerate(chunk):
                    n = len(w) - 1
                    inp[r, :n] = torch.tensor(w[:-1])
                    tgt[r, :n] = torch.tensor(w[1:])
                    mask[r, :n] = 1
                logits = model(input_ids=inp.to(dev), attention_mask=mask.to(dev)).logits.float()
                loss = torch.nn.functional.cross_entropy(
                    logits.transpose(1, 2), tgt.to(dev), ignore_index=-100, reduction="none").sum(1).cpu()
                for r, (i, w) in enumerate(chunk):
                    nll[i] += float(loss[r])
                    ntok[i] += len(w) - 1

        def summary(sel):
            L = sum(nll[i] for i in sel)
            T = sum(ntok[i] for i in sel)
            W = sum(words[i] for i in sel)
            B = sum(nbytes[i] for i in sel)
            return {"documents": len(sel), "tokens": T, "words": W, "bytes": B, "nll_nats": round(L, 3),
                    "token_ppl": round(math.exp(L / T), 3), "word_ppl": round(math.exp(L / W), 3),
                    "bits_per_byte": round(L / math.log(2) / B, 4)}

        allidx = range(len(docs))
        groups = {"all": summary(list(allidx)),
                  "unseen_by_tiny": summary([i for i in allidx if shards[i] not in seen]),
                  "tiny_sources": summary([i for i in allidx if shards[i] in seen])}
        groups["shards"] = {s: summary([i for i in allidx if shards[i] == s]) for s in sorted(set(shards))}
        result["models"][name] = groups
        print(f"{name}: all {groups['all']}\n  unseen by retain-tiny {groups['unseen_by_tiny']}", flush=True)
        del model
    if a.out:
        tmp = a.out + ".tmp"
        json.dump(result, open(tmp, "w"), indent=1)
        os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
