#include "retain/dist/shard.h"

#include "retain/core/error.h"

#include <algorithm>

namespace retain {

ShardRange shard_range(int64_t n, int rank, int world) {
  RETAIN_CHECK(world >= 1 && rank >= 0 && rank < world && n >= 0, "dist", "no shard {} of {} ranks over {} items", rank,
               world, n);
  const int64_t base = n / world, extra = n % world;
  ShardRange r;
  r.begin = rank * base + std::min<int64_t>(rank, extra);
  r.end = r.begin + base + (rank < extra ? 1 : 0);
  return r;
}

std::vector<int64_t> shard_of(const std::vector<int64_t>& items, int rank, int world) {
  const ShardRange r = shard_range(static_cast<int64_t>(items.size()), rank, world);
  return {items.begin() + r.begin, items.begin() + r.end};
}

}  // namespace retain
