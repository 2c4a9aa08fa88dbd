// retain/train/methods/seta_gate.h — SETA's gate (methods/seta.h draws the whole method): a small
// network from prompt features to one logit per task, trained after each task with its own Adam loop
// on the task's features and on pseudo-features drawn from every earlier task's stored Gaussian
// (no raw data kept), with the routing-aware KL term.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace retain {

/// Mean and covariance (1/N) of features (N, d): computed in float64, kept in float32 on the CPU.
struct FeatureStats {
  at::Tensor mean;        // (d)
  at::Tensor covariance;  // (d, d), or its diagonal (d)
  int64_t count = 0;
};
FeatureStats feature_stats(const at::Tensor& features, bool diagonal);
/// n draws from N(μ, (1 − α) Σ + α (tr Σ / d) I), float32 on the stats' device; the same draws for a
/// seed on every device.
at::Tensor sample_features(const FeatureStats& stats, int64_t n, double shrinkage, uint64_t seed);

/// The gate: logits = W₂ relu(W₁ f + b₁) + b₂ (hidden > 0) or W₂ f + b₂; float32.
struct SetaGate {
  int64_t dim = 0, hidden = 0;
  at::Tensor w1, b1;  // (hidden, dim), (hidden) — hidden > 0 only
  at::Tensor w2, b2;  // (classes, hidden or dim), (classes)

  /// No classes yet; w1 drawn uniform ±1/√dim from `seed` (as torch.nn.Linear).
  static SetaGate create(int64_t dim, int64_t hidden, uint64_t seed, at::Device device);
  int64_t classes() const { return w2.defined() ? w2.size(0) : 0; }
  /// Adds a class with zero weights and bias.
  void add_class();
  /// (N, classes) for features (N, dim).
  at::Tensor logits(const at::Tensor& features) const;
  /// Top-k routes (N, k) int64 and their probabilities renormalised to sum 1 (N, k) float32.
  std::pair<at::Tensor, at::Tensor> route(const at::Tensor& features, int64_t k) const;
  std::vector<std::pair<std::string, at::Tensor>> tensors() const;  // "w1", "b1" (hidden > 0), "w2", "b2"
  /// From tensors() output (an error naming `where` when one is missing or misshaped).
  static SetaGate from_tensors(const std::vector<std::pair<std::string, at::Tensor>>& tensors, int64_t dim,
                               int64_t hidden, const std::string& where);
};

/// KL(p_old ‖ p_new) averaged over rows: old_probs (N, C_old), new_logits (N, C ≥ C_old); p_old is
/// zero on the classes it lacks. Differentiable in new_logits.
at::Tensor routing_kl(const at::Tensor& old_probs, const at::Tensor& new_logits);

struct GateTraining {
  double lr = 1e-2;
  int64_t steps = 300;
  double kl = 1.0;
  bool replay = true;
  int64_t pseudo_samples = 64;
  double shrinkage = 0.1;
};

/// Trains `gate` (which already has a class for `label`) on features (N, dim) of class `label` and,
/// with o.replay, on o.pseudo_samples draws from each earlier[s] (class s): loss = mean over classes
/// of each class's mean cross-entropy + o.kl · routing_kl(old gate on the draws, gate). Deterministic
/// in `seed`. Returns the last loss.
double train_gate(SetaGate& gate, const at::Tensor& features, int64_t label, const std::vector<FeatureStats>& earlier,
                  const GateTraining& o, uint64_t seed);

}  // namespace retain
