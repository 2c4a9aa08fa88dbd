#include "retain/train/batch_forward.h"

#include "retain/core/torch_compat.h"
#include "retain/train/loss.h"

namespace retain {

ForwardInput forward_input(const Batch& batch, at::Device device) {
  ForwardInput input;
  input.input_ids = batch.input_ids.to(device);
  input.attention_mask = batch.attention_mask.to(device);
  return input;
}

at::Tensor answer_loss(CausalLM& model, at::Device device, bool autocast_bf16,
                       const std::vector<TokenizedExample>& examples, const std::vector<int64_t>& rows) {
  const Batch batch = collate(examples, rows, model->config.pad_token_id.value_or(0));
  compat::AutocastGuard autocast(autocast_bf16 && device.is_cuda(), at::kBFloat16);
  auto parts = causal_lm_loss_sum(model->forward(forward_input(batch, device)), batch.labels.to(device));
  if (parts.tokens == 0) return {};
  return parts.sum / static_cast<double>(parts.tokens);
}

GradientsOnly::GradientsOnly(CausalLM& model, const std::vector<at::Tensor>& params) {
  for (auto& p : model->parameters()) {
    flags_.emplace_back(p, p.requires_grad());
    p.requires_grad_(false);
  }
  for (auto p : params) p.requires_grad_(true);
}

GradientsOnly::~GradientsOnly() {
  for (auto [p, flag] : flags_) {
    p.mutable_grad() = at::Tensor();
    p.requires_grad_(flag);
  }
}

}  // namespace retain
