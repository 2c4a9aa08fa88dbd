// retain/model/rope.h — rotary position embedding with the scaling rules of Hugging Face
// (`default`, `linear`, `llama3`), computed in float32 as transformers does, then cast.
#pragma once

#include "retain/model/config.h"

#include <torch/torch.h>

namespace retain {

/// Inverse frequencies (head_dim / 2,) in float32 for a rope config.
at::Tensor rope_inverse_frequencies(const RopeConfig& rope, int64_t head_dim);

class RotaryEmbeddingImpl : public torch::nn::Module {
 public:
  RotaryEmbeddingImpl(const RopeConfig& rope, int64_t head_dim);
  /// cos, sin of shape (B, T, head_dim) for position_ids (B, T), in `dtype`.
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& position_ids, at::ScalarType dtype);
  at::Tensor inv_freq;  // float32 on the CPU; deliberately not a buffer, so that .to(bf16) leaves it exact
};
TORCH_MODULE(RotaryEmbedding);

/// q·cos + rotate_half(q)·sin with HF's half-split convention; x: (B, H, T, D), cos/sin: (B, T, D).
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace retain
