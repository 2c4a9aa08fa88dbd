// retain/dist/dist_settings.h — the [dist] section of a run: how data-parallel ranks talk.
//
// Which rank a process is and how many there are come from the environment (dist/environment.h),
// never from the config: the same config.json trains on one process or on eight.
#pragma once

#include "retain/core/settings.h"

#include <cstdint>
#include <string>

namespace retain {

/// The c10d backend: auto = NCCL when the run's device is CUDA and NCCL was compiled in, else Gloo.
enum class DistBackend { Auto, Gloo, Nccl };
/// The dtype gradients travel in: fp32 (exact sums of float32 gradients) or bf16 (half the bytes;
/// NCCL only, Gloo 1.13 has no bf16 allreduce).
enum class ReduceDtype { Fp32, Bf16 };

struct DistSettings {
  DistBackend backend = DistBackend::Auto;
  double bucket_mb = 25;  // PyTorch DDP's default bucket_cap_mb
  ReduceDtype reduce_dtype = ReduceDtype::Fp32;
  double timeout_s = 300;
  int64_t simulate_ranks = 1;

  template <class V>
  void visit(V& v) {
    v("backend", backend, "auto | gloo | nccl: the c10d process group (auto: nccl on CUDA when built with it, else gloo)");
    v("bucket_mb", bucket_mb, "gradients are all-reduced in buckets of about this many MiB");
    v("reduce_dtype", reduce_dtype, "fp32 | bf16: the dtype gradients are summed in (bf16: nccl only)");
    v("timeout_s", timeout_s, "seconds a rank waits for the others (set-up and every collective) before failing");
    v("simulate_ranks", simulate_ranks,
      "one process only: train as this many data-parallel ranks would, their shards one after another and their "
      "gradients summed in rank order (the reference of a distributed run; 1: off)");
  }
  /// Every value in range; errors name dist.<key>.
  void validate() const;
};

}  // namespace retain

namespace retain::settings {
template <>
struct EnumNames<DistBackend> {
  static constexpr std::pair<const char*, DistBackend> values[] = {
      {"auto", DistBackend::Auto}, {"gloo", DistBackend::Gloo}, {"nccl", DistBackend::Nccl}};
};
template <>
struct EnumNames<ReduceDtype> {
  static constexpr std::pair<const char*, ReduceDtype> values[] = {{"fp32", ReduceDtype::Fp32},
                                                                   {"bf16", ReduceDtype::Bf16}};
};
}  // namespace retain::settings
