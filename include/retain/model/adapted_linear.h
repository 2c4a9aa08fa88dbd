// retain/model/adapted_linear.h — a linear layer y = x Wᵀ + b that carries a stack of adapters.
//
// Adapters (LoRA now; sparse experts and others later) are applied around the base layer in the
// forward pass, y = x Wᵀ + b + Σ_a adapter_a(x), and never merged into W except by an explicit
// `merge_adapters()` (export). Parameter names follow Hugging Face: `weight`, `bias`.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace retain {

/// Something added to a linear layer's output. Implementations are torch modules so that their
/// parameters are visible through the model's named_parameters() ("<layer>.adapters.<name>.…").
class LinearAdapterImpl : public torch::nn::Module {
 public:
  /// Output delta for input x (..., in_features) → (..., out_features).
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  /// The dense ΔW (out × in) this adapter adds, for merging and tests.
  virtual at::Tensor delta_weight() const = 0;
  /// y + forward(x). `y` is the layer's output so far, a fresh tensor no one else holds, so an
  /// adapter may add into it in place (the routed LoRA does: one kernel instead of two).
  virtual at::Tensor add_to(at::Tensor y, const at::Tensor& x) { return y + forward(x); }
  /// The whole layer, x (W + ΔW)ᵀ + b, when this adapter computes it in one product (SETA's merged
  /// kernel writes its entries into a working copy of W); undefined (the default) when it does not:
  /// the layer then computes x Wᵀ + b and calls add_to(). At most one adapter of a layer answers.
  virtual at::Tensor product(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) { return {}; }
  /// Whether it is applied in the forward pass.
  bool enabled = true;
};

class AdaptedLinearImpl;

/// Keeps an input hook on its layer while it lives (AdaptedLinearImpl::add_input_hook); move-only.
/// Removing the hook on destruction means a capture pass leaves no hook behind, even on error.
class InputHookHandle {
 public:
  InputHookHandle() = default;
  InputHookHandle(std::weak_ptr<AdaptedLinearImpl> layer, int64_t id) : layer_(std::move(layer)), id_(id) {}
  InputHookHandle(InputHookHandle&& other) noexcept { *this = std::move(other); }
  InputHookHandle& operator=(InputHookHandle&& other) noexcept;
  InputHookHandle(const InputHookHandle&) = delete;
  InputHookHandle& operator=(const InputHookHandle&) = delete;
  ~InputHookHandle() { remove(); }
  /// Removes the hook now (idempotent).
  void remove();

 private:
  std::weak_ptr<AdaptedLinearImpl> layer_;
  int64_t id_ = -1;
};

class AdaptedLinearImpl : public torch::nn::Module {
 public:
  AdaptedLinearImpl(int64_t in_features, int64_t out_features, bool bias);
  void reset() {}

  at::Tensor forward(const at::Tensor& x);
  /// Base output only, adapters ignored.
  at::Tensor forward_base(const at::Tensor& x);

  /// Attaches an adapter under `name` (unique within the layer).
  void add_adapter(const std::string& name, std::shared_ptr<LinearAdapterImpl> adapter);
  std::shared_ptr<LinearAdapterImpl> adapter(const std::string& name) const;
  const std::vector<std::pair<std::string, std::shared_ptr<LinearAdapterImpl>>>& adapters() const { return adapters_; }
  /// Detaches the adapter `name` (its parameters leave the module tree); an error when absent.
  void remove_adapter(const std::string& name);
  /// Adds every enabled adapter's ΔW into the weight and removes the adapters (explicit export only).
  void merge_adapters();

  /// Calls `hook(x)` with the input x (..., in_features) of every forward() from now on, before any
  /// product, until the returned handle is destroyed. For passes that read a layer's inputs (InfLoRA's
  /// input covariances, OSFT's layer importance); the output is unchanged. The layer must be held by
  /// a shared_ptr (an AdaptedLinear module holder).
  InputHookHandle add_input_hook(std::function<void(const at::Tensor& x)> hook);

  int64_t in_features, out_features;
  torch::Tensor weight;  // (out, in)
  torch::Tensor bias;    // (out) or undefined

 private:
  friend class InputHookHandle;
  std::vector<std::pair<std::string, std::shared_ptr<LinearAdapterImpl>>> adapters_;
  torch::nn::ModuleDict adapter_modules_{nullptr};
  std::map<int64_t, std::function<void(const at::Tensor&)>> input_hooks_;  // by id, in the order added
  int64_t next_hook_ = 0;
};
TORCH_MODULE(AdaptedLinear);

}  // namespace retain
