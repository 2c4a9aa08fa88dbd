// retain/train/methods/lwf.h — Learning without Forgetting on full fine-tuning (methods.md §1, `lwf`).
//
// Before task t > 1 the current model is copied and frozen (the teacher). While training task t the
// loss gains
//
//     λ · T² · mean over the batch's real tokens of KL( softmax(z_old / T) ‖ softmax(z_new / T) )
//
// where z are the next-token logits at every non-padding position of the new task's inputs (prompt
// and answer: LwF distils the previous model's whole output distribution on the new inputs, not only
// the answer tokens). T² keeps the gradient scale independent of the temperature (Hinton et al.).
// Defaults: λ = 1, T = 2. No term during the first task.
#pragma once

#include "retain/train/methods/baselines.h"

namespace retain {

struct LwfSettings {
  double lambda = 1.0;
  double temperature = 2.0;

  template <class V>
  void visit(V& v) {
    v("lambda", lambda, "weight of the distillation term");
    v("temperature", temperature, "softmax temperature T of teacher and student");
  }
  /// Throws for a negative λ or a non-positive temperature.
  void validate(const std::string& where = "method.lwf") const;
};

/// λ·T²·mean_{real tokens} KL(softmax(old/T) ‖ softmax(new/T)); logits (B, S, V), mask (B, S) of 0/1.
at::Tensor lwf_distillation(const at::Tensor& new_logits, const at::Tensor& old_logits, const at::Tensor& mask,
                            double lambda, double temperature);

class LwF : public SeqFT {
 public:
  explicit LwF(LwfSettings settings);
  std::string name() const override { return "lwf"; }
  /// Not yet: the distillation term is a mean over each micro-batch's tokens, so ranks' shards would
  /// weight it differently from one batch (it needs the global token count, as the loss has).
  bool supports_data_parallel() const override { return false; }
  void on_task_start(TaskContext& ctx) override;
  at::Tensor extra_loss(TaskContext& ctx, const Batch& batch, const at::Tensor& logits) override;
  /// The frozen copy of the model from before the current task (null during the first task).
  CausalLM teacher() const { return teacher_; }

 private:
  LwfSettings settings_;
  CausalLM teacher_{nullptr};
};

}  // namespace retain
