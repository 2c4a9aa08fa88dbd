// retain/train/adamw.h — AdamW (Loshchilov & Hutter) with state retain owns, so that a run can be
// checkpointed mid-task and resumed bitwise.
//
// The update is libtorch's torch::optim::AdamW, operation for operation (tests compare them):
//   p ← p · (1 − lr·wd);  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
//   p ← p − lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
// Parameter groups, as torch's: each group may set its own lr and weight decay (e.g. decay on the
// matrices only, as pretraining does). On CUDA with libtorch 2.x the same update runs as PyTorch's
// fused multi-tensor kernel (one launch per group and dtype instead of about ten per parameter); its
// rounding differs from the per-parameter path, so CPU results are the bitwise reference.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace retain {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool fused = true;  // use the fused kernel where available (CUDA, libtorch 2.x)
};

/// Parameters that share a learning rate and a weight decay; unset ones take the optimizer's.
struct AdamWGroup {
  std::vector<at::Tensor> params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

class AdamW {
 public:
  /// One group. Parameters keep their order: state tensor i belongs to parameter i.
  AdamW(std::vector<at::Tensor> params, AdamWOptions options);
  /// Several groups, each completed from `defaults` (betas, eps and fused are the optimizer's).
  /// Parameters are numbered across the groups in order (group 0's first, as torch's state_dict).
  AdamW(std::vector<AdamWGroup> groups, AdamWOptions defaults);

  /// One update of every parameter that has a gradient (others are skipped, as torch's AdamW does).
  /// Every updated parameter's version counter moves (as after any in-place op), on the fused path too.
  void step();
  /// Drops the gradients (set to undefined).
  void zero_grad();
  /// The learning rate of every group (what a schedule sets each step).
  void set_lr(double lr);
  /// The learning rate of group `group` alone.
  void set_lr(size_t group, double lr);
  /// The optimizer's options (lr: the last set_lr(lr), or the constructor's).
  const AdamWOptions& options() const { return options_; }
  size_t group_count() const { return groups_.size(); }
  /// Group `group`'s lr and weight decay, resolved.
  double group_lr(size_t group) const { return groups_.at(group).lr; }
  double group_weight_decay(size_t group) const { return groups_.at(group).weight_decay; }
  /// Every parameter, numbered across the groups.
  const std::vector<at::Tensor>& params() const { return params_; }

  /// The state as named tensors: "<i>.exp_avg", "<i>.exp_avg_sq", "<i>.step" (float64 scalar) for
  /// every parameter i that has taken a step.
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  /// Restores state() output; errors name the missing or misshaped entry.
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& state);

 private:
  struct ParamState {
    at::Tensor exp_avg, exp_avg_sq;
    int64_t step = 0;
    at::Tensor step_tensor;  // float32 scalar on the device, for the fused kernel
  };
  struct Group {
    size_t first = 0, count = 0;  // params_[first, first + count)
    double lr = 0, weight_decay = 0;
  };
  void init_state(size_t i);
  std::vector<at::Tensor> params_;
  std::vector<Group> groups_;
  std::vector<ParamState> state_;
  AdamWOptions options_;
};

}  // namespace retain
