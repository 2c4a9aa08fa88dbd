// The collectives' contract on two Gloo ranks: each rank is a thread of this process with its own
// process group over loopback (rank 0 hosts the TCPStore), one thread each as in CI. Sums are exact
// for integers-valued floats; a rank that never arrives is named in the timeout.
#include "retain/dist/bucketed_all_reduce.h"
#include "retain/dist/process_group.h"
#include "retain/dist/replica_check.h"

#include "common/test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <thread>

namespace {

using namespace retain;
using retain::testing::error_of;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

DistEnvironment rank_of(int rank, int world, int port) {
  return dist_environment_from(launcher_environment(rank, world, "127.0.0.1", port));
}

// Runs body(ctx) on `world` ranks, one thread each; rethrows the first rank's exception.
void on_ranks(int world, const std::function<void(DistContext&)>& body, double timeout_s = 30) {
  const int port = free_port();
  DistSettings settings;
  settings.backend = DistBackend::Gloo;
  settings.timeout_s = timeout_s;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        auto ctx = DistContext::open(rank_of(r, world, port), settings, at::kCPU);
        body(*ctx);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

TEST(DistCollectives, AllReduceSumsFloat32AndFloat64Exactly) {
  on_ranks(2, [](DistContext& ctx) {
    EXPECT_TRUE(ctx.distributed());
    EXPECT_EQ(ctx.world_size(), 2);
    EXPECT_EQ(ctx.backend_name(), "gloo");
    const double r = ctx.rank();
    at::Tensor f = at::arange(6, at::kFloat).reshape({2, 3}) * (r + 1);  // rank 0: x, rank 1: 2x
    ctx.all_reduce_sum(f, "a float32 test tensor");
    EXPECT_TRUE(at::equal(f, at::arange(6, at::kFloat).reshape({2, 3}) * 3));
    at::Tensor d = at::full({4}, 0.1 + r, at::kDouble);  // 0.1 + 1.1, in float64
    ctx.all_reduce_sum(d, "a float64 test tensor");
    EXPECT_TRUE(at::equal(d, at::full({4}, 0.1 + 1.1, at::kDouble)));
    // A list of tensors of two dtypes, flattened per dtype.
    std::vector<at::Tensor> list = {at::full({3}, r, at::kFloat), at::full({2, 2}, 2 * r, at::kDouble),
                                    at::full({1}, 1.0, at::kFloat)};
    ctx.all_reduce_sum(list, "a list");
    EXPECT_TRUE(at::equal(list[0], at::full({3}, 1.0, at::kFloat)));
    EXPECT_TRUE(at::equal(list[1], at::full({2, 2}, 2.0, at::kDouble)));
    EXPECT_TRUE(at::equal(list[2], at::full({1}, 2.0, at::kFloat)));
  });
}

TEST(DistCollectives, BucketedAllReduceEqualsOneSumPerTensor) {
  on_ranks(2, [](DistContext& ctx) {
    at::manual_seed(7 + ctx.rank());  // different values on each rank
    std::vector<at::Tensor> grads = {at::randn({300}), at::randn({17, 5}), at::randn({4}, at::kDouble), at::randn({1000})};
    std::vector<at::Tensor> expected;
    for (const auto& g : grads) {
      at::Tensor e = g.clone();
      ctx.all_reduce_sum(e, "the expected sum");
      expected.push_back(e);
    }
    // 1 KiB buckets: the 300- and 1000-element tensors are buckets of their own, the dtype change
    // starts a new one.
    const int64_t buckets = bucketed_all_reduce_sum(ctx, grads, 1024, ReduceDtype::Fp32, "test gradients");
    EXPECT_EQ(buckets, 4);
    for (size_t i = 0; i < grads.size(); ++i) EXPECT_TRUE(at::equal(grads[i], expected[i])) << "tensor " << i;
  });
}

TEST(DistCollectives, BroadcastAllGatherRowsAndBarrier) {
  on_ranks(2, [](DistContext& ctx) {
    const int r = ctx.rank();
    at::Tensor t = r == 1 ? at::arange(5, at::kFloat) : at::zeros({5});
    ctx.broadcast(t, 1, "rank 1's values");
    EXPECT_TRUE(at::equal(t, at::arange(5, at::kFloat)));
    const auto all = ctx.all_gather(at::full({2}, static_cast<double>(r), at::kDouble), "ranks");
    ASSERT_EQ(all.size(), 2u);
    EXPECT_TRUE(at::equal(all[0], at::zeros({2}, at::kDouble)));
    EXPECT_TRUE(at::equal(all[1], at::ones({2}, at::kDouble)));
    // Rank 0 has 3 rows, rank 1 has 1: gathered in rank order, the padding cut away.
    at::Tensor rows = at::full({r == 0 ? 3 : 1, 2}, static_cast<double>(r + 1));
    at::Tensor gathered = ctx.all_gather_rows(rows, "rows");
    EXPECT_TRUE(at::equal(gathered, at::cat({at::full({3, 2}, 1.0), at::full({1, 2}, 2.0)})));
    // The barrier holds rank 0 until rank 1, which comes 200 ms later, has arrived.
    const auto start = std::chrono::steady_clock::now();
    if (r == 1) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ctx.barrier("a test");
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_GE(waited, 0.19) << "rank " << r;
  });
}

TEST(DistCollectives, ReplicasThatDivergeAreNamed) {
  on_ranks(3, [](DistContext& ctx) {
    std::vector<at::Tensor> same = {at::arange(6, at::kFloat), at::ones({2, 2}, at::kDouble)};
    check_replicas(ctx, same, "identical");  // no error
    // Rank 2 differs in one element by one float32 ulp: named.
    std::vector<at::Tensor> params = {at::arange(6, at::kFloat), at::ones({2, 2}, at::kDouble)};
    if (ctx.rank() == 2) params[0][5] = std::nextafter(5.0f, 6.0f);
    EXPECT_MSG(error_of([&] { check_replicas(ctx, params, "task \"t\", step 3"); }),
               "task \"t\", step 3: the parameters of rank 2 differ from rank 0's");
  });
}

TEST(DistCollectives, ARankThatNeverArrivesIsNamedInTheTimeout) {
  const int port = free_port();
  DistSettings settings;
  settings.timeout_s = 1;
  const auto start = std::chrono::steady_clock::now();
  const std::string message = error_of([&] { DistContext::open(rank_of(0, 3, port), settings, at::kCPU); });
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_MSG(message, "rank 0 of 3: ranks 1, 2 did not arrive within 1 s");
  EXPECT_MSG(message, "(arrived: 0)");
  EXPECT_LT(took, 10);
}

TEST(DistCollectives, AProcessAloneIsAWorldOfOneWhoseCollectivesDoNothing) {
  auto ctx = DistContext::open(DistEnvironment{}, DistSettings{}, at::kCPU);
  EXPECT_FALSE(ctx->distributed());
  EXPECT_EQ(ctx->world_size(), 1);
  EXPECT_TRUE(ctx->is_main());
  at::Tensor t = at::ones({3});
  ctx->all_reduce_sum(t, "nothing");
  ctx->barrier("nothing");
  EXPECT_TRUE(at::equal(t, at::ones({3})));
  DistSettings bf16;
  bf16.reduce_dtype = ReduceDtype::Bf16;
  EXPECT_MSG(error_of([&] { DistContext::open(DistEnvironment{}, bf16, at::kCPU); }), "Gloo has no bfloat16 allreduce");
}

}  // namespace
