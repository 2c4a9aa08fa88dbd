#include "retain/train/methods/seta_selection.h"

#include "retain/core/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace retain {

namespace {
constexpr const char* kComponent = "seta";
}  // namespace

std::vector<int64_t> owner_tasks(uint64_t owners) {
  std::vector<int64_t> out;
  for (int64_t t = 0; t < kSetaMaxTasks; ++t)
    if (owners >> t & 1u) out.push_back(t);
  return out;
}

int64_t top_count(int64_t n, double rho) {
  RETAIN_CHECK(n >= 1 && rho > 0 && rho <= 1, kComponent, "cannot keep a share {} of {} entries", rho, n);
  return std::clamp<int64_t>(std::llround(rho * static_cast<double>(n)), 1, n);
}

at::Tensor select_top_k(const at::Tensor& scores, int64_t k) {
  auto flat = scores.reshape({-1});
  RETAIN_CHECK(k >= 1 && k <= flat.numel(), kComponent, "cannot select {} of {} entries", k, flat.numel());
  if (!flat.is_floating_point() || flat.scalar_type() == at::kHalf || flat.scalar_type() == at::kBFloat16)
    flat = flat.to(at::kFloat);
  flat = flat.masked_fill(flat.isnan(), -std::numeric_limits<double>::infinity());
  // Stable, so that ties keep the lower index first.
  auto order = std::get<1>(at::sort(flat, /*stable=*/true, /*dim=*/0, /*descending=*/true));
  return std::get<0>(order.narrow(0, 0, k).sort());
}

at::Tensor select_top_fraction(const at::Tensor& scores, double rho) {
  return select_top_k(scores, top_count(scores.numel(), rho));
}

SplitPlan split_on_share(const at::Tensor& selected, const std::vector<ExpertEntries>& existing, int64_t task) {
  RETAIN_CHECK(task >= 0 && task < kSetaMaxTasks, kComponent, "task {} is outside [0, {})", task, kSetaMaxTasks);
  struct Owned {
    int64_t index, expert, position;
    bool operator<(const Owned& o) const { return index < o.index; }
  };
  std::vector<Owned> unique, shared;
  SplitPlan plan;
  for (size_t e = 0; e < existing.size(); ++e) {
    const auto idx = existing[e].indices.to(at::kCPU, at::kLong).contiguous();
    RETAIN_CHECK(!(existing[e].owners & task_bit(task)), kComponent, "an existing expert already belongs to task {}", task);
    const auto* p = idx.data_ptr<int64_t>();
    for (int64_t i = 0; i < idx.numel(); ++i)
      (existing[e].unique ? unique : shared).push_back({p[i], static_cast<int64_t>(e), i});
    plan.keep.push_back(at::ones({idx.numel()}, at::kBool));
  }
  std::sort(unique.begin(), unique.end());
  std::sort(shared.begin(), shared.end());
  for (const auto* list : {&unique, &shared})
    for (size_t i = 1; i < list->size(); ++i)
      RETAIN_CHECK((*list)[i - 1].index != (*list)[i].index, kComponent,
                   "entry {} belongs to two {} experts (each entry has at most one unique and one shared value)",
                   (*list)[i].index, list == &unique ? "unique" : "shared");

  struct Member {
    std::vector<int64_t> indices, source, position;
  };
  std::map<uint64_t, Member> groups;
  std::vector<int64_t> fresh;
  const auto sel = selected.to(at::kCPU, at::kLong).contiguous();
  const auto* s = sel.data_ptr<int64_t>();
  for (int64_t i = 0; i < sel.numel(); ++i) {
    RETAIN_CHECK(i == 0 || s[i - 1] < s[i], kComponent, "the selected entries must be sorted and distinct");
    const Owned probe{s[i], 0, 0};
    auto in_shared = std::lower_bound(shared.begin(), shared.end(), probe);
    if (in_shared != shared.end() && in_shared->index == s[i]) {  // already shared: the value moves
      Member& m = groups[existing[in_shared->expert].owners | task_bit(task)];
      m.indices.push_back(s[i]);
      m.source.push_back(in_shared->expert);
      m.position.push_back(in_shared->position);
      plan.keep[in_shared->expert][in_shared->position] = false;
      continue;
    }
    auto in_unique = std::lower_bound(unique.begin(), unique.end(), probe);
    if (in_unique != unique.end() && in_unique->index == s[i]) {  // first shared: a new value
      Member& m = groups[existing[in_unique->expert].owners | task_bit(task)];
      m.indices.push_back(s[i]);
      m.source.push_back(-1);
      m.position.push_back(-1);
      continue;
    }
    fresh.push_back(s[i]);
  }
  plan.unique = at::tensor(fresh, at::kLong);
  for (auto& [owners, m] : groups) {
    SplitPlan::Shared sh;
    sh.owners = owners;
    sh.indices = at::tensor(m.indices, at::kLong);
    sh.source = at::tensor(m.source, at::kLong);
    sh.position = at::tensor(m.position, at::kLong);
    plan.shared.push_back(std::move(sh));
  }
  return plan;
}

at::Tensor normalise_importance(const at::Tensor& omega, const std::string& mode) {
  auto o = omega.to(at::kFloat);
  if (mode == "none" || o.numel() == 0) return o;
  RETAIN_CHECK(mode == "mean" || mode == "max", kComponent, "unknown importance normalisation \"{}\"", mode);
  const double scale = (mode == "mean" ? o.mean() : o.max()).item<double>();
  if (!(scale > 0) || !std::isfinite(scale)) return at::ones_like(o);
  return o / scale;
}

at::Tensor anchoring_penalty(const at::Tensor& values, const at::Tensor& anchors, const at::Tensor& omega,
                             double lambda) {
  RETAIN_CHECK(values.sizes() == anchors.sizes() && values.sizes() == omega.sizes(), kComponent,
               "anchoring needs values, anchors and importance of one shape, got [{}], [{}], [{}]",
               fmt::join(values.sizes(), ", "), fmt::join(anchors.sizes(), ", "), fmt::join(omega.sizes(), ", "));
  const auto dtype = values.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  return (omega.to(dtype) * (values.to(dtype) - anchors.to(dtype)).square()).sum() * lambda;
}

}  // namespace retain
