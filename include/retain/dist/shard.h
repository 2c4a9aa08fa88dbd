// retain/dist/shard.h — which part of a list each data-parallel rank takes.
#pragma once

#include <cstdint>
#include <vector>

namespace retain {

/// [begin, end) of rank `rank`'s contiguous share of `n` items over `world` ranks: the first
/// n mod world ranks take ⌈n / world⌉ items, the rest ⌊n / world⌋ (numpy.array_split's split), so
/// the shares, in rank order, are the list itself. A rank may get none (n < world).
struct ShardRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
ShardRange shard_range(int64_t n, int rank, int world);

/// items[shard_range(items.size(), rank, world)].
std::vector<int64_t> shard_of(const std::vector<int64_t>& items, int rank, int world);

}  // namespace retain
