#!/usr/bin/env python3
"""Compare retain's token ids with Hugging Face `tokenizers` on a tokenizer.json and a text file.

Usage:
  python3 scripts/check_tokenizer_hf.py TOKENIZER_JSON TEXT_FILE [--retain build/retain]
         [--unit line|paragraph|file] [--add-special-tokens] [--limit N]

Every unit of TEXT_FILE (each non-empty line by default) is encoded by HF
`Tokenizer.from_file(TOKENIZER_JSON).encode(text, add_special_tokens=...)` and by
`retain tokenize` (JSONL in, JSONL of {"ids": [...]} out); the ids must be equal, and HF's decode of
the ids must give the text back (byte-level BPE is lossless). Prints a summary and the first
mismatches; exits 1 on any mismatch. Needs `pip install tokenizers`.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def units_of(text, unit):
    if unit == "file":
        return [text]
    if unit == "paragraph":
        return [p for p in text.split("\n\n") if p.strip()]
    return [line for line in text.split("\n") if line]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tokenizer")
    parser.add_argument("text")
    parser.add_argument("--retain", default=os.path.join(os.path.dirname(__file__), "..", "build", "retain"))
    parser.add_argument("--unit", choices=["line", "paragraph", "file"], default="line")
    parser.add_argument("--add-special-tokens", action="store_true")
    parser.add_argument("--limit", type=int, default=0, help="compare at most N units (0: all)")
    args = parser.parse_args()

    from tokenizers import Tokenizer  # imported late so that --help works without it

    with open(args.text, encoding="utf-8") as f:
        units = units_of(f.read(), args.unit)
    if args.limit:
        units = units[: args.limit]
    if not units:
        sys.exit(f"{args.text}: no text to compare")

    hf = Tokenizer.from_file(args.tokenizer)
    hf_ids = [e.ids for e in hf.encode_batch(units, add_special_tokens=args.add_special_tokens)]

    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for u in units:
                f.write(json.dumps({"text": u}, ensure_ascii=False) + "\n")
        cmd = [args.retain, "tokenize", "--tokenizer", args.tokenizer, "--input", inp, "--output", out]
        if args.add_special_tokens:
            cmd.append("--add-special-tokens")
        subprocess.run(cmd, check=True)
        with open(out, encoding="utf-8") as f:
            retain_ids = [json.loads(line)["ids"] for line in f if line.strip()]

    if len(retain_ids) != len(units):
        sys.exit(f"retain gave {len(retain_ids)} lines for {len(units)} units")
    mismatches = [i for i, (a, b) in enumerate(zip(hf_ids, retain_ids)) if a != b]
    not_lossless = [i for i, ids in enumerate(hf_ids)
                    if hf.decode(ids, skip_special_tokens=True) != units[i]]
    tokens = sum(len(ids) for ids in hf_ids)
    chars = sum(len(u) for u in units)
    print(f"{len(units)} units, {chars} characters, {tokens} tokens ({chars / max(tokens, 1):.2f} chars/token): "
          f"{len(mismatches)} id mismatches, {len(not_lossless)} decode mismatches")
    for i in mismatches[:5]:
        print(f"  unit {i}: {units[i][:80]!r}\n    hf     {hf_ids[i][:30]}\n    retain {retain_ids[i][:30]}")
    for i in not_lossless[:5]:
        print(f"  unit {i} does not decode back: {units[i][:80]!r}")
    sys.exit(1 if mismatches or not_lossless else 0)


if __name__ == "__main__":
    main()
