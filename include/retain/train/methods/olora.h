// retain/train/methods/olora.h — O-LoRA (Wang et al. 2023, "Orthogonal Subspace Learning for Language Model
// Continual Learning"; reference code cmnfriend/O-LoRA, src/uie_trainer_lora.py). methods.md §1.
//
// As inclora — a new LoRA per task, earlier ones frozen and kept summed in the forward — plus, while
// task t trains, the loss term
//
//   λ1 · Σ_layers Σ_{i<t} ‖A_i A_tᵀ‖  +  λ2 · Σ_{p ∈ θ_t} ‖p‖₂
//
// ‖·‖ over the r_i × r_t product is the sum of absolute entries ("abs", what the reference code
// computes) or of squared entries ("squared", what the paper writes). The λ2 term follows the
// reference code: the Frobenius norms of the current task's LoRA tensors (every lora_A and lora_B),
// summed. Defaults as the paper: r 8, α 32, q and v, λ1 0.5, λ2 0.
#pragma once

#include "retain/train/methods/baselines.h"

namespace retain {

struct OLoraSettings {
  LoraSettings lora;
  double lambda1 = 0.5;
  double lambda2 = 0.0;
  std::string orthogonal_loss = "abs";

  template <class V>
  void visit(V& v) {
    lora.visit(v);
    v("lambda1", lambda1, "weight of the orthogonality term Σ_layers Σ_{i<t} ‖A_i A_tᵀ‖");
    v("lambda2", lambda2, "weight of the L2 norm of the current task's LoRA parameters");
    v("orthogonal_loss", orthogonal_loss, "abs (sum of |entries|, reference code) | squared (paper)");
  }
  /// Throws retain::Error naming the bad key (unknown orthogonal_loss, negative λ).
  void validate(const std::string& where = "method.olora") const;
};

/// Σ over every adapted layer Σ_{i<current_task} of Σ_jk |A_i A_tᵀ|_jk (or its square when `squared`),
/// with A_i the lora_A of adapter IncLoRA::adapter_name(i). Earlier A's enter detached, so the
/// gradient reaches only the current task's A. A scalar zero when there is nothing to compare.
at::Tensor olora_orthogonality(CausalLM& model, int64_t current_task, bool squared);

class OLoRA : public IncLoRA {
 public:
  /// Validates the settings (see OLoraSettings::validate).
  explicit OLoRA(OLoraSettings settings);
  std::string name() const override { return "olora"; }
  at::Tensor extra_loss(TaskContext& ctx, const Batch& batch, const at::Tensor& logits) override;
  const OLoraSettings& settings() const { return settings_; }

 private:
  OLoraSettings settings_;
};

}  // namespace retain
