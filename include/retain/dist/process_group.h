// retain/dist/process_group.h — the c10d process group of a data-parallel job, and the collectives
// retain uses on it.
//
// There is no C++ DDP module (pytorch/pytorch #48959): retain calls libtorch's c10d process groups
// directly, Gloo on CPUs and NCCL on GPUs (where libtorch was built with it: RETAIN_HAS_NCCL). The
// one place a group is made is DistContext::open; everything else talks to a DistContext, which
// for a process alone is a world of 1 whose collectives do nothing.
//
// Set-up: the ranks meet in a TCPStore at MASTER_ADDR:MASTER_PORT (dist/environment.h says who
// hosts it), each writes "retain/arrived/<rank>" and waits up to dist.timeout_s for the others;
// a rank that does not come is named in the error. Every collective waits at most as long; a
// failure is rethrown as "[dist] <what> failed on rank r of W: <c10d's message>".
//
// Gloo in libtorch 1.13 sums float32 and float64 (also integers) with allreduce, and broadcasts,
// gathers (lists of equal-sized tensors) and barriers; it has no reduce_scatter, no AVG and no
// bfloat16 sums, so retain uses none of them.
#pragma once

#include "retain/dist/dist_settings.h"
#include "retain/dist/environment.h"

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

namespace retain {

class DistContext {
 public:
  /// A world of 1: rank 0, no process group, every collective the identity.
  DistContext() = default;
  ~DistContext();
  DistContext(const DistContext&) = delete;
  DistContext& operator=(const DistContext&) = delete;

  /// The process group of `env` (nullptr-free: a world-1 context when env.single()). `device` is
  /// the run's device: backend auto picks NCCL for CUDA (when built with it), Gloo otherwise.
  /// Throws naming the rank(s) that did not arrive within settings.timeout_s.
  static std::shared_ptr<DistContext> open(const DistEnvironment& env, const DistSettings& settings,
                                           at::Device device);

  int rank() const { return rank_; }
  int world_size() const { return world_; }
  /// Rank 0: the one that evaluates and writes results and checkpoints.
  bool is_main() const { return rank_ == 0; }
  /// Whether a process group exists (false for a process alone).
  bool distributed() const { return impl_ != nullptr; }
  /// "gloo", "nccl", or "none" for a process alone.
  std::string backend_name() const;
  const DistSettings& settings() const { return settings_; }

  /// Sums `tensor` over the ranks, in place (float32, float64 or an integer type; contiguous).
  /// `what` names the data in errors ("gradients, bucket 2 of 3").
  void all_reduce_sum(at::Tensor& tensor, const std::string& what) const;
  /// Sums each of `tensors` in place: one collective per dtype, the tensors flattened together.
  void all_reduce_sum(std::vector<at::Tensor>& tensors, const std::string& what) const;
  /// Root's values into `tensor` on every rank (same shape and dtype everywhere).
  void broadcast(at::Tensor& tensor, int root, const std::string& what) const;
  /// Every rank's `tensor` (the same shape on each), in rank order.
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor, const std::string& what) const;
  /// Every rank's `rows` (its own number of rows; the other dimensions equal), concatenated in rank
  /// order along dimension 0: padded to the longest for the gather, cut back after.
  at::Tensor all_gather_rows(const at::Tensor& rows, const std::string& what) const;
  /// Returns once every rank has called it.
  void barrier(const std::string& what) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, world_ = 1;
  DistSettings settings_;
};

/// The world-1 context shared by everything that runs alone (RunContext's default).
std::shared_ptr<DistContext> single_process_context();

/// Whether this build has NCCL process groups (libtorch built with CUDA and its NCCL header found).
bool nccl_available();

}  // namespace retain
