#include "retain/dist/replica_check.h"

#include "retain/core/error.h"

#include <ATen/ATen.h>

namespace retain {

at::Tensor replica_digest(const std::vector<at::Tensor>& tensors) {
  double sum = 0, weighted = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor x = tensors[i].detach().to(at::kDouble);
    sum += x.sum().item<double>();
    weighted += static_cast<double>(i + 1) * x.square().sum().item<double>();
  }
  return at::tensor(std::vector<double>{sum, weighted}, at::kDouble);
}

void check_replicas(const DistContext& dist, const std::vector<at::Tensor>& tensors, const std::string& where) {
  if (!dist.distributed()) return;
  const auto digests = dist.all_gather(replica_digest(tensors), "the replicas' digests");
  std::vector<int> differ;
  for (int r = 1; r < dist.world_size(); ++r)
    if (!at::equal(digests[static_cast<size_t>(r)], digests[0])) differ.push_back(r);
  RETAIN_CHECK(differ.empty(), "dist",
               "{}: the parameters of rank{} {} differ from rank 0's ({} tensors; digest {} on rank 0, {} on rank {}): "
               "the replicas diverged",
               where, differ.size() == 1 ? "" : "s", fmt::join(differ, ", "), tensors.size(),
               digests[0][0].item<double>(), differ.empty() ? 0.0 : digests[static_cast<size_t>(differ[0])][0].item<double>(),
               differ.empty() ? 0 : differ[0]);
}

}  // namespace retain
