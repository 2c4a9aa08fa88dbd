// retain/train/methods/seta_selection.h — SETA's selection and anchoring math (methods/seta.h draws
// the whole method): which entries of a matrix task t takes (select_top_k), how they split into unique
// and shared experts (split_on_share), and the elastic anchoring of shared values. Pure functions of
// tensors, tested alone.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace retain {

/// Owner sets are 64-bit masks (bit s: task s), so a SETA run holds at most this many tasks.
constexpr int64_t kSetaMaxTasks = 64;
inline uint64_t task_bit(int64_t task) { return uint64_t{1} << task; }
/// The tasks of an owner set, ascending.
std::vector<int64_t> owner_tasks(uint64_t owners);

/// Entries kept of a matrix of n: round(ρ n), clamped to [1, n].
int64_t top_count(int64_t n, double rho);
/// Flat indices (int64, ascending) of the k largest entries of `scores` (ties: the lower index
/// first; NaN counts as −∞).
at::Tensor select_top_k(const at::Tensor& scores, int64_t k);
/// select_top_k(scores, top_count(scores.numel(), rho)).
at::Tensor select_top_fraction(const at::Tensor& scores, double rho);

/// One existing expert of a matrix as split_on_share sees it.
struct ExpertEntries {
  uint64_t owners = 0;  // bit s: task s
  bool unique = false;  // a unique expert (never changes) or a shared one (its entries may move)
  at::Tensor indices;   // sorted flat indices, int64
};

/// How the selected entries M_t of one matrix split (all tensors int64 on the CPU).
struct SplitPlan {
  at::Tensor unique;  // entries nobody owned: task t's unique expert
  struct Shared {
    uint64_t owners = 0;  // K ∪ {t}
    at::Tensor indices;   // sorted
    at::Tensor source;    // per entry: the existing shared expert its value moves from, or −1 (new, 0)
    at::Tensor position;  // per entry: its position in that expert (−1 for new values)
  };
  std::vector<Shared> shared;    // ascending owner sets
  std::vector<at::Tensor> keep;  // per existing expert: bool mask of the entries that stay (all for unique)
};

/// Split-on-share of the selected entries `selected` (sorted, distinct) of task `task` against the
/// matrix's existing experts (see the file comment).
SplitPlan split_on_share(const at::Tensor& selected, const std::vector<ExpertEntries>& existing, int64_t task);

/// "mean": Ω / mean(Ω) (all ones when the mean is 0) | "max": Ω / max(Ω) (same) | "none". float32.
at::Tensor normalise_importance(const at::Tensor& omega, const std::string& mode);
/// λ Σ_j Ω_j (δ_j − δ*_j)², in float32 at least; differentiable in `values`.
at::Tensor anchoring_penalty(const at::Tensor& values, const at::Tensor& anchors, const at::Tensor& omega,
                             double lambda);

}  // namespace retain
