// retain/core/torch_compat.h — every difference between the libtorch versions retain builds against
// (Debian's 1.13 CPU build and the 2.x CUDA build inside PyTorch wheels) lives here and nowhere else.
#pragma once

#include <ATen/ATen.h>
#include <torch/version.h>

#include <optional>
#include <vector>

#if TORCH_VERSION_MAJOR >= 2
#define RETAIN_HAS_SDPA 1
#else
#define RETAIN_HAS_SDPA 0
#endif

// The class c10d's collectives are called on: ProcessGroupGloo and ProcessGroupNCCL derive from
// c10d::ProcessGroup in libtorch 1.13 and from c10d::Backend in 2.x (the calls are the same).
namespace c10d {
#if TORCH_VERSION_MAJOR >= 2
class Backend;
#else
class ProcessGroup;
#endif
}  // namespace c10d

namespace retain::compat {

#if TORCH_VERSION_MAJOR >= 2
using C10dGroup = ::c10d::Backend;
#else
using C10dGroup = ::c10d::ProcessGroup;
#endif

/// True when libtorch provides at::scaled_dot_product_attention (2.x).
constexpr bool has_sdpa() { return RETAIN_HAS_SDPA != 0; }

/// Scaled dot-product attention. q: (B, H, Tq, D); k, v: (B, H, Tk, D); mask: additive float mask
/// broadcastable to (B, H, Tq, Tk) or undefined. On 2.x this calls the fused kernel; on 1.13 it is
/// the plain softmax(q kᵀ / √D + mask) v, computed in float32 for half-precision inputs.
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask, bool is_causal);

/// Whether PyTorch's fused multi-tensor AdamW kernel exists (libtorch 2.x; CUDA tensors only).
bool has_fused_adamw();
/// One fused AdamW step over tensors of one device and dtype (torch.optim.AdamW(fused=True)'s
/// kernel); `steps` are float32 scalars on that device holding the step count after this step.
void fused_adamw_(std::vector<at::Tensor>& params, std::vector<at::Tensor>& grads, std::vector<at::Tensor>& exp_avgs,
                  std::vector<at::Tensor>& exp_avg_sqs, std::vector<at::Tensor>& steps, double lr, double beta1,
                  double beta2, double weight_decay, double eps);

/// Autocast (mixed precision) for CUDA in a scope: matrix products run in `dtype` while parameters
/// stay in their own dtype. Nests; restores the previous setting on destruction.
class AutocastGuard {
 public:
  AutocastGuard(bool enabled, at::ScalarType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_, previous_;
  at::ScalarType previous_dtype_;
};

/// "major.minor.patch" of the libtorch we were built against.
const char* torch_version();

/// Whether CUDA is usable at run time (compiled in and a device present).
bool cuda_available();

}  // namespace retain::compat
