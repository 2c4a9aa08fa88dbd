// retain/train/loss.h — the causal language-modelling loss on answer tokens only.
#pragma once

#include "retain/data/ignore_index.h"

#include <ATen/ATen.h>

namespace retain {

/// Sum of the token cross-entropies and the number of tokens that carry loss.
struct LossSum {
  at::Tensor sum;      // scalar, float32 (or float64 for float64 logits)
  int64_t tokens = 0;  // labels != kIgnoreIndex after the shift
};

/// Next-token loss: logits (B, T, V) at position t predict labels (B, T) at t + 1, so the last
/// position and the first label drop out (labels are aligned with input_ids, as in transformers).
/// Labels may also be (B, T + 1): a window whose first T tokens were the input (pretraining's packed
/// windows), so every position predicts one. Computed in float32 at least. Returns the sum, so that
/// gradient accumulation can divide by the tokens of the whole accumulated batch (transformers ≥ 4.46
/// does the same).
LossSum causal_lm_loss_sum(const at::Tensor& logits, const at::Tensor& labels);

/// Mean over the tokens that carry loss (0 when there are none).
at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace retain
