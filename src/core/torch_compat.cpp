#include "retain/core/torch_compat.h"

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>

#include <cmath>

namespace retain::compat {

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask, bool is_causal) {
#if RETAIN_HAS_SDPA
  std::optional<at::Tensor> m;
  if (mask.defined()) m = mask.to(q.scalar_type());
  return at::scaled_dot_product_attention(q, k, v, m, 0.0, is_causal && !mask.defined());
#else
  const auto in_type = q.scalar_type();
  const bool upcast = in_type == at::kHalf || in_type == at::kBFloat16;
  auto qf = upcast ? q.to(at::kFloat) : q;
  auto kf = upcast ? k.to(at::kFloat) : k;
  auto vf = upcast ? v.to(at::kFloat) : v;
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = at::matmul(qf, kf.transpose(-2, -1)) * scale;  // (B, H, Tq, Tk)
  if (mask.defined()) {
    scores = scores + mask.to(scores.scalar_type());
  } else if (is_causal) {
    const auto tq = q.size(-2), tk = k.size(-2);
    auto causal = at::ones({tq, tk}, scores.options().dtype(at::kBool)).tril(tk - tq);
    scores = scores.masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity());
  }
  auto out = at::matmul(at::softmax(scores, -1), vf);
  return upcast ? out.to(in_type) : out;
#endif
}

bool has_fused_adamw() { return TORCH_VERSION_MAJOR >= 2; }

void fused_adamw_(std::vector<at::Tensor>& params, std::vector<at::Tensor>& grads, std::vector<at::Tensor>& exp_avgs,
                  std::vector<at::Tensor>& exp_avg_sqs, std::vector<at::Tensor>& steps, double lr, double beta1,
                  double beta2, double weight_decay, double eps) {
#if TORCH_VERSION_MAJOR >= 2
  std::vector<at::Tensor> max_exp_avg_sqs;  // amsgrad off
  at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2, weight_decay, eps,
                    /*amsgrad=*/false, /*maximize=*/false);
#else
  TORCH_CHECK(false, "[adamw] the fused AdamW kernel needs libtorch 2.x");
#endif
}

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define RETAIN_AUTOCAST_BY_DEVICE 1
#else
#define RETAIN_AUTOCAST_BY_DEVICE 0
#endif

AutocastGuard::AutocastGuard(bool enabled, at::ScalarType dtype) : enabled_(enabled) {
#if RETAIN_AUTOCAST_BY_DEVICE
  previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
  previous_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
  if (!enabled_) return;
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
  previous_ = at::autocast::is_enabled();
  previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
  if (!enabled_) return;
  at::autocast::set_enabled(true);
  at::autocast::set_autocast_gpu_dtype(dtype);
#endif
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if RETAIN_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(at::kCUDA, previous_);
  at::autocast::set_autocast_dtype(at::kCUDA, previous_dtype_);
#else
  at::autocast::set_enabled(previous_);
  at::autocast::set_autocast_gpu_dtype(previous_dtype_);
#endif
}

const char* torch_version() { return TORCH_VERSION; }

bool cuda_available() { return torch::cuda::is_available(); }

}  // namespace retain::compat
