// retain/train/pretrain.h — causal-LM pretraining of a model from random initialisation (`retain
// pretrain`): text → token ids → packed windows → AdamW with warm-up and a decay to a floor → a
// Hugging Face model folder. A client of the shared training pieces: the schedule
// (train/schedule.h), the permutation (core/random.h), the loss (train/loss.h), AdamW's parameter
// groups (train/adamw.h), settings (pretrain_options.h) and observers (pretrain_observer.h).
//
// Data: pretrain_corpus.h (documents, the held-out split, packing), pretrain_token_cache.h
// (OUT/data/), pretrain_windows.h (windows, their order per epoch, their loss).
//
// Training. Loss: mean next-token cross-entropy of a batch of windows. Learning rate:
// learning_rate_at(schedule, lr, step, steps, warmup, min_lr_ratio): linear warm-up from 0 over
// `warmup` steps, then by default half a cosine down to `lr · min_lr_ratio` at `steps`. AdamW in two
// groups: weight decay on the matrices, none on norms and biases (1-D). Gradients clipped to
// `max_grad_norm`. Optional bf16 autocast (CUDA). Checkpoints (OUT/checkpoint/state.safetensors:
// weights, AdamW state, RNG and progress, one atomic file; plus a loadable model folder
// OUT/checkpoint/model) every `checkpoint_every` steps; `resume` continues from it and gives bitwise
// the weights of an uninterrupted run on the CPU.
//
// Outputs: OUT/config.json (the given config with bos/eos/pad ids of the tokenizer),
// OUT/model.safetensors (`dtype_out`), OUT/tokenizer.json (copy), OUT/generation_config.json,
// OUT/pretrain.json (command line, version, the options, data files with sha256, token counts,
// losses, wall time, device), OUT/metrics.jsonl (PretrainMetricsFile), OUT/loss.csv (train and
// held-out loss at every evaluation), and OUT/general_text.jsonl: the first `general_text_documents`
// held-out documents as {"text"} lines, which `retain run` scores as the model's general text
// (train/general_text.h).
#pragma once

#include "retain/train/pretrain_observer.h"
#include "retain/train/pretrain_options.h"

#include <cstdint>
#include <vector>

namespace retain {

struct PretrainSummary {
  int64_t steps = 0;
  int64_t train_tokens = 0, eval_tokens = 0;
  double final_train_loss = 0;  // mean of the last 10 steps
  double eval_loss = 0, eval_perplexity = 0;
  double seconds = 0;
  double tokens_per_second = 0;
};

/// Runs the whole thing; writes OUT as described above (OUT/metrics.jsonl through a
/// PretrainMetricsFile of its own). `observers` receive the same events (the CLI passes a
/// PretrainProgressPrinter on stderr). Errors leave earlier outputs intact.
PretrainSummary pretrain(const PretrainOptions& options, const std::vector<PretrainObserver*>& observers = {});

}  // namespace retain
