// `retain run` and `retain plan`: methods through a task sequence on the tiny model, every results
// file checked, bad methods and settings named before anything loads, and a run killed with SIGKILL
// that resumes to the results of an uninterrupted one.
#include "cli_support.h"
#include "retain/core/dir_lock.h"
#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/eval/results.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>

namespace {

using namespace retain::testing;
using retain::json;

TEST(CliRun, TwoMethodsWriteResultsSummaryAndTable) {
  const auto dir = temp_dir("cli_run");
  const auto a = make_task(dir, "colors", {"red", "blue"}, 2), b = make_task(dir, "animals", {"cat", "dog"}, 2);
  auto r = run({"run", "--model", kTinyModel.string(), "--task", a.string(), "--task", b.string(), "--method", "seqft",
                "--method", "inclora", "--out", (dir / "out").string(), "--epochs", "2", "--set", "eval.scoring=rank",
                "--set", "method.inclora.r=4"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_MSG(r.out, "seqft");
  EXPECT_MSG(r.out, "inclora");
  const auto summary = json::parse(retain::read_file(dir / "out" / "summary.json"));
  EXPECT_TRUE(summary["methods"].contains("seqft") && summary["methods"].contains("inclora")) << summary.dump();
  const auto config = json::parse(retain::read_file(dir / "out" / "config.json"));
  EXPECT_EQ(config["optim"]["epochs"], 2);
  EXPECT_EQ(config["method"]["inclora"]["r"], 4);
  const auto results = json::parse(retain::read_file(dir / "out" / "inclora" / "results.json"));
  EXPECT_EQ(results["matrix"].size(), 3u);
  EXPECT_EQ(results["scoring"], "rank");
  // The same folder with a different configuration is refused, and left as it was.
  const auto before = retain::read_file(dir / "out" / "config.json");
  expect_error(run({"run", "--model", kTinyModel.string(), "--task", a.string(), "--method", "seqft", "--out",
                    (dir / "out").string()}),
               {"already holds a different run", "--overwrite"});
  EXPECT_EQ(retain::read_file(dir / "out" / "config.json"), before);
  // A folder another process holds (core/dir_lock.h; here this test) is refused naming the holder,
  // before anything in it is read or written.
  {
    const retain::DirectoryLock held(dir / "out", "retain run", "test");
    expect_error(run({"run", "--model", kTinyModel.string(), "--task", a.string(), "--method", "seqft", "--out",
                      (dir / "out").string(), "--overwrite"}),
                 {"is in use by another retain run (pid " + std::to_string(getpid()), "choose another folder"});
    EXPECT_EQ(retain::read_file(dir / "out" / "config.json"), before);
  }
}

TEST(CliRun, BadMethodsSettingsAndTasksAreNamed) {
  const auto dir = temp_dir("cli_run");
  const auto a = make_task(dir, "colors", {"red", "blue"}, 2);
  const std::vector<std::string> base = {"run",      "--model", kTinyModel.string(), "--task",
                                         a.string(), "--out",   (dir / "o").string()};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  };
  expect_error(with({"--method", "seqtf"}), {"unknown method \"seqtf\"", "did you mean \"seqft\""});
  expect_error(with({"--method", "seqft", "--set", "optim.lrr=1"}), {"unknown setting \"lrr\"", "did you mean \"lr\""});
  expect_error(with({"--method", "inclora", "--set", "method.inclora.rank=4"}), {"method.inclora", "rank"});
  write_text(dir / "bad.toml", "[optim]\nlr = 1e-4\n[optimizer]\nepochs = 1\n");
  expect_error(with({"--method", "seqft", "--config", (dir / "bad.toml").string()}),
               {"unknown section [optimizer]", "optim"});
  expect_error(run({"run", "--model", kTinyModel.string(), "--task", (dir / "missing").string(), "--method", "seqft",
                    "--out", (dir / "o2").string()}),
               {"missing"});
}

TEST(CliRun, ProtocolFlagsAreCheckedBeforeAnythingLoads) {
  const auto dir = temp_dir("cli_run");
  const auto a = make_task(dir, "colors", {"red", "blue"}, 2);
  const std::vector<std::string> base = {"run",    "--model",  (dir / "no-model").string(),
                                         "--task", a.string(), "--method",
                                         "seqft",  "--out",    (dir / "o").string()};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  };
  // Each is reported although the model folder does not exist: the checks come first.
  expect_error(with({"--set", "method.seqft.schedule=cosin"}),
               {"method.seqft.schedule = \"cosin\" is not known", "constant | linear | cosine"});
  expect_error(with({"--sweep", "optim.lrr=1e-4,1e-3"}), {"--sweep optim.lrr", "did you mean \"lr\""});
  expect_error(with({"--sweep", "optim.lr=1e-4"}), {"at least two values"});
  expect_error(with({"--set", "eval.general_text=" + (dir / "none.txt").string()}),
               {"eval.general_text", "no such file"});
  expect_error(with({}), {"no-model", "config.json"});
  EXPECT_FALSE(fs::exists(dir / "o" / "config.json"));
}

TEST(CliPlan, WritesTheStepsAndCandidatesOfARun) {
  const auto dir = temp_dir("cli_plan");
  const auto a = make_task(dir, "colors", {"red", "blue"}, 2);
  auto r = run({"plan", "--model", kTinyModel.string(), "--task", a.string(), "--method", "seqlora", "--out",
                (dir / "plan").string(), "--set", "optim.max_steps=3", "--set", "method.seqlora.lr=1e-2", "--set",
                "eval.scoring=rank"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto plan = json::parse(retain::read_file(dir / "plan" / "plan.json"));
  EXPECT_EQ(plan["format"], "retain.plan/1");
  EXPECT_EQ(plan["tasks"][0]["steps"].size(), 3u);
  EXPECT_EQ(plan["optim"]["lr"], 1e-2);
  EXPECT_TRUE(fs::exists(dir / "plan" / "initial" / "adapter" / "adapter_config.json"));
  expect_error(run({"plan", "--model", kTinyModel.string(), "--task", a.string(), "--method", "mtl", "--out",
                    (dir / "p2").string()}),
               {"mtl"});
  expect_error(run({"plan", "--model", kTinyModel.string(), "--task", a.string(), "--method", "seqft", "--out",
                    (dir / "p3").string()}),
               {"eval.scoring = rank"});
}

// The end-to-end check of issue 3: three tasks through seqft, inclora and mtl on the tiny model, on
// the CPU, every results file checked. It must stay well inside the suite's CTest timeout.
TEST(CliRun, ThreeTasksThroughSeqftIncloraAndMtlEndToEnd) {
  const auto dir = temp_dir("cli_run");
  const auto a = make_task(dir, "colors", {"red", "blue"}, 2), b = make_task(dir, "animals", {"cat", "dog"}, 2),
             c = make_task(dir, "fruit", {"apple", "pear"}, 2);
  auto r = run({"run",
                "--model",
                kTinyModel.string(),
                "--task",
                a.string(),
                "--task",
                b.string(),
                "--task",
                c.string(),
                "--method",
                "seqft",
                "--method",
                "inclora",
                "--method",
                "mtl",
                "--out",
                (dir / "out").string(),
                "--epochs",
                "2",
                "--lr",
                "1e-2",
                "--batch-size",
                "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = json::parse(retain::read_file(dir / "out" / "summary.json"));
  for (const std::string method : {"seqft", "inclora", "mtl"}) {
    SCOPED_TRACE(method);
    EXPECT_MSG(r.out, method);
    const auto results = retain::read_results_json(dir / "out" / method / "results.json");  // strict reader
    EXPECT_EQ(results.matrix.tasks, (std::vector<std::string>{"colors", "animals", "fruit"}));
    EXPECT_EQ(results.matrix.scores.size(), 4u);
    EXPECT_EQ(results.scoring, retain::Scoring::Generate);
    const auto m = results.metrics();
    ASSERT_TRUE(m.backward_transfer.has_value());
    EXPECT_EQ(summary["methods"][method]["AA"].get<double>(), m.average_accuracy);
    EXPECT_EQ(summary["methods"][method]["BWT"].get<double>(), *m.backward_transfer);
    const auto csv = retain::read_file(dir / "out" / method / "matrix.csv");
    EXPECT_EQ(csv.rfind("stage,colors,animals,fruit\nbefore,", 0), 0u) << csv;
    // 3 tasks × 2 epochs × 2 steps (4 examples, batch 2): 12 lines of the loss curve; mtl trains
    // stage t on the t tasks seen so far: 2 × (2 + 4 + 6) = 24.
    const auto log = retain::read_file(dir / "out" / method / "metrics.jsonl");
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), method == "mtl" ? 24 : 12) << log;
    EXPECT_FALSE(fs::exists(dir / "out" / method / "resume"));
  }
}

// A run killed with SIGKILL (no clean-up of any kind) mid-way through its second method continues
// with `retain run --resume DIR` alone and ends with the results of an uninterrupted run.
TEST(CliRun, KilledRunResumesToTheUninterruptedResults) {
  const auto dir = temp_dir("cli_run");
  const auto a = make_task(dir, "colors", {"red", "blue", "green"}, 2),
             b = make_task(dir, "animals", {"cat", "dog", "cow"}, 2);
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"run",
                                    "--model",
                                    kTinyModel.string(),
                                    "--task",
                                    a.string(),
                                    "--task",
                                    b.string(),
                                    "--method",
                                    "seqft",
                                    "--method",
                                    "inclora",
                                    "--out",
                                    (dir / out).string(),
                                    "--lr",
                                    "1e-2",
                                    "--batch-size",
                                    "2",
                                    "--set",
                                    "eval.scoring=rank",
                                    "--set",
                                    "run.checkpoint_every_steps=1"};
  };
  ASSERT_EQ(run(args("whole")).code, 0);
  // 6 examples, batch 2: 3 steps per task, 6 per method; killed at step 9 = inclora's task 1, step 3.
  const auto killed = run(args("cut"), "RETAIN_TEST_KILL_AFTER_STEPS=9 ");
  ASSERT_EQ(killed.code, 128 + SIGKILL) << killed.err;
  EXPECT_TRUE(fs::exists(dir / "cut" / "seqft" / "results.json"));
  EXPECT_FALSE(fs::exists(dir / "cut" / "inclora" / "results.json"));
  EXPECT_TRUE(fs::exists(dir / "cut" / "inclora" / "resume" / "step.safetensors"));
  // The cut method's rows so far (killed in its first task: row 0 alone); none left by a finished one.
  const auto progress = json::parse(retain::read_file(dir / "cut" / "inclora" / "progress.json"));
  EXPECT_EQ(progress["tasks_done"], 0);
  ASSERT_EQ(progress["matrix"].size(), 1u);
  EXPECT_EQ(progress["matrix"][0], json::parse(retain::read_file(dir / "whole" / "inclora" / "results.json"))["matrix"][0]);
  EXPECT_FALSE(fs::exists(dir / "cut" / "seqft" / "progress.json"));
  const auto resumed = run({"run", "--resume", (dir / "cut").string()});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_MSG(resumed.err, "seqft already finished");
  // The killed run's lock (core/dir_lock.h) is recognised as stale and taken over; a clean end empties it.
  EXPECT_MSG(resumed.err, "was locked by a run that has ended without releasing it (pid ");
  EXPECT_EQ(retain::read_file(dir / "cut" / ".retain.lock"), "");
  for (const std::string method : {"seqft", "inclora"}) {
    const auto whole = json::parse(retain::read_file(dir / "whole" / method / "results.json"));
    const auto cut = json::parse(retain::read_file(dir / "cut" / method / "results.json"));
    EXPECT_EQ(cut["matrix"], whole["matrix"]) << method;
    EXPECT_EQ(cut["metrics"], whole["metrics"]) << method;
  }
  EXPECT_FALSE(fs::exists(dir / "cut" / "inclora" / "progress.json"));
  EXPECT_EQ(json::parse(retain::read_file(dir / "cut" / "summary.json")),
            json::parse(retain::read_file(dir / "whole" / "summary.json")));
  // Over a file-size limit (a full disk, as far as a writer can tell) the run stops with an error that
  // names the file, leaves no temporary behind and keeps what it had written; --resume then finishes
  // with the uninterrupted results.
  const auto limited = run(args("limited"), "prlimit --fsize=40000 ");
  expect_error(limited, {"error while writing", ".tmp-", "File too large"});
  EXPECT_TRUE(fs::exists(dir / "limited" / "config.json"));
  for (const auto& entry : fs::recursive_directory_iterator(dir / "limited"))
    EXPECT_NO_MSG(entry.path().filename().string(), ".tmp-") << entry.path();
  const auto finished = run({"run", "--resume", (dir / "limited").string()});
  ASSERT_EQ(finished.code, 0) << finished.err;
  EXPECT_EQ(json::parse(retain::read_file(dir / "limited" / "summary.json")),
            json::parse(retain::read_file(dir / "whole" / "summary.json")));
  // --resume of a folder without a run is an error naming it.
  expect_error(run({"run", "--resume", (dir / "nothing").string()}), {"nothing", "config.json"});
}

// --jobs 2: each method in its own child process, one CPU thread each. The results equal a
// sequential run's on one thread bit for bit (nothing is shared between the processes); each
// method's output is in its log; a killed child is reported by name and --resume finishes the run.
TEST(CliRun, JobsTrainMethodsInChildProcessesWithTheSequentialResults) {
  const auto dir = temp_dir("cli_run_jobs");
  const auto a = make_task(dir, "colors", {"red", "blue", "green"}, 2),
             b = make_task(dir, "animals", {"cat", "dog", "cow"}, 2);
  auto args = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> v{"run", "--model", kTinyModel.string(), "--task", a.string(), "--task", b.string(),
                               "--method", "seqft", "--method", "inclora", "--method", "asr", "--out",
                               (dir / out).string(), "--lr", "1e-2", "--batch-size", "2", "--set",
                               "eval.scoring=rank", "--set", "run.checkpoint_every_steps=1", "--set",
                               "method.asr.expansion_dim=64"};
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  const auto alone = run(args("alone", {}), "OMP_NUM_THREADS=1 ");
  ASSERT_EQ(alone.code, 0) << alone.err;
  const auto jobs = run(args("jobs", {"--jobs", "2"}), "OMP_NUM_THREADS=2 ");
  ASSERT_EQ(jobs.code, 0) << jobs.err;
  EXPECT_MSG(jobs.err, "3 methods, 2 at a time (1 CPU thread each)");
  EXPECT_MSG(jobs.err, "inclora finished in");
  for (const std::string method : {"seqft", "inclora", "asr"}) {
    const auto one = json::parse(retain::read_file(dir / "alone" / method / "results.json"));
    const auto two = json::parse(retain::read_file(dir / "jobs" / method / "results.json"));
    EXPECT_EQ(two["matrix"], one["matrix"]) << method;
    EXPECT_EQ(two["metrics"], one["metrics"]) << method;
    EXPECT_MSG(retain::read_file(dir / "jobs" / method / "log.txt"), method + " | task 2/2 animals");
  }
  EXPECT_EQ(json::parse(retain::read_file(dir / "jobs" / "summary.json"))["methods"].size(), 3u);
  EXPECT_TRUE(fs::exists(dir / "jobs" / "report.html"));
  // Every child killed at its own step 4 (task 2): the run fails naming them, and resumes.
  const auto killed = run(args("cut", {"--jobs", "2"}), "OMP_NUM_THREADS=2 RETAIN_TEST_KILL_AFTER_STEPS=4 ");
  EXPECT_NE(killed.code, 0);
  expect_error(killed, {"3 of 3 methods failed", "seqft, inclora, asr", "--resume"});
  EXPECT_MSG(killed.err, "seqft failed (exit status 137)");
  EXPECT_FALSE(fs::exists(dir / "cut" / "seqft" / "results.json"));
  const auto resumed = run({"run", "--resume", (dir / "cut").string(), "--jobs", "2"}, "OMP_NUM_THREADS=2 ");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  for (const std::string method : {"seqft", "inclora", "asr"}) {
    const auto one = json::parse(retain::read_file(dir / "alone" / method / "results.json"));
    const auto cut = json::parse(retain::read_file(dir / "cut" / method / "results.json"));
    EXPECT_EQ(cut["matrix"], one["matrix"]) << method;
  }
}

}  // namespace
