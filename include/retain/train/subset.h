// retain/train/subset.h — seeded random subsets of a split: the examples a method scores, measures or
// holds out (EWC's and SETA's Fisher, InfLoRA's input covariances, OSFT's layer importance, SETA's
// selection batches, a sweep's dev split).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace retain {

/// Up to `count` of the indices [0, size), in ascending order: a uniform subset drawn by the first
/// `count` steps of a Fisher–Yates shuffle from seeded_rng(seeds) (core/random.h), so the same on
/// every platform. All of [0, size) when size ≤ count.
std::vector<int64_t> random_subset(int64_t size, int64_t count, std::initializer_list<uint64_t> seeds);

/// all[rows[0]], all[rows[1]], …
template <class T>
std::vector<T> pick(const std::vector<T>& all, const std::vector<int64_t>& rows) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (int64_t i : rows) out.push_back(all[static_cast<std::size_t>(i)]);
  return out;
}

}  // namespace retain
