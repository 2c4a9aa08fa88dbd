// retain/train/pretrain_options.h — what `retain pretrain` is asked to do: the settings of a run
// (one visit list, core/settings.h) and how this invocation runs it.
#pragma once

#include "retain/core/json.h"
#include "retain/core/settings.h"
#include "retain/train/autocast.h"
#include "retain/train/schedule.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace retain {

struct PretrainOptions {
  // The run's settings: pretrain.json records them ("options"), and --resume refuses a checkpoint
  // written with other values of those that shape training (all but resume_free_settings()).
  std::string config;             // Hugging Face config.json (the architecture)
  std::string tokenizer;          // tokenizer.json
  std::vector<std::string> text;  // files or folders
  std::string doc_separator;      // empty: one document per file (per line for .jsonl)
  std::string bos_token = "<s>", eos_token = "</s>", pad_token = "<pad>";  // pad may be absent
  int64_t steps = 1000;
  int64_t batch_size = 16;
  int64_t seq_len = 256;
  double lr = 1e-3;
  int64_t warmup = -1;  // -1: min(100, steps / 10)
  Schedule schedule = Schedule::Cosine;
  double min_lr_ratio = 0.1;
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95;
  double max_grad_norm = 1.0;
  double eval_fraction = 0.01;     // of the documents (at least one document when > 0)
  int64_t eval_every = 200;        // 0: only at the end
  int64_t eval_batches = 20;       // batches of the held-out split per evaluation (0: all of it)
  int64_t checkpoint_every = 500;  // 0: never
  std::string device = "cpu";
  Autocast autocast = Autocast::Off;
  int64_t seed = 0;
  std::string dtype_out = "float32";

  // How this invocation runs: not settings, not recorded.
  std::filesystem::path out;
  bool resume = false;
  bool overwrite = false;                 // allow an OUT that holds files but no checkpoint
  int threads = 0;                        // tokenization threads (0: all cores)
  int64_t general_text_documents = 2000;  // held-out documents copied to OUT/general_text.jsonl (0: none)
  bool general_text_only = false;         // write OUT/general_text.jsonl only, no training
  std::vector<std::string> command_line;  // recorded in pretrain.json

  template <class V>
  void visit(V& v) {
    v("config", config, "Hugging Face config.json of the architecture");
    v("tokenizer", tokenizer, "tokenizer.json");
    v("text", text, "text files or folders; .jsonl files give one document per {\"text\": ...} line");
    v("doc_separator", doc_separator, "split plain-text files into documents at this string (empty: one per file)");
    v("bos_token", bos_token, "BOS token string");
    v("eos_token", eos_token, "EOS token string");
    v("pad_token", pad_token, "padding token string (may be absent from the vocabulary)");
    v("steps", steps, "optimizer steps");
    v("batch_size", batch_size, "sequences per step");
    v("seq_len", seq_len, "tokens per sequence");
    v("lr", lr, "peak learning rate");
    v("warmup", warmup, "linear warm-up steps (-1: min(100, steps / 10))");
    v("schedule", schedule, "constant | linear | cosine: the decay after warm-up (train/schedule.h)");
    v("min_lr_ratio", min_lr_ratio, "floor of the decay as a fraction of lr");
    v("weight_decay", weight_decay, "AdamW weight decay (matrices only)");
    v("beta1", beta1, "AdamW β1");
    v("beta2", beta2, "AdamW β2");
    v("max_grad_norm", max_grad_norm, "gradient clipping norm (0: off)");
    v("eval_fraction", eval_fraction, "fraction of documents held out");
    v("eval_every", eval_every, "steps between held-out evaluations (0: at the end only)");
    v("eval_batches", eval_batches, "held-out batches per evaluation (0: all)");
    v("checkpoint_every", checkpoint_every, "steps between checkpoints (0: none)");
    v("device", device, "cpu | cuda | cuda:N");
    v("autocast", autocast, "off | bf16: on CUDA, forward passes in bfloat16 autocast");
    v("seed", seed, "seed of the initialisation, data order and held-out split");
    v("dtype_out", dtype_out, "dtype of the saved model.safetensors: float32 | bfloat16");
  }

  /// `warmup` resolved (-1: min(100, steps / 10)).
  int64_t warmup_steps() const;
  /// Every value in range; errors name the command-line flag (--steps, ...) and what it accepts.
  void validate() const;
  /// The settings' resolved values (warmup resolved), in visit order: pretrain.json's "options".
  json settings_json() const;
};

/// Settings that a resumed run may change: how often it evaluates and checkpoints, where it runs,
/// what it saves (eval_every, eval_batches, checkpoint_every, device, dtype_out).
const std::vector<std::string>& resume_free_settings();

/// What a resumed run must agree on with the run that wrote the checkpoint: settings_json() without
/// resume_free_settings().
json resume_key(const json& settings);

}  // namespace retain
