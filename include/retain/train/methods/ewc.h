// retain/train/methods/ewc.h — Elastic Weight Consolidation on full fine-tuning (methods.md §1, `ewc`).
//
// Training task t adds to the answer-token loss the penalty
//
//     λ/2 Σ_i F_i (θ_i − θ*_i)²
//
// over every base parameter, where θ* is the model after the previous task and F the diagonal
// empirical Fisher accumulated over the earlier tasks. No penalty during the first task.
//
// Fisher of one task (at on_task_end, from the weights just trained, model in eval mode): the mean,
// over up to `fisher_samples` training examples of that task, of the squared gradient of the
// example's own answer-token loss (mean cross-entropy over its target tokens), one example at a time
// (batch of 1), so the square is taken per sample, not of a batch mean. When the task has more
// examples than fisher_samples, a uniform random subset is used (std::mt19937_64 seeded with
// {run.seed, task index}); otherwise all of them.
//
// Accumulation over tasks: "sum" (default) F ← F + F_t, as TRACE's EWC (model/Regular/EWC.py) keeps
// adding to one Fisher that is never reset; "mean" F ← (k·F + F_t)/(k+1) after k earlier tasks.
// TRACE squares the gradients of the training batches as they go; we use per-sample gradients
// after the task (the empirical Fisher of the paper). λ defaults to 400 (TRACE).
//
// Storage: F and θ* are one tensor each per base parameter, on its device, in the parameter's dtype
// promoted to at least float32 (a bf16 model gets float32 F and θ*: 4 extra bytes twice per weight).
// The penalty is computed in that precision.
#pragma once

#include "retain/train/methods/baselines.h"

#include <map>
#include <string>

namespace retain {

struct EwcSettings {
  double lambda = 400;
  int64_t fisher_samples = 64;
  std::string fisher_accumulate = "sum";

  template <class V>
  void visit(V& v) {
    v("lambda", lambda, "λ of the penalty λ/2 Σ F (θ − θ*)² (TRACE: 400)");
    v("fisher_samples", fisher_samples, "examples per task for the diagonal Fisher (per-sample gradients)");
    v("fisher_accumulate", fisher_accumulate, "sum | mean: how the Fisher of each task joins the earlier ones");
  }
  /// Throws for a negative λ, fisher_samples < 1 or an unknown fisher_accumulate.
  void validate(const std::string& where = "method.ewc") const;
};

/// Diagonal empirical Fisher of `examples` at the model's current weights: for every base parameter,
/// the mean over the examples of the squared gradient of that example's answer-token loss (mean
/// token cross-entropy; batch of 1). Uses the model as it is (call it in eval mode); the parameters'
/// requires_grad flags and .grad are left as they were. Result dtype: at least float32.
/// With `dist` (several ranks), each rank takes its contiguous share of the examples and the sums are
/// all-reduced (train/fisher.h): every rank returns the same Fisher.
std::map<std::string, at::Tensor> ewc_fisher(CausalLM& model, const std::vector<TokenizedExample>& examples,
                                             at::Device device, const DistContext* dist = nullptr);

class EWC : public SeqFT {
 public:
  explicit EWC(EwcSettings settings);
  std::string name() const override { return "ewc"; }
  /// The Fisher is sharded over the ranks and all-reduced; the penalty depends on parameters only.
  bool supports_data_parallel() const override { return true; }
  at::Tensor extra_loss(TaskContext& ctx, const Batch& batch, const at::Tensor& logits) override;
  void on_task_end(TaskContext& ctx) override;
  void save(RunContext& run, const std::filesystem::path& dir) override;
  MethodState state(RunContext& run) override;
  void load_state(RunContext& run, int64_t tasks_done, const MethodState& state) override;

  /// λ/2 Σ F (θ − θ*)² at the model's current weights (differentiable); undefined before the
  /// first task has ended.
  at::Tensor penalty(CausalLM& model) const;
  /// The accumulated Fisher and the anchor θ*, by parameter name (empty before the first task ends).
  const std::map<std::string, at::Tensor>& fisher() const { return fisher_; }
  const std::map<std::string, at::Tensor>& anchor() const { return anchor_; }
  /// Tasks whose Fisher has been accumulated.
  int64_t tasks_accumulated() const { return tasks_; }
  const EwcSettings& settings() const { return settings_; }

 private:
  EwcSettings settings_;
  std::map<std::string, at::Tensor> fisher_;
  std::map<std::string, at::Tensor> anchor_;
  int64_t tasks_ = 0;
};

}  // namespace retain
