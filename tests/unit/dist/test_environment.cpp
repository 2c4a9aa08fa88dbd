// dist/environment.h and dist/shard.h: torchrun's variables read strictly, and contiguous shares that
// cover a list exactly once in rank order.
#include "retain/dist/environment.h"
#include "retain/dist/shard.h"

#include "common/test_support.h"

#include <gtest/gtest.h>

namespace {

using retain::dist_environment_from;
using retain::testing::error_of;

TEST(DistEnvironment, NoVariablesIsOneProcessAlone) {
  const auto env = dist_environment_from({{"PATH", "/usr/bin"}});
  EXPECT_TRUE(env.single());
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
}

TEST(DistEnvironment, LauncherVariablesAreReadAndRank0HostsTheStore) {
  const auto env = dist_environment_from(retain::launcher_environment(1, 2, "127.0.0.1", 29611));
  EXPECT_FALSE(env.single());
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.world_size, 2);
  EXPECT_EQ(env.local_world_size, 2);
  EXPECT_EQ(env.master_port, 29611);
  EXPECT_FALSE(env.agent_store);
  EXPECT_EQ(env.store_prefix, "");
  // A world of one that a launcher started still makes a process group.
  EXPECT_FALSE(dist_environment_from(retain::launcher_environment(0, 1, "127.0.0.1", 29611)).single());
}

TEST(DistEnvironment, TorchrunsAgentStoreMakesEveryRankAClientUnderItsPrefix) {
  auto vars = retain::launcher_environment(0, 2, "127.0.0.1", 29611);
  vars["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  vars["TORCHELASTIC_RESTART_COUNT"] = "3";
  const auto env = dist_environment_from(vars);
  EXPECT_TRUE(env.agent_store);
  EXPECT_EQ(env.store_prefix, "/worker/attempt_3");
}

TEST(DistEnvironment, MissingAndMalformedVariablesAreNamed) {
  EXPECT_MSG(error_of([] { dist_environment_from({{"RANK", "0"}, {"WORLD_SIZE", "2"}}); }),
             "RANK, WORLD_SIZE are set but LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT are not");
  auto vars = retain::launcher_environment(0, 2, "127.0.0.1", 29611);
  vars["RANK"] = "2";
  EXPECT_MSG(error_of([&] { dist_environment_from(vars); }), "RANK=2 is out of range: expected 0..1");
  vars["RANK"] = "one";
  EXPECT_MSG(error_of([&] { dist_environment_from(vars); }), "RANK=one is not an integer");
}

TEST(DistShard, ContiguousSharesCoverTheListOnceInRankOrder) {
  for (int64_t n : {0, 1, 2, 7, 8, 9}) {
    for (int world : {1, 2, 3, 4}) {
      std::vector<int64_t> items(static_cast<size_t>(n)), joined;
      for (int64_t i = 0; i < n; ++i) items[static_cast<size_t>(i)] = 10 * i;
      int64_t largest = 0, smallest = n;
      for (int r = 0; r < world; ++r) {
        const auto share = retain::shard_of(items, r, world);
        joined.insert(joined.end(), share.begin(), share.end());
        largest = std::max<int64_t>(largest, static_cast<int64_t>(share.size()));
        smallest = std::min<int64_t>(smallest, static_cast<int64_t>(share.size()));
      }
      EXPECT_EQ(joined, items) << n << " items over " << world;
      EXPECT_LE(largest - smallest, 1) << n << " items over " << world;
    }
  }
  EXPECT_EQ(retain::shard_range(9, 0, 2).size(), 5);  // the first ranks take the extra item
  EXPECT_EQ(retain::shard_range(9, 1, 2).begin, 5);
}

}  // namespace
