// `retain launch`: data-parallel `retain run` on two Gloo ranks of the tiny model, one CPU thread each.
// The trained parameters (every safetensors file of the checkpoints) are compared with one process
// that computes the same two shards one after another (dist.simulate_ranks = 2: bitwise where the
// method has no statistics of its own) and with a plain single process (the full batch: within
// 1e-6), for seqft and the methods that reduce statistics of their own; a rank killed mid-run stops
// the job with an error that names it.
#include "cli_support.h"
#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/io/safetensors.h"

#include <gtest/gtest.h>

#include <iostream>

namespace {

using namespace retain::testing;
using retain::json;

struct Difference {
  double max_abs = 0;
  int64_t tensors = 0;
  bool bitwise = true;
};

// Every tensor of every *.safetensors file under `a`, against the file of the same relative path
// under `b`: the largest absolute difference, and whether all are bitwise equal.
Difference compare_checkpoints(const fs::path& a, const fs::path& b) {
  Difference d;
  for (const auto& entry : fs::recursive_directory_iterator(a)) {
    if (entry.path().extension() != ".safetensors") continue;
    const auto relative = fs::relative(entry.path(), a);
    EXPECT_TRUE(fs::exists(b / relative)) << (b / relative);
    if (!fs::exists(b / relative)) continue;
    const auto fa = retain::safetensors::File::open(entry.path()), fb = retain::safetensors::File::open(b / relative);
    EXPECT_EQ(fa.tensors().size(), fb.tensors().size()) << relative;
    for (const auto& info : fa.tensors()) {
      const at::Tensor ta = fa.tensor(info.name), tb = fb.tensor(info.name);
      ++d.tensors;
      if (!at::equal(ta, tb)) d.bitwise = false;
      if (at::isFloatingType(ta.scalar_type()))
        d.max_abs = std::max(d.max_abs, (ta.to(at::kDouble) - tb.to(at::kDouble)).abs().max().item<double>());
    }
  }
  return d;
}

// `retain run` arguments of a small training: 20 AdamW steps (lr 1e-3) per task of 16 examples in
// batches of 8 (4 rows per rank), rank scoring, a checkpoint after every task.
std::vector<std::string> run_args(const std::vector<fs::path>& tasks, const std::vector<std::string>& methods,
                                  const fs::path& out, int steps) {
  std::vector<std::string> args = {"run", "--model", kTinyModel.string(), "--out", out.string(), "--lr", "1e-3",
                                   "--set", "optim.max_steps=" + std::to_string(steps), "--set", "eval.scoring=rank",
                                   "--save-checkpoints"};
  for (const auto& t : tasks) args.insert(args.end(), {"--task", t.string()});
  for (const auto& m : methods) args.insert(args.end(), {"--method", m});
  return args;
}

std::vector<std::string> launched(int ranks, const std::vector<std::string>& args) {
  std::vector<std::string> out = {"launch", "--nproc-per-node", std::to_string(ranks), "--"};
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& extra) {
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// One CPU thread in every process, as each launched rank gets on a 2-core machine.
const std::string kOneThread = "OMP_NUM_THREADS=1 ";

TEST(CliLaunch, SeqftOnTwoRanksEqualsItsShardsInOneProcessBitwiseAndTheFullBatch) {
  const auto dir = temp_dir("cli_launch");
  const auto a = make_task(dir, "colors", {"red", "blue", "green", "black"}, 4);
  auto dp = run(launched(2, run_args({a}, {"seqft"}, dir / "dp", 20)));
  ASSERT_EQ(dp.code, 0) << dp.err;
  EXPECT_MSG(dp.err, "data parallel on 2 ranks (gloo)");
  auto sim = run(with(run_args({a}, {"seqft"}, dir / "sim", 20), {"--set", "dist.simulate_ranks=2"}), kOneThread);
  ASSERT_EQ(sim.code, 0) << sim.err;
  auto one = run(run_args({a}, {"seqft"}, dir / "one", 20), kOneThread);
  ASSERT_EQ(one.code, 0) << one.err;
  // A launched world of one (a Gloo group of 1, the plain training path) is the plain run, bitwise.
  auto alone = run(launched(1, run_args({a}, {"seqft"}, dir / "alone", 20)), kOneThread);
  ASSERT_EQ(alone.code, 0) << alone.err;
  EXPECT_MSG(alone.err, "data parallel on 1 rank (gloo)");
  EXPECT_EQ(retain::read_file(dir / "alone" / "seqft" / "checkpoints" / "task_1" / "model.safetensors"),
            retain::read_file(dir / "one" / "seqft" / "checkpoints" / "task_1" / "model.safetensors"));
  // Rank 0 alone prints the comparison table: as often as the single process does.
  EXPECT_EQ(occurrences(dp.out, "seqft"), occurrences(one.out, "seqft")) << dp.out;

  const auto ckpt = [&](const char* run) { return dir / run / "seqft" / "checkpoints" / "task_1"; };
  const Difference shards = compare_checkpoints(ckpt("dp"), ckpt("sim"));
  const Difference full = compare_checkpoints(ckpt("dp"), ckpt("one"));
  std::cout << "seqft: 2 ranks vs shards in one process: max |d| = " << shards.max_abs << " over " << shards.tensors
            << " tensors; vs the full batch: max |d| = " << full.max_abs << '\n';
  EXPECT_GT(shards.tensors, 10);
  // Each rank's gradient is computed as the simulation computes it, and a float sum of two numbers
  // is the same in either order: bitwise.
  EXPECT_TRUE(shards.bitwise) << "max |d| = " << shards.max_abs;
  // The full batch sums the same per-token terms in another order (float32 rounding, ~1e-7 relative
  // per gradient), which 20 AdamW steps of lr 1e-3 keep far below 1e-6.
  EXPECT_LE(full.max_abs, 1e-6);
  // The training itself moved the weights (so the comparisons are not of two untouched models).
  const auto base = retain::safetensors::File::open(kTinyModel / "model.safetensors");
  const auto trained = retain::safetensors::File::open(ckpt("dp") / "model.safetensors");
  const auto& name = base.tensors().front().name;
  EXPECT_GT((base.tensor(name).to(at::kDouble) - trained.tensor(name).to(at::kDouble)).abs().max().item<double>(), 1e-4);
  // Rank 0 alone wrote results, with the same accuracy matrix as the single process.
  const auto r_dp = json::parse(retain::read_file(dir / "dp" / "seqft" / "results.json"));
  const auto r_one = json::parse(retain::read_file(dir / "one" / "seqft" / "results.json"));
  EXPECT_EQ(r_dp["matrix"], r_one["matrix"]);
}

// The methods with statistics of their own, two tasks of 10 steps each: EWC's Fisher, ASR's router
// features, OSFT's importance, InfLoRA's covariances and SETA's selection, importance and gate
// features are sharded over the ranks and reduced (inclora, which has none, is the control).
TEST(CliLaunchMethods, ReduceTheirStatisticsOverTwoRanks) {
  const auto dir = temp_dir("cli_launch");
  const auto a = make_task(dir, "colors", {"red", "blue", "green", "black"}, 4);
  const auto b = make_task(dir, "animals", {"cat", "dog", "cow", "pig"}, 4);
  const std::vector<std::string> methods = {"ewc", "asr", "inclora", "osft", "inflora", "seta"};
  // In float64: the runs differ only in the order of float sums (of gradients over ranks, of the
  // methods' statistics), which in float32 grows to ~3e-6 over two tasks of AdamW; in float64 it is
  // ~1e-15, so the 1e-6 bound checks that the three runs compute the same thing.
  const std::vector<std::string> settings = {"--set", "run.dtype=float64", "--set", "method.ewc.lambda=100",
                                             "--set", "method.seta.gate_steps=20", "--set",
                                             "method.seta.importance_samples=4", "--set", "method.asr.dropout=0"};
  // (ASR's LoRA dropout is off: masks drawn for a share differ from those drawn for the full batch.)
  // The ranks' trainable parameters are compared after every step (a divergence fails the run).
  auto dp = run(launched(2, with(run_args({a, b}, methods, dir / "dp", 10), settings)), "RETAIN_TEST_CHECK_REPLICAS=1 ");
  ASSERT_EQ(dp.code, 0) << dp.err;
  auto sim = run(with(with(run_args({a, b}, methods, dir / "sim", 10), settings), {"--set", "dist.simulate_ranks=2"}),
                 kOneThread);
  ASSERT_EQ(sim.code, 0) << sim.err;
  auto one = run(with(run_args({a, b}, methods, dir / "one", 10), settings), kOneThread);
  ASSERT_EQ(one.code, 0) << one.err;
  for (const auto& m : methods) {
    const auto ckpt = [&](const char* run) { return dir / run / m / "checkpoints" / "task_2"; };
    const Difference shards = compare_checkpoints(ckpt("dp"), ckpt("sim"));
    const Difference full = compare_checkpoints(ckpt("dp"), ckpt("one"));
    std::cout << m << ": 2 ranks vs shards in one process: max |d| = " << shards.max_abs
              << (shards.bitwise ? " (bitwise)" : "") << "; vs the full batch: max |d| = " << full.max_abs << " over "
              << full.tensors << " tensors\n";
    EXPECT_GT(full.tensors, 0) << m;
    // Bitwise where the statistics are computed per batch exactly as alone (inclora has none; ASR's
    // features are pooled in the same batches; OSFT's and InfLoRA's are gathered before training);
    // EWC's Fisher and SETA's selection sum their shares in another order.
    if (m == "inclora" || m == "asr" || m == "osft" || m == "inflora") {
      EXPECT_TRUE(shards.bitwise) << m << ": max |d| = " << shards.max_abs;
    }
    EXPECT_LE(shards.max_abs, 1e-6) << m;
    EXPECT_LE(full.max_abs, 1e-6) << m;
  }
}

TEST(CliLaunch, AKilledRankStopsTheJobAndIsNamed) {
  const auto dir = temp_dir("cli_launch");
  const auto a = make_task(dir, "colors", {"red", "blue", "green", "black"}, 4);
  // Rank 1 SIGKILLs itself after 3 optimizer steps; rank 0 is stopped, the launcher names rank 1.
  auto r = run(launched(2, run_args({a}, {"seqft"}, dir / "dp", 20)),
               "RETAIN_TEST_KILL_AFTER_STEPS=3 RETAIN_TEST_KILL_RANK=1 ");
  expect_error(r, {"[launch]", "rank 1 was killed by signal 9"});
  EXPECT_FALSE(fs::exists(dir / "dp" / "seqft" / "results.json"));
}

// Rank 1 SIGKILLed mid-way through the second method: the launcher stops the job naming it, and
// `retain launch ... -- run --resume DIR` on two ranks reaches the uninterrupted result bitwise
// (every rank reads rank 0's resume point; each step's dropout seeds depend on the step alone).
TEST(CliLaunch, AJobCutByAKilledRankResumesToTheUninterruptedResult) {
  const auto dir = temp_dir("cli_launch");
  const auto a = make_task(dir, "colors", {"red", "blue", "green", "black"}, 4);
  const auto b = make_task(dir, "animals", {"cat", "dog", "cow", "pig"}, 4);
  const auto args = [&](const std::string& out) {
    return launched(2, with(run_args({a, b}, {"seqft", "inclora"}, dir / out, 4),
                            {"--set", "run.checkpoint_every_steps=1"}));
  };
  ASSERT_EQ(run(args("whole")).code, 0);
  // 4 steps per task, 8 per method: step 11 is inclora's first task, its step 3.
  const auto killed = run(args("cut"), "RETAIN_TEST_KILL_AFTER_STEPS=11 RETAIN_TEST_KILL_RANK=1 ");
  expect_error(killed, {"rank 1 was killed by signal 9"});
  EXPECT_TRUE(fs::exists(dir / "cut" / "seqft" / "results.json"));
  EXPECT_FALSE(fs::exists(dir / "cut" / "inclora" / "results.json"));
  const auto resumed = run(launched(2, {"run", "--resume", (dir / "cut").string()}));
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_MSG(resumed.err, "seqft already finished");
  for (const std::string method : {"seqft", "inclora"}) {
    const auto whole = json::parse(retain::read_file(dir / "whole" / method / "results.json"));
    const auto cut = json::parse(retain::read_file(dir / "cut" / method / "results.json"));
    EXPECT_EQ(cut["matrix"], whole["matrix"]) << method;
    const Difference d = compare_checkpoints(dir / "whole" / method / "checkpoints", dir / "cut" / method / "checkpoints");
    EXPECT_GT(d.tensors, 0) << method;
    EXPECT_TRUE(d.bitwise) << method << ": max |d| = " << d.max_abs;
  }
}

TEST(CliLaunch, FailedRanksAndUnsupportedMethodsAreNamed) {
  const auto dir = temp_dir("cli_launch");
  const auto a = make_task(dir, "colors", {"red", "blue"}, 2);
  // Both ranks fail the same way (no model there): both named, with their exit status.
  expect_error(run(launched(2, {"run", "--model", (dir / "none").string(), "--task", a.string(), "--method", "seqft",
                                "--out", (dir / "o").string()})),
               {"2 of 2 ranks failed", "rank 0 exited with status 1", "rank 1 exited with status 1"});
  expect_error(run({"launch", "--nproc-per-node", "2"}), {"no command given"});
  expect_error(run({"launch", "--nproc-per-node", "2", "--", "pretrain", "--out", (dir / "p").string()}),
               {"the ranks' command must be `run`", "got `pretrain`"});
  EXPECT_FALSE(fs::exists(dir / "p"));
  // A method whose statistics are not reduced yet is refused before training, naming it.
  expect_error(run(with(run_args({a}, {"lwf"}, dir / "lwf", 2), {"--set", "dist.simulate_ranks=2"})),
               {"method lwf does not support data-parallel training yet (2 ranks)"});
}

}  // namespace
