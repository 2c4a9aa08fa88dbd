// retain/model/generation.h — batched generation: left padding, KV cache, greedy or sampling.
#pragma once

#include "retain/model/causal_lm.h"

#include <cstdint>
#include <vector>

namespace retain {

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  bool do_sample = false;    // false: greedy
  double temperature = 1.0;  // sampling only
  double top_p = 1.0;        // nucleus sampling (1 = off)
  int64_t top_k = 0;         // 0 = off
  uint64_t seed = 0;
  std::vector<int64_t> eos_token_ids;  // generation stops for a sample once it emits one of these
  int64_t pad_token_id = 0;
};

/// The next token of each row of last-position logits (B, V), as generate() chooses it: the argmax, or
/// a sample from softmax(logits / temperature) restricted to the top_k most likely tokens and then to
/// the smallest set whose mass reaches top_p. (B,) int64 on the logits' device.
at::Tensor choose_next_tokens(const at::Tensor& logits, const GenerationOptions& options, at::Generator& generator);

/// Generates for each prompt (token ids, non-empty). Prompts are left-padded into one batch and run
/// with a KV cache; returns the new tokens of each prompt, the EOS token included when one was
/// emitted, nothing after it. Rows are never reordered or dropped (a finished row is fed padding), so
/// per-sample adapter routes — set before the call, or by the model's PromptRouter in the prefill
/// (causal_lm.h) — stay with their prompt for every new token.
std::vector<std::vector<int64_t>> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerationOptions& options);

}  // namespace retain
