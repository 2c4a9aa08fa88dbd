#include "retain/train/fisher.h"

#include "retain/dist/bucketed_all_reduce.h"
#include "retain/dist/shard.h"
#include "retain/train/batch_forward.h"

#include <torch/torch.h>

namespace retain {

std::vector<at::Tensor> diagonal_fisher(CausalLM& model, const std::vector<at::Tensor>& params,
                                        const std::vector<TokenizedExample>& examples,
                                        const std::vector<int64_t>& rows, const FisherOptions& options) {
  auto dtype_of = [&](const at::Tensor& p) {
    return options.float64_for_float64 && p.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  };
  std::vector<at::Tensor> squares;
  for (const auto& p : params) squares.push_back(at::zeros(p.sizes(), p.options().dtype(dtype_of(p))));
  int64_t used = 0;
  const bool sharded = options.dist && options.dist->distributed();
  const std::vector<int64_t> mine = sharded ? shard_of(rows, options.dist->rank(), options.dist->world_size()) : rows;
  {
    GradientsOnly only(model, params);
    torch::AutoGradMode grad_mode(true);
    for (int64_t row : mine) {
      auto loss = answer_loss(model, options.device, options.autocast_bf16, examples, {row});
      if (!loss.defined()) continue;  // no answer token survived truncation: no gradient
      auto grads = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                         /*allow_unused=*/true);
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i)
        if (grads[i].defined()) squares[i].add_(grads[i].to(squares[i].scalar_type()).square());
      ++used;
    }
  }
  if (sharded) {
    std::vector<at::Tensor> sums = squares;
    sums.push_back(at::full({1}, static_cast<double>(used), at::kDouble));
    // Summed in the squares' own dtype (float32, or float64 for float64 parameters), in buckets.
    const auto bucket = static_cast<int64_t>(options.dist->settings().bucket_mb * (1 << 20));
    bucketed_all_reduce_sum(*options.dist, sums, bucket, ReduceDtype::Fp32, "the Fisher's sums of squared gradients");
    used = static_cast<int64_t>(sums.back().item<double>());
  }
  if (used > 0) {
    torch::NoGradGuard no_grad;
    for (auto& s : squares) s.div_(static_cast<double>(used));
  }
  return squares;
}

}  // namespace retain
