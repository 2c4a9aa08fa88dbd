// Helpers shared by the tensor test suites: everything of test_paths.h, plus tensor comparison.
#pragma once

#include "common/test_paths.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace retain::testing {

/// ‖a − b‖ / ‖b‖ in float64.
inline double relative_error(const at::Tensor& a, const at::Tensor& b) {
  auto x = a.to(at::kCPU).to(at::kDouble), y = b.to(at::kCPU).to(at::kDouble);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-300);
}

}  // namespace retain::testing
