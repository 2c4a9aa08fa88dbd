#include "retain/train/subset.h"

#include "retain/core/random.h"

#include <algorithm>

namespace retain {

std::vector<int64_t> random_subset(int64_t size, int64_t count, std::initializer_list<uint64_t> seeds) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(size, 0)));
  for (int64_t i = 0; i < size; ++i) order[i] = i;
  if (size <= count) return order;
  auto rng = seeded_rng(seeds);
  for (int64_t i = 0; i < count; ++i)
    std::swap(order[i], order[i + static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(size - i)))]);
  order.resize(static_cast<size_t>(std::max<int64_t>(count, 0)));
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace retain
