#include "retain/model/adapted_linear.h"

#include "retain/core/error.h"

#include <algorithm>

namespace retain {

AdaptedLinearImpl::AdaptedLinearImpl(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
  adapter_modules_ = register_module("adapters", torch::nn::ModuleDict());
}

at::Tensor AdaptedLinearImpl::forward_base(const at::Tensor& x) {
  return bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
}

at::Tensor AdaptedLinearImpl::forward(const at::Tensor& x) {
  for (auto& [id, hook] : input_hooks_) hook(x);
  at::Tensor y;
  const LinearAdapterImpl* whole = nullptr;  // the adapter that computed the whole layer, if any
  for (auto& [name, adapter] : adapters_)
    if (adapter->enabled && (y = adapter->product(x, weight, bias)).defined()) {
      whole = adapter.get();
      break;
    }
  if (!y.defined()) y = forward_base(x);
  for (auto& [name, adapter] : adapters_)
    if (adapter->enabled && adapter.get() != whole) y = adapter->add_to(std::move(y), x);
  return y;
}

void AdaptedLinearImpl::add_adapter(const std::string& name, std::shared_ptr<LinearAdapterImpl> adapter) {
  RETAIN_CHECK(!adapter_modules_->contains(name), "adapter", "layer already has an adapter named \"{}\"", name);
  adapter_modules_->update({{name, adapter}});
  adapters_.emplace_back(name, std::move(adapter));
}

std::shared_ptr<LinearAdapterImpl> AdaptedLinearImpl::adapter(const std::string& name) const {
  for (const auto& [n, a] : adapters_)
    if (n == name) return a;
  return nullptr;
}

void AdaptedLinearImpl::remove_adapter(const std::string& name) {
  auto it = std::find_if(adapters_.begin(), adapters_.end(), [&](const auto& entry) { return entry.first == name; });
  RETAIN_CHECK(it != adapters_.end(), "adapter", "layer has no adapter named \"{}\"", name);
  adapters_.erase(it);
  torch::nn::ModuleDict rest;
  for (const auto& [n, a] : adapters_) rest->update({{n, a}});
  adapter_modules_ = replace_module("adapters", rest);
}

void AdaptedLinearImpl::merge_adapters() {
  torch::NoGradGuard no_grad;
  for (auto& [name, adapter] : adapters_)
    if (adapter->enabled) weight.add_(adapter->delta_weight().to(weight.scalar_type()));
  adapters_.clear();
  adapter_modules_ = replace_module("adapters", torch::nn::ModuleDict());
}

InputHookHandle AdaptedLinearImpl::add_input_hook(std::function<void(const at::Tensor& x)> hook) {
  const int64_t id = next_hook_++;
  input_hooks_.emplace(id, std::move(hook));
  return InputHookHandle(std::static_pointer_cast<AdaptedLinearImpl>(shared_from_this()), id);
}

InputHookHandle& InputHookHandle::operator=(InputHookHandle&& other) noexcept {
  if (this != &other) {
    remove();
    layer_ = std::move(other.layer_);
    id_ = other.id_;
    other.id_ = -1;
  }
  return *this;
}

void InputHookHandle::remove() {
  if (id_ < 0) return;
  if (auto layer = layer_.lock()) layer->input_hooks_.erase(id_);
  id_ = -1;
}

}  // namespace retain
