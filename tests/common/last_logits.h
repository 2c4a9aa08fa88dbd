// The logits of a prompt's last position, for tests that compare a served or trained model's answer
// with a plain forward (tests/unit/serve).
#pragma once

#include "retain/model/causal_lm.h"

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace retain::testing {

/// The logits of the last position of one prompt (no gradient).
inline at::Tensor last_logits(CausalLM& model, const std::vector<int64_t>& ids) {
  torch::NoGradGuard no_grad;
  ForwardInput in;
  in.input_ids = at::tensor(ids, at::kLong).view({1, -1});
  return model->forward(in).select(1, -1).squeeze(0);
}

}  // namespace retain::testing
