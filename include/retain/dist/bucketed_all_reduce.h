// retain/dist/bucketed_all_reduce.h — summing many tensors (gradients) over the ranks in few
// collectives: packed into flat buckets, as PyTorch's DDP reducer does.
#pragma once

#include "retain/dist/process_group.h"

#include <string>
#include <vector>

namespace retain {

/// Sums each of `tensors` over the ranks, in place. They are packed, in list order, into flat
/// buckets of at most `bucket_bytes` (counted in the reduction dtype; a tensor larger than that is a
/// bucket of its own; a change of dtype starts a new bucket), one allreduce per bucket. Every rank
/// must pass the same shapes and dtypes in the same order. Buckets are summed in float32 (float64
/// tensors in float64), or in bfloat16 with ReduceDtype::Bf16 (NCCL). Returns the number of buckets.
/// With a world of 1 it does nothing and returns 0.
int64_t bucketed_all_reduce_sum(const DistContext& dist, std::vector<at::Tensor>& tensors, int64_t bucket_bytes,
                                ReduceDtype reduce_dtype, const std::string& what);

}  // namespace retain
