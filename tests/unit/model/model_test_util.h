// Shared by the model unit tests: message checks and a short way to run the model.
#pragma once

#include "common/test_support.h"
#include "retain/model/causal_lm.h"
#include "retain/model/kv_cache.h"

#include <string>

namespace retain::testing {

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

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

}  // namespace retain::testing

/// EXPECT that `msg` contains `part`, printing both when it does not.
#define EXPECT_MSG(msg, part) \
  EXPECT_TRUE(::retain::testing::contains(msg, part)) << "'" << (part) << "' not in: " << (msg)
