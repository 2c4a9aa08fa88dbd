// Shared by the SETA and sparse-expert tests: seeded random tensors and index tensors as plain vectors.
#pragma once

#include "common/toy_run.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>
#include <vector>

namespace retain::testing {

/// A seeded N(0, 1) tensor of `shape`, drawn in float64 and cast to `dtype`.
inline at::Tensor randn(std::vector<int64_t> shape, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, g, at::TensorOptions().dtype(at::kDouble)).to(dtype);
}

/// An int64 tensor of `v`.
inline at::Tensor longs(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }

/// The entries of an index tensor.
inline std::vector<int64_t> values_of(const at::Tensor& t) {
  auto c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace retain::testing
