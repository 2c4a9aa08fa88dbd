#include "retain/train/methods/olora.h"

#include "retain/core/error.h"

namespace retain {

void OLoraSettings::validate(const std::string& where) const {
  if (orthogonal_loss != "abs" && orthogonal_loss != "squared")
    fail("config", "{}.orthogonal_loss = \"{}\" is not known: expected \"abs\" or \"squared\"", where, orthogonal_loss);
  if (!(lambda1 >= 0)) fail("config", "{}.lambda1 = {} must be ≥ 0", where, lambda1);
  if (!(lambda2 >= 0)) fail("config", "{}.lambda2 = {} must be ≥ 0", where, lambda2);
}

at::Tensor olora_orthogonality(CausalLM& model, int64_t current_task, bool squared) {
  at::Tensor total;
  const std::string current = IncLoRA::adapter_name(current_task);
  for (auto& [module_name, linear] : model->linear_layers()) {
    auto now = std::dynamic_pointer_cast<LoraAdapterImpl>(linear->adapter(current));
    if (!now) continue;
    for (int64_t i = 0; i < current_task; ++i) {
      auto old = std::dynamic_pointer_cast<LoraAdapterImpl>(linear->adapter(IncLoRA::adapter_name(i)));
      if (!old) continue;
      // (r_i × in) · (in × r_t): earlier A's are constants of task t.
      at::Tensor product = at::matmul(old->lora_A.detach(), now->lora_A.t());
      at::Tensor term = squared ? product.square().sum() : product.abs().sum();
      total = total.defined() ? total + term : term;
    }
  }
  if (!total.defined()) {
    for (auto& p : adapter_parameters(model, current)) return at::zeros({}, p.options().requires_grad(false));
    return at::zeros({}, at::kDouble);
  }
  return total;
}

OLoRA::OLoRA(OLoraSettings settings) : IncLoRA(settings.lora), settings_(std::move(settings)) { settings_.validate(); }

at::Tensor OLoRA::extra_loss(TaskContext& ctx, const Batch&, const at::Tensor&) {
  at::Tensor loss;
  if (settings_.lambda1 != 0 && ctx.task_index > 0)
    loss = settings_.lambda1 *
           olora_orthogonality(ctx.run.model, ctx.task_index, settings_.orthogonal_loss == "squared");
  if (settings_.lambda2 != 0) {
    at::Tensor l2;
    for (auto& p : adapter_parameters(ctx.run.model, adapter_name(ctx.task_index))) {
      at::Tensor n = p.norm();
      l2 = l2.defined() ? l2 + n : n;
    }
    if (l2.defined()) loss = loss.defined() ? loss + settings_.lambda2 * l2 : settings_.lambda2 * l2;
  }
  return loss;
}

}  // namespace retain
