// retain/data/batching.h — from (prompt, target) text to padded tensors with an answer-only loss mask,
// and a seeded sampler that groups examples of similar length.
//
// Tokenization. The prompt and the target are tokenized separately and the ids concatenated:
//   ids = [special prefix] + encode(prompt) + encode(target) + [eos]
// so the prompt/target boundary is exact by construction and the loss mask never covers a prompt
// token or misses a target token. Hugging Face recipes usually tokenize prompt + target jointly and
// locate the boundary by re-tokenizing the prompt; that can disagree with ours where a merge would
// span the boundary. For byte-level BPE (GPT-2, Llama-3, Qwen) and the O-LoRA format ("Answer:" then
// " label") both give the same ids, since the pre-tokenizer splits at " label" anyway. For
// SentencePiece-style tokenizers (Metaspace, Llama-2) encoding " label" on its own can yield an extra
// "▁" token; the model then learns that spelling, and scoring (normalised exact match) is unaffected.
//
// The special prefix is what the tokenizer's post-processor puts before the text (BOS for Llama and
// the tiny test tokenizer; nothing for Qwen): the ids of encode(prompt, true) that precede
// encode(prompt, false). Anything the post-processor appends (an EOS after the prompt) is dropped; the
// EOS after the target comes from TokenizeOptions::eos_token_id.
//
// Truncation to max_length keeps the special prefix and the whole target + eos and drops prompt
// tokens from the left (the instruction goes before the "Answer:" cue does). Only when the target
// alone leaves no room for one prompt token is the target cut from the right (its eos is then lost).
// O-LoRA's collator instead cuts prompt + target from the right, which can remove the label.
#pragma once

#include "retain/data/ignore_index.h"
#include "retain/data/task.h"
#include "retain/tokenizer/tokenizer.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace retain {

struct TokenizeOptions {
  int64_t max_length = 1024;             // total ids per example, prefix and eos included
  bool add_special_tokens = true;        // put the post-processor's prefix (BOS) before the prompt
  std::optional<int64_t> eos_token_id;   // appended after the target; required by tokenize_example
};

/// One training example as ids. ids[0, prompt_length) is the (prefixed) prompt and carries no loss;
/// ids[prompt_length, size) is the target and eos, which carry the loss.
struct TokenizedExample {
  std::vector<int64_t> ids;
  int64_t prompt_length = 0;
};

/// The ids the post-processor puts before `text` (see above); empty when add_special_tokens is off.
std::vector<int64_t> special_prefix(const Tokenizer& tokenizer, const std::string& text);

/// prompt + target + eos as ids, truncated as described above. Throws when eos_token_id is unset or
/// max_length cannot hold the prefix, one prompt token and one target token.
TokenizedExample tokenize_example(const Tokenizer& tokenizer, const std::string& prompt, const std::string& target,
                                  const TokenizeOptions& options);

/// tokenize_example from parts already encoded (the special prefix, encode(prompt), encode(target)):
/// the same ids and truncation, for callers that reuse a prompt's or a label's ids (rank scoring).
TokenizedExample assemble_example(const std::vector<int64_t>& prefix, std::vector<int64_t> prompt_ids,
                                  std::vector<int64_t> target_ids, const TokenizeOptions& options);

/// A generation prompt: prefix + prompt, prompt tokens dropped from the left beyond max_length.
std::vector<int64_t> tokenize_prompt(const Tokenizer& tokenizer, const std::string& prompt,
                                     const TokenizeOptions& options);

/// tokenize_example(format_prompt(task, e), format_target(task, e)) for every example.
std::vector<TokenizedExample> tokenize_examples(const Tokenizer& tokenizer, const Task& task,
                                                const std::vector<Example>& examples, const TokenizeOptions& options);

/// A training batch, right-padded. Shapes: (B, T) with T the longest example in the batch.
struct Batch {
  at::Tensor input_ids;       // int64; pad_token_id after each example
  at::Tensor attention_mask;  // int64; 1 on real tokens, 0 on padding
  at::Tensor labels;          // int64; = input_ids on target + eos tokens, kIgnoreIndex (-100) elsewhere
  std::vector<int64_t> example_indices;  // which examples, in row order
};

/// Stacks examples[indices[0]], examples[indices[1]], ... into a right-padded Batch. Labels are
/// aligned with input_ids (the loss shifts them, as in transformers; see train/loss.h).
Batch collate(const std::vector<TokenizedExample>& examples, const std::vector<int64_t>& indices,
              int64_t pad_token_id);

/// Sequences padded to a common length, for generation (left) or any other use (right).
struct PaddedIds {
  at::Tensor input_ids;       // (B, T) int64
  at::Tensor attention_mask;  // (B, T) int64, 1 on real tokens
};

/// Left padding: the sequences end at the same column, so generation appends to all rows at once.
PaddedIds left_pad(const std::vector<std::vector<int64_t>>& sequences, int64_t pad_token_id);
/// Right padding.
PaddedIds right_pad(const std::vector<std::vector<int64_t>>& sequences, int64_t pad_token_id);

struct BatchSamplerOptions {
  int64_t batch_size = 8;
  uint64_t seed = 0;
  bool shuffle = true;          // false: examples in order (and batches in order)
  bool group_by_length = true;  // sort windows of window_batches × batch_size examples by length
  int64_t window_batches = 50;
  bool drop_last = false;  // drop the final smaller batch
};

/// Deterministic batches of example indices, a pure function of (lengths, options, epoch).
///
/// Per epoch: shuffle all indices; with group_by_length, cut the shuffled list into windows of
/// window_batches × batch_size, sort each window by length (longest first, stable), cut it into
/// batches, then shuffle the order of all batches. Batches thus hold examples of similar length
/// (little padding) while an epoch's batch order stays random. Every example appears exactly once per
/// epoch (once drop_last is off); only the last window can yield a batch smaller than batch_size.
///
/// Randomness: std::mt19937_64 seeded through std::seed_seq{seed, epoch} and our own Fisher–Yates
/// with unbiased rejection sampling — all three fully specified by the C++ standard, so the batches
/// are the same on every platform and standard library (std::shuffle and
/// std::uniform_int_distribution are not), and independent of libtorch's RNG. A resumed run can
/// regenerate any epoch and skip the batches already done.
class BatchSampler {
 public:
  /// `lengths[i]`: token count of example i (only compared, never used as a size).
  BatchSampler(std::vector<int64_t> lengths, BatchSamplerOptions options);

  std::vector<std::vector<int64_t>> batches(int64_t epoch) const;

  int64_t num_examples() const { return static_cast<int64_t>(lengths_.size()); }
  /// Batches per epoch.
  int64_t num_batches() const;
  const BatchSamplerOptions& options() const { return options_; }

 private:
  std::vector<int64_t> lengths_;
  BatchSamplerOptions options_;
};

/// Share of padding positions when `batches` are padded to their longest member: 1 − Σ lengths /
/// Σ (batch size × longest length). For logs and for comparing batching strategies.
double padding_fraction(const std::vector<std::vector<int64_t>>& batches, const std::vector<int64_t>& lengths);

}  // namespace retain
