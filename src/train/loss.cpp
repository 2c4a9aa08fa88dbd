#include "retain/train/loss.h"

#include "retain/core/error.h"

namespace retain {

LossSum causal_lm_loss_sum(const at::Tensor& logits, const at::Tensor& labels) {
  RETAIN_CHECK(logits.dim() == 3 && labels.dim() == 2 && logits.size(0) == labels.size(0) &&
                   (labels.size(1) == logits.size(1) || labels.size(1) == logits.size(1) + 1),
               "loss", "logits (B, T, V) and labels (B, T) or (B, T + 1) disagree: [{}] vs [{}]",
               fmt::join(logits.sizes(), ", "), fmt::join(labels.sizes(), ", "));
  const auto compute = logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const int64_t predicting = labels.size(1) - 1;  // positions whose next label is known
  auto shifted_logits = logits.narrow(1, 0, predicting).to(compute).reshape({-1, logits.size(2)});
  auto shifted_labels = labels.narrow(1, 1, labels.size(1) - 1).reshape({-1}).to(logits.device());
  auto losses = at::cross_entropy_loss(shifted_logits, shifted_labels, {}, at::Reduction::None, kIgnoreIndex);
  const int64_t tokens = shifted_labels.ne(kIgnoreIndex).sum().item<int64_t>();
  return {losses.sum(), tokens};
}

at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels) {
  auto [sum, tokens] = causal_lm_loss_sum(logits, labels);
  return tokens > 0 ? sum / static_cast<double>(tokens) : sum * 0.0;
}

}  // namespace retain
