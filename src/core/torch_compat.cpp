#include "retain/core/torch_compat.h"

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

const char* torch_version() { return TORCH_VERSION; }

bool cuda_available() { return torch::cuda::is_available(); }

}  // namespace retain::compat
