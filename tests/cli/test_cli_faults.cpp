// Faults at seeded random points (issue 19): `retain run` is SIGKILLed inside a training step, during
// evaluation, or while a results/checkpoint/resume file is being written (core/fault_injection.h),
// then resumed, again and again until it finishes; its results and checkpoint files must then be
// bitwise those of an uninterrupted run (CPU, one thread).
#include "cli_support.h"
#include "retain/core/files.h"
#include "retain/core/json.h"

#include <gtest/gtest.h>

#include <csignal>
#include <random>

namespace {

using namespace retain::testing;
using retain::json;

// Every file of an uninterrupted run that a resumed one must reproduce byte for byte (checkpoints,
// matrices, summary, config); results.json without its wall-clock "seconds".
void expect_same_outputs(const fs::path& whole, const fs::path& cut, const std::string& context) {
  for (const auto& entry : fs::recursive_directory_iterator(whole)) {
    if (!entry.is_regular_file()) continue;
    const auto rel = fs::relative(entry.path(), whole);
    const std::string name = rel.filename().string();
    // Logs and report.html hold wall-clock times and the folder's own path; metrics.jsonl tokens/s.
    if (name == "log.txt" || name == "metrics.jsonl" || name == ".retain.lock" || name == "report.html") continue;
    ASSERT_TRUE(fs::exists(cut / rel)) << context << ": " << rel;
    if (name == "results.json") {
      auto a = json::parse(retain::read_file(entry.path())), b = json::parse(retain::read_file(cut / rel));
      a.erase("seconds");
      b.erase("seconds");
      EXPECT_EQ(a, b) << context << ": " << rel;
    } else {
      EXPECT_TRUE(retain::read_file(entry.path()) == retain::read_file(cut / rel)) << context << ": " << rel << " differs";
    }
  }
  for (const auto& entry : fs::recursive_directory_iterator(cut))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << context << ": " << entry.path();
}

TEST(CliFaults, RandomKillsResumeToTheUninterruptedResults) {
  const auto dir = temp_dir("cli_faults");
  const auto a = make_task(dir, "colors", {"red", "blue", "green"}, 2),
             b = make_task(dir, "animals", {"cat", "dog", "cow"}, 2);
  const auto args = [&](const std::string& out) {
    return std::vector<std::string>{"run", "--model", kTinyModel.string(), "--task", a.string(), "--task", b.string(),
                                    "--method", "seqft", "--method", "inclora", "--out", (dir / out).string(),
                                    "--lr", "1e-2", "--batch-size", "2", "--save-checkpoints", "--set",
                                    "eval.scoring=rank", "--set", "eval.batch_size=2", "--set",
                                    "run.checkpoint_every_steps=1"};
  };
  const std::string one_thread = "OMP_NUM_THREADS=1 ";
  ASSERT_EQ(run(args("whole"), one_thread).code, 0);
  // 12 optimizer steps, ~20 evaluation batches and ~40 atomic writes in the whole run: each attempt
  // dies at a random one of them (or, past the end, finishes).
  std::mt19937 rng(20261204);
  const std::vector<std::pair<std::string, int>> points = {{"step", 12}, {"eval", 20}, {"write", 40}};
  for (int trial = 0; trial < 3; ++trial) {
    const std::string out = "cut" + std::to_string(trial);
    std::string history;
    int kills = 0;
    for (int attempt = 0; attempt < 30; ++attempt) {
      const auto& [point, count] = points[rng() % points.size()];
      const int at = 1 + static_cast<int>(rng() % static_cast<unsigned>(count));
      const std::string env = point == "step" ? "RETAIN_TEST_KILL_AFTER_STEPS=" + std::to_string(at) + " "
                                              : "RETAIN_TEST_FAULT=" + point + ":" + std::to_string(at) + " ";
      const auto r = attempt == 0 ? run(args(out), one_thread + env)
                                  : run({"run", "--resume", (dir / out).string()}, one_thread + env);
      history += point + ":" + std::to_string(at) + (r.code == 0 ? " done" : " killed") + "; ";
      if (r.code == 0) break;
      ASSERT_EQ(r.code, 128 + SIGKILL) << history << "\n" << r.err;
      ++kills;
    }
    ASSERT_TRUE(fs::exists(dir / out / "summary.json")) << history;
    EXPECT_GE(kills, 1) << history;
    expect_same_outputs(dir / "whole", dir / out, out + " (" + history + ")");
  }
}

}  // namespace
