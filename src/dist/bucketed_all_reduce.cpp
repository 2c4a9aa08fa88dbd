#include "retain/dist/bucketed_all_reduce.h"

#include "retain/core/error.h"

#include <ATen/ATen.h>

namespace retain {

namespace {

at::ScalarType bucket_dtype(at::ScalarType t, ReduceDtype reduce) {
  if (t == at::kDouble) return at::kDouble;
  if (!at::isFloatingType(t)) return t;  // integer counts stay exact
  return reduce == ReduceDtype::Bf16 ? at::kBFloat16 : at::kFloat;
}

}  // namespace

int64_t bucketed_all_reduce_sum(const DistContext& dist, std::vector<at::Tensor>& tensors, int64_t bucket_bytes,
                                ReduceDtype reduce_dtype, const std::string& what) {
  if (!dist.distributed() || tensors.empty()) return 0;
  RETAIN_CHECK(bucket_bytes > 0, "dist", "the bucket size must be positive, got {} bytes", bucket_bytes);
  // Buckets as [first, last) ranges of the list.
  std::vector<std::pair<size_t, size_t>> buckets;
  size_t first = 0;
  int64_t bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    RETAIN_CHECK(tensors[i].defined(), "dist", "{}: tensor {} of {} is undefined (give zeros for a missing gradient)",
                 what, i, tensors.size());
    const auto dtype = bucket_dtype(tensors[i].scalar_type(), reduce_dtype);
    const int64_t size = tensors[i].numel() * static_cast<int64_t>(c10::elementSize(dtype));
    const bool new_dtype = i > first && bucket_dtype(tensors[first].scalar_type(), reduce_dtype) != dtype;
    if (i > first && (new_dtype || bytes + size > bucket_bytes)) {
      buckets.emplace_back(first, i);
      first = i;
      bytes = 0;
    }
    bytes += size;
  }
  buckets.emplace_back(first, tensors.size());
  for (size_t b = 0; b < buckets.size(); ++b) {
    const auto [begin, end] = buckets[b];
    const auto dtype = bucket_dtype(tensors[begin].scalar_type(), reduce_dtype);
    std::vector<at::Tensor> flat;
    for (size_t i = begin; i < end; ++i) flat.push_back(tensors[i].reshape({-1}).to(dtype));
    at::Tensor buffer = flat.size() == 1 ? flat[0].contiguous() : at::cat(flat);
    dist.all_reduce_sum(buffer, fmt::format("{}, bucket {} of {}", what, b + 1, buckets.size()));
    int64_t offset = 0;
    for (size_t i = begin; i < end; ++i) {
      auto& t = tensors[i];
      t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
  return static_cast<int64_t>(buckets.size());
}

}  // namespace retain
