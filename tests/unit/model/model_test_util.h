// Shared by the model unit tests: a short way to run the model, and config comparison.
#pragma once

#include "common/toy_run.h"
#include "retain/model/causal_lm.h"
#include "retain/model/kv_cache.h"

#include <string>

namespace retain::testing {

/// Logits of `ids` (B, T) with an optional attention mask, position ids and KV cache.
inline at::Tensor forward(CausalLM& model, const at::Tensor& ids, const at::Tensor& mask = {},
                          const at::Tensor& positions = {}, KVCache* cache = nullptr) {
  ForwardInput in;
  in.input_ids = ids;
  in.attention_mask = mask;
  in.position_ids = positions;
  in.cache = cache;
  return model->forward(in);
}

inline void expect_same_rope(const retain::RopeConfig& a, const retain::RopeConfig& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.theta, b.theta);
  EXPECT_EQ(a.factor, b.factor);
  EXPECT_EQ(a.low_freq_factor, b.low_freq_factor);
  EXPECT_EQ(a.high_freq_factor, b.high_freq_factor);
  EXPECT_EQ(a.original_max_position_embeddings, b.original_max_position_embeddings);
}

// Every field retain uses (not `raw`), compared exactly: they are read from the same JSON numbers.
inline void expect_same_config(const retain::ModelConfig& a, const retain::ModelConfig& b) {
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.initializer_range, b.initializer_range);
  expect_same_rope(a.rope, b.rope);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.o_bias, b.o_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.qk_norm, b.qk_norm);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
  EXPECT_EQ(a.stored_dtype, b.stored_dtype);
}

}  // namespace retain::testing
