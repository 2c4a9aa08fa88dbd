// retain/dist/replica_check.h — that data-parallel replicas still hold the same parameters.
//
// Every rank applies the same update to the same values, so the replicas stay bitwise identical
// without ever broadcasting parameters; this check makes a broken promise (a rank that skipped a
// hook, a nondeterministic kernel) an error instead of a silently diverging job.
#pragma once

#include "retain/dist/process_group.h"

#include <string>
#include <vector>

namespace retain {

/// A float64 digest of `tensors`: [Σ_i Σ x, Σ_i (i + 1) Σ x²], each tensor's terms computed in
/// float64. Bitwise-equal lists give bitwise-equal digests.
at::Tensor replica_digest(const std::vector<at::Tensor>& tensors);

/// Gathers every rank's digest of `tensors` and throws, naming the ranks whose digest differs from
/// rank 0's and `where` ("task \"colors\", step 12"), unless all are equal. A world of 1: nothing.
void check_replicas(const DistContext& dist, const std::vector<at::Tensor>& tensors, const std::string& where);

}  // namespace retain
