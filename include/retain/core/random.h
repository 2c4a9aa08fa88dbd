// retain/core/random.h — randomness that is the same on every platform and standard library.
//
// std::mt19937_64 and std::seed_seq are fully specified by the C++ standard; std::shuffle and
// std::uniform_int_distribution are not. Everything retain draws at random outside libtorch (batch
// order, replay buffers, Fisher subsets, pretraining's window order) goes through these, so a seed
// means the same run anywhere.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <random>
#include <utility>
#include <vector>

namespace retain {

/// A generator seeded from 64-bit values through std::seed_seq (each split into two 32-bit words).
inline std::mt19937_64 seeded_rng(std::initializer_list<uint64_t> seeds) {
  std::vector<uint32_t> words;
  for (uint64_t s : seeds) {
    words.push_back(static_cast<uint32_t>(s));
    words.push_back(static_cast<uint32_t>(s >> 32));
  }
  std::seed_seq sequence(words.begin(), words.end());
  return std::mt19937_64(sequence);
}

/// Uniform integer in [0, n), n > 0, without modulo bias (rejects the lowest 2^64 mod n outputs).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;
  uint64_t x = rng();
  while (x < threshold) x = rng();
  return x % n;
}

/// Fisher–Yates shuffle from the back: for i = n, n − 1, …, 2 swap items[i − 1] with
/// items[uniform_below(rng, i)]; every order is equally likely.
template <typename T>
void shuffle_in_place(std::vector<T>& items, std::mt19937_64& rng) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[uniform_below(rng, i)]);
}

/// A uniformly random order of 0, 1, …, n − 1 (empty for n ≤ 0): those indices shuffled by
/// shuffle_in_place (n − 1 draws from `rng`, more only on uniform_below's rare rejections).
inline std::vector<int64_t> random_permutation(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> order(static_cast<size_t>(n > 0 ? n : 0));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  shuffle_in_place(order, rng);
  return order;
}

}  // namespace retain
