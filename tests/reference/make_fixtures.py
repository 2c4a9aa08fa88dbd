#!/usr/bin/env python3
"""Makes retain's reference fixtures with Hugging Face `tokenizers`, `transformers` and `peft`.

Run on the GPU machine (the only one with those packages), from the repository root:

    python3 tests/reference/make_fixtures.py --npm-cache .cache-npm --out tests/fixtures

It writes, all small and committed:
  tokenizers/expected_<name>.json      HF ids and decodings of tests/reference/tokenizer_texts.json
                                        for the npm tokenizers (qwen3, llama3, llama2) and two tiny
                                        tokenizers trained here (tokenizers/<name>/tokenizer.json)
  models/<name>/                       tiny random-init models saved by transformers (safetensors),
                                        each with the tiny byte-level tokenizer
  models/<name>.reference.safetensors   float64 reference: input.<i> (int64 ids) and logits.<i>
                                        ([tokens, vocab], float64, model run in float64), plus
                                        greedy.* (greedy generation of each prompt alone, float64)
  adapters/<name>/                     PEFT LoRA adapters on models/llama_gqa, with their reference
  VERSIONS.json                        library versions that made all of the above

Every model is built from a fixed seed, so re-running gives the same weights and references. The
two tiny tokenizers are trained by HF's BpeTrainer, which may break ties between equally frequent
pairs differently from run to run: the committed tokenizer.json files are the fixtures, and their
expected ids are always recomputed from the files themselves.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

import torch

TINY_VOCAB = 384


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------

def training_corpus(texts):
    """Deterministic English-ish text for the tiny tokenizers: the test texts and stdlib docstrings."""
    import inspect
    import collections, json as js, os as o, re, string, textwrap, argparse as ap
    lines = list(texts)
    for module in (collections, js, o, re, string, textwrap, ap, inspect):
        for name in sorted(dir(module)):
            doc = inspect.getdoc(getattr(module, name, None))
            if doc:
                lines.extend(doc.splitlines())
    return [line for line in lines if line.strip()]


def train_tiny_tokenizers(texts, out_dir):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, processors, trainers

    corpus = training_corpus(texts)
    made = {}

    # Byte-level BPE with the GPT-2 split regex (ByteLevel use_regex=True) and BOS/EOS template.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB, special_tokens=["<|pad|>", "<|bos|>", "<|eos|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    bos, eos = tok.token_to_id("<|bos|>"), tok.token_to_id("<|eos|>")
    tok.post_processor = processors.TemplateProcessing(single="<|bos|> $A <|eos|>", special_tokens=[("<|bos|>", bos), ("<|eos|>", eos)])
    made["tiny_bytelevel"] = tok

    # SentencePiece-style BPE: NFKC + Metaspace (prepend_scheme first), byte fallback, BOS template.
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("\t", "    ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=True),
                                     decoders.ByteFallback(), decoders.Fuse()])
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB + 256, special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens,
                                  limit_alphabet=120, show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    made["tiny_metaspace"] = tok

    paths = {}
    for name, tok in made.items():
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "tokenizer.json")
        tok.save(path)
        paths[name] = path
    return paths


def expected_ids(name, source, path, texts, out_dir):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    cases = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        ids_special = tok.encode(text, add_special_tokens=True).ids
        cases.append(dict(text=text, ids=ids, ids_special=ids_special,
                          decoded=tok.decode(ids_special, skip_special_tokens=False),
                          decoded_skip_special=tok.decode(ids_special, skip_special_tokens=True)))
    doc = dict(name=name, tokenizer=source, sha256=sha256(path), cases=cases)
    with open(os.path.join(out_dir, f"expected_{name}.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=0)
    print(f"tokenizer {name}: {len(cases)} cases, {sum(len(c['ids']) for c in cases)} ids", flush=True)


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------

def tiny_models():
    """Name -> (config class name, kwargs, save dtype). Shapes chosen to exercise every feature."""
    common = dict(vocab_size=TINY_VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  initializer_range=0.1, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return {
        # Llama 3: GQA, llama3 rope scaling, untied head, fp32.
        "llama_gqa": ("LlamaConfig", dict(common, rms_norm_eps=1e-5, rope_theta=50000.0, tie_word_embeddings=False,
                                           rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                             high_freq_factor=4.0, original_max_position_embeddings=32)),
                      torch.float32),
        # Llama 2 style: MHA, linear rope scaling, sharded checkpoint, transformers-4 config dialect.
        "llama_sharded": ("LlamaConfig", dict(common, num_key_value_heads=4, rms_norm_eps=1e-6, rope_theta=10000.0,
                                               tie_word_embeddings=False, rope_scaling=dict(type="linear", factor=2.0)),
                          torch.float32),
        # Qwen2: q/k/v bias, tied embeddings, bf16 weights.
        "qwen2": ("Qwen2Config", dict(common, rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                                      use_sliding_window=False), torch.bfloat16),
        # Qwen3: q/k RMSNorm, explicit head_dim different from hidden/heads, fp16 weights.
        "qwen3": ("Qwen3Config", dict(common, head_dim=32, rms_norm_eps=1e-6, rope_theta=1000000.0,
                                      tie_word_embeddings=True, use_sliding_window=False, attention_bias=False),
                  torch.float16),
        # Mistral: sliding window shorter than the test sequences.
        "mistral": ("MistralConfig", dict(common, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                                          sliding_window=6), torch.float32),
    }


def reference_inputs(vocab, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = [1, 5, 12, 17]
    return [torch.randint(3, vocab, (n,), generator=g) for n in lengths]


@torch.no_grad()
def reference_tensors(model, inputs, pad_id):
    """float64 logits per sequence (each alone, no padding) and a left-padded greedy generation."""
    out = {}
    for i, ids in enumerate(inputs):
        out[f"input.{i}"] = ids.clone()
        out[f"logits.{i}"] = model(input_ids=ids[None]).logits[0].double().contiguous()
    # Greedy generation, 6 new tokens, no early stop, each prompt run ALONE (no padding): retain's
    # test runs them as one left-padded batch and must reproduce these. (transformers' own padded
    # float64 eager generation turns padded rows into NaN, so it cannot serve as the reference.)
    prompts = inputs[1:]
    width = max(len(p) for p in prompts)
    batch = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(batch)
    outputs = []
    for r, p in enumerate(prompts):
        batch[r, width - len(p):] = p
        mask[r, width - len(p):] = 1
        gen = model.generate(input_ids=p[None], attention_mask=torch.ones_like(p[None]), max_new_tokens=6,
                             min_new_tokens=6, do_sample=False, pad_token_id=pad_id, eos_token_id=None)
        outputs.append(gen[0, len(p):])
    out["greedy.input"] = batch
    out["greedy.attention_mask"] = mask
    out["greedy.output"] = torch.stack(outputs).contiguous()
    return out


def to_transformers4_dialect(config_path):
    """Rewrites a transformers-5 config.json in the dialect most published models use."""
    with open(config_path) as f:
        cfg = json.load(f)
    rp = cfg.pop("rope_parameters", None)
    if rp is not None:
        cfg["rope_theta"] = rp.pop("rope_theta")
        rtype = rp.pop("rope_type", "default")
        cfg["rope_scaling"] = None if rtype == "default" else dict(rp, type=rtype)
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    cfg["transformers_version"] = "4.45.0"
    with open(config_path, "w") as f:
        json.dump(cfg, f, indent=2)


def make_models(out_dir, tokenizer_path):
    import transformers
    from safetensors.torch import save_file
    made = {}
    for seed, (name, (cls_name, kwargs, save_dtype)) in enumerate(tiny_models().items()):
        torch.manual_seed(1000 + seed)
        cls = getattr(transformers, cls_name)
        cfg = cls(**kwargs)
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        # Non-trivial norm weights and biases, so that a skipped or misplaced one shows in the logits.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if "norm" in pname or pname.endswith(".bias"):
                    p.copy_(1.0 + 0.2 * torch.randn_like(p) if "norm" in pname else 0.1 * torch.randn_like(p))
        model = model.to(save_dtype)
        d = os.path.join(out_dir, "models", name)
        shutil.rmtree(d, ignore_errors=True)
        shard = "40KB" if name == "llama_sharded" else "100MB"
        model.save_pretrained(d, safe_serialization=True, max_shard_size=shard)
        shutil.copy(tokenizer_path, os.path.join(d, "tokenizer.json"))
        if name == "llama_sharded":
            to_transformers4_dialect(os.path.join(d, "config.json"))
        # Reference: reload from disk (as a user would), run in float64 on the CPU.
        ref_model = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float64, attn_implementation="eager").eval()
        tensors = reference_tensors(ref_model, reference_inputs(cfg.vocab_size, 2000 + seed), kwargs["pad_token_id"])
        save_file(tensors, os.path.join(out_dir, "models", f"{name}.reference.safetensors"))
        with open(os.path.join(d, "config.json")) as f:
            print(f"model {name}: {sum(p.numel() for p in model.parameters())} params; config: {f.read()}", flush=True)
        made[name] = d
    return made


def make_adapters(out_dir, base_dir):
    import transformers
    from peft import LoraConfig, get_peft_model, PeftModel
    from safetensors.torch import save_file
    specs = {
        "lora_qv": LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                              init_lora_weights=False),
        "lora_patterns": LoraConfig(r=4, lora_alpha=16, lora_dropout=0.0, init_lora_weights=False, use_rslora=True,
                                    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                                    rank_pattern={"layers.1.self_attn.q_proj": 2, "down_proj": 6},
                                    alpha_pattern={"layers.0.mlp.up_proj": 3}),
    }
    for seed, (name, lcfg) in enumerate(specs.items()):
        torch.manual_seed(3000 + seed)
        base = transformers.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        pm = get_peft_model(base, lcfg)
        d = os.path.join(out_dir, "adapters", name)
        shutil.rmtree(d, ignore_errors=True)
        pm.save_pretrained(d, safe_serialization=True)
        if os.path.exists(os.path.join(d, "README.md")):
            os.remove(os.path.join(d, "README.md"))  # PEFT's model card template: not a fixture
        base64 = transformers.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float64, attn_implementation="eager")
        ref = PeftModel.from_pretrained(base64, d).eval()
        ref = ref.double()
        with open(os.path.join(base_dir, "config.json")) as f:
            vocab = json.load(f)["vocab_size"]
        tensors = {}
        with torch.no_grad():
            for i, ids in enumerate(reference_inputs(vocab, 4000 + seed)):
                tensors[f"input.{i}"] = ids.clone()
                tensors[f"logits.{i}"] = ref(input_ids=ids[None]).logits[0].double().contiguous()
        save_file(tensors, os.path.join(out_dir, "adapters", f"{name}.reference.safetensors"))
        with open(os.path.join(d, "adapter_config.json")) as f:
            print(f"adapter {name}: {f.read()}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--npm-cache", required=True, help="folder with qwen3/, llama3/, llama2/ tokenizer.json (scripts/fetch-tokenizers.sh)")
    ap.add_argument("--out", default="tests/fixtures")
    ap.add_argument("--texts", default="tests/reference/tokenizer_texts.json")
    args = ap.parse_args()
    import tokenizers, transformers, peft, safetensors
    torch.use_deterministic_algorithms(True)
    tok_dir = os.path.join(args.out, "tokenizers")
    os.makedirs(tok_dir, exist_ok=True)
    with open(args.texts, encoding="utf-8") as f:
        texts = json.load(f)
    for name in ("qwen3", "llama3", "llama2"):
        expected_ids(name, f"npm:{name}", os.path.join(args.npm_cache, name, "tokenizer.json"), texts, tok_dir)
    tiny = train_tiny_tokenizers(texts, tok_dir)
    for name, path in tiny.items():
        expected_ids(name, f"fixture:{name}", path, texts, tok_dir)
    make_models(args.out, tiny["tiny_bytelevel"])
    make_adapters(args.out, os.path.join(args.out, "models", "llama_gqa"))
    versions = dict(python=sys.version.split()[0], torch=torch.__version__, transformers=transformers.__version__,
                    peft=peft.__version__, tokenizers=tokenizers.__version__, safetensors=safetensors.__version__)
    with open(os.path.join(args.out, "VERSIONS.json"), "w") as f:
        json.dump(versions, f, indent=1)
    print("versions", versions, flush=True)


if __name__ == "__main__":
    main()
