// core/random.h's permutation. Oracles: the C++ standard's fixed value of mt19937_64 ([rand.predef]:
// the 10000th output of a default-constructed engine), Fisher–Yates from the back computed here from
// the engine's raw outputs, and a chi-square test of uniformity over all orders of four items.
#include "retain/core/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>

namespace {

TEST(Random, TheEngineIsTheStandardsMt19937_64) {
  std::mt19937_64 rng;
  rng.discard(9999);
  EXPECT_EQ(rng(), 9981545732273789042ull);
}

TEST(Random, PermutationHoldsEveryIndexOnce) {
  for (int64_t n : {1, 2, 5, 100, 1001}) {
    auto rng = retain::seeded_rng({7, static_cast<uint64_t>(n)});
    auto order = retain::random_permutation(n, rng);
    ASSERT_EQ(order.size(), static_cast<size_t>(n));
    std::sort(order.begin(), order.end());
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
  }
  std::mt19937_64 rng(1);
  EXPECT_TRUE(retain::random_permutation(0, rng).empty());
  EXPECT_TRUE(retain::random_permutation(-3, rng).empty());
  // n = 1 draws nothing: the generator is where it was.
  std::mt19937_64 a(5), b(5);
  EXPECT_EQ(retain::random_permutation(1, a), std::vector<int64_t>{0});
  EXPECT_EQ(a(), b());
}

// For i = n … 2: j = x mod i of the next raw output x, swap positions i − 1 and j. uniform_below
// rejects only x < 2^64 mod i (< i here): never met by these outputs, which the test checks.
TEST(Random, PermutationIsFisherYatesFromTheBackOnTheEnginesOutputs) {
  const int64_t n = 10;
  auto rng = retain::seeded_rng({42});
  std::mt19937_64 raw = rng;  // the same state
  const auto order = retain::random_permutation(n, rng);
  std::vector<int64_t> expected(n);
  std::iota(expected.begin(), expected.end(), int64_t{0});
  for (uint64_t i = n; i > 1; --i) {
    const uint64_t x = raw();
    ASSERT_GE(x, (0 - i) % i) << "a rejected draw; pick another seed";
    std::swap(expected[i - 1], expected[x % i]);
  }
  EXPECT_EQ(order, expected);
  EXPECT_EQ(rng(), raw());  // and it drew exactly n − 1 values
}

// 24,000 permutations of 4: each of the 24 orders expected 1,000 times. Chi-square with 23 degrees
// of freedom exceeds 60 with probability 4e-5 for a uniform sampler; the seed is fixed, so the test
// is deterministic.
TEST(Random, PermutationsAreUniform) {
  auto rng = retain::seeded_rng({2024});
  std::map<std::vector<int64_t>, int> counts;
  const int draws = 24000;
  for (int k = 0; k < draws; ++k) ++counts[retain::random_permutation(4, rng)];
  EXPECT_EQ(counts.size(), 24u);
  double chi2 = 0;
  for (const auto& [order, c] : counts) chi2 += (c - 1000.0) * (c - 1000.0) / 1000.0;
  EXPECT_LT(chi2, 60.0);
  // The first position alone: each index a quarter of the time.
  std::map<int64_t, int> first;
  for (const auto& [order, c] : counts) first[order[0]] += c;
  for (const auto& [index, c] : first) EXPECT_NEAR(c, draws / 4, 300) << index;  // sd ≈ 67
}

}  // namespace
