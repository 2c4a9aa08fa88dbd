#include "retain/train/methods/lwf.h"

#include "retain/core/error.h"
#include "retain/train/batch_forward.h"

namespace retain {

void LwfSettings::validate(const std::string& where) const {
  RETAIN_CHECK(lambda >= 0, "config", "{}.lambda must be >= 0, got {}", where, lambda);
  RETAIN_CHECK(temperature > 0, "config", "{}.temperature must be positive, got {}", where, temperature);
}

at::Tensor lwf_distillation(const at::Tensor& new_logits, const at::Tensor& old_logits, const at::Tensor& mask,
                            double lambda, double temperature) {
  const auto compute = new_logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  auto log_p_new = at::log_softmax(new_logits.to(compute) / temperature, -1);
  auto log_p_old = at::log_softmax(old_logits.to(compute) / temperature, -1);
  auto kl = (log_p_old.exp() * (log_p_old - log_p_new)).sum(-1);  // (B, S)
  auto m = mask.to(kl.device()).to(compute);
  const double tokens = std::max(1.0, m.sum().item<double>());
  return (kl * m).sum() / tokens * (lambda * temperature * temperature);
}

LwF::LwF(LwfSettings settings) : settings_(std::move(settings)) { settings_.validate(); }

void LwF::on_task_start(TaskContext& ctx) {
  if (ctx.task_index == 0 || settings_.lambda == 0) return;
  // The teacher: a frozen copy of the model as the previous task left it.
  torch::NoGradGuard no_grad;
  auto& model = ctx.run.model;
  const auto weight = model->model->embed_tokens->weight;
  teacher_ = CausalLM(model->config);
  teacher_->to(weight.device(), weight.scalar_type());
  auto source = model->base_parameters(), target = teacher_->base_parameters();
  RETAIN_CHECK(source.size() == target.size(), "lwf", "internal: teacher and student differ in parameters");
  for (size_t i = 0; i < source.size(); ++i) {
    target[i].second.copy_(source[i].second);
    target[i].second.requires_grad_(false);
  }
  teacher_->eval();
}

at::Tensor LwF::extra_loss(TaskContext& ctx, const Batch& batch, const at::Tensor& logits) {
  if (!teacher_ || settings_.lambda == 0) return {};
  at::Tensor old_logits;
  {
    torch::NoGradGuard no_grad;
    old_logits = teacher_->forward(forward_input(batch, ctx.run.device));
  }
  return lwf_distillation(logits, old_logits, batch.attention_mask, settings_.lambda, settings_.temperature);
}

}  // namespace retain
