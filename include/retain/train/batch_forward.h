// retain/train/batch_forward.h — a collated batch through the model: the plumbing every method's own
// pass shares (the trainer's forward, LwF's teacher, EWC's and SETA's per-example losses, InfLoRA's
// capture pass, evaluation).
#pragma once

#include "retain/data/batching.h"
#include "retain/model/causal_lm.h"
#include "retain/train/method.h"

#include <vector>

namespace retain {

/// The batch's input_ids and attention_mask on `device`, as the model reads them.
ForwardInput forward_input(const Batch& batch, at::Device device);

/// The answer-token loss of examples[rows] in one batch (mean over the answer tokens), on `device`,
/// under bf16 autocast when `autocast_bf16` and the device is CUDA; undefined when truncation left no
/// answer token. Grad mode as the caller set it.
at::Tensor answer_loss(CausalLM& model, at::Device device, bool autocast_bf16,
                       const std::vector<TokenizedExample>& examples, const std::vector<int64_t>& rows);

/// Makes exactly `params` require gradients among the model's parameters for its lifetime (a
/// per-example gradient pass then differentiates nothing else); restores every flag and clears the
/// gradients it leaves on `params` when destroyed.
class GradientsOnly {
 public:
  GradientsOnly(CausalLM& model, const std::vector<at::Tensor>& params);
  ~GradientsOnly();
  GradientsOnly(const GradientsOnly&) = delete;
  GradientsOnly& operator=(const GradientsOnly&) = delete;

 private:
  std::vector<std::pair<at::Tensor, bool>> flags_;
};

}  // namespace retain
