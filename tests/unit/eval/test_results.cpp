// Run output files: exact contents for a small case, round trips, strict reading of results.json.
#include "retain/eval/results.h"

#include "common/test_support.h"

#include <cmath>
#include <limits>
#include <fstream>
#include <limits>

namespace {

using namespace retain::testing;

using retain::MethodResults;

// Two tasks, values exact in binary. AA = (0.5 + 1) / 2 = 0.75; BWT = a[2][1] − a[1][1] = 0.5 − 0.75 = −0.25;
// FWT = a[1][2] − a[0][2] = 0.5 − 0.25 = 0.25; F = a[1][1] − a[2][1] = 0.75 − 0.5 = 0.25.
MethodResults two_task_results() {
  MethodResults r;
  r.method = "olora";
  r.matrix.tasks = {"sst2", "agnews"};
  r.matrix.scores = {{0.5, 0.25}, {0.75, 0.5}, {0.5, 1.0}};
  r.routing_accuracy = retain::RoutingMatrix{{1.0, std::nullopt}, {0.5, 1.0}};
  r.scoring = retain::Scoring::Rank;
  r.seconds = 12.5;
  r.trainable_params = 8192;
  r.total_params = 1000000;
  r.config = retain::json{{"lr", 0.0001}, {"lora", {{"r", 8}}}};
  return r;
}

// One task: BWT, FWT and forgetting are undefined.
MethodResults one_task_results() {
  MethodResults r;
  r.method = "mtl";
  r.matrix.tasks = {"all"};
  r.matrix.scores = {{0.3}, {0.8}};
  r.seconds = 3600;
  r.trainable_params = 1000000;
  r.total_params = 1000000;
  return r;
}

const char* kTwoTaskJson = R"({
  "method": "olora",
  "tasks": [
    "sst2",
    "agnews"
  ],
  "matrix": [
    [
      0.5,
      0.25
    ],
    [
      0.75,
      0.5
    ],
    [
      0.5,
      1.0
    ]
  ],
  "metrics": {
    "AA": 0.75,
    "BWT": -0.25,
    "FWT": 0.25,
    "forgetting": 0.25
  },
  "routing_accuracy": [
    [
      1.0,
      null
    ],
    [
      0.5,
      1.0
    ]
  ],
  "scoring": "rank",
  "seconds": 12.5,
  "trainable_params": 8192,
  "total_params": 1000000,
  "config": {
    "lora": {
      "r": 8
    },
    "lr": 0.0001
  }
}
)";

void expect_same(const MethodResults& a, const MethodResults& b) {
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.matrix.tasks, b.matrix.tasks);
  EXPECT_EQ(a.matrix.scores, b.matrix.scores);  // exact: JSON numbers round-trip
  EXPECT_EQ(a.routing_accuracy, b.routing_accuracy);
  EXPECT_EQ(a.scoring, b.scoring);
  EXPECT_EQ(a.seconds, b.seconds);
  EXPECT_EQ(a.trainable_params, b.trainable_params);
  EXPECT_EQ(a.total_params, b.total_params);
  EXPECT_EQ(a.config, b.config);
}

TEST(Results, JsonTextIsExact) { EXPECT_EQ(retain::results_json_text(two_task_results()), kTwoTaskJson); }

TEST(Results, SingleTaskWritesNullMetrics) {
  const auto j = one_task_results().to_json();
  EXPECT_EQ(j["metrics"].dump(), R"({"AA":0.8,"BWT":null,"FWT":null,"forgetting":null})");
  EXPECT_TRUE(j["routing_accuracy"].is_null());
  EXPECT_EQ(j["scoring"], "generate");
}

TEST(Results, RoundTripThroughFiles) {
  const auto dir = temp_dir("eval");
  for (const auto& original : {two_task_results(), one_task_results()}) {
    const auto folder = retain::write_method_outputs(dir, original);
    EXPECT_EQ(folder, dir / original.method);
    const auto back = retain::read_results_json(folder / "results.json");
    expect_same(back, original);
    EXPECT_EQ(retain::results_json_text(back), retain::read_file(folder / "results.json"));
  }
  EXPECT_EQ(retain::read_file(dir / "olora" / "results.json"), kTwoTaskJson);
  EXPECT_EQ(retain::read_file(dir / "olora" / "matrix.csv"),
            "stage,sst2,agnews\n"
            "before,0.5,0.25\n"
            "after_sst2,0.75,0.5\n"
            "after_agnews,0.5,1\n");
  EXPECT_EQ(retain::read_file(dir / "mtl" / "matrix.csv"), "stage,all\nbefore,0.3\nafter_all,0.8\n");
}

TEST(Results, CsvQuotesAwkwardTaskNames) {
  retain::AccuracyMatrix m;
  m.tasks = {"a,b", "say \"hi\""};
  m.scores = {{0.1, 0.2}, {0.3, 0.4}, {0.5, 0.6}};
  EXPECT_EQ(retain::matrix_csv(m),
            "stage,\"a,b\",\"say \"\"hi\"\"\"\n"
            "before,0.1,0.2\n"
            "\"after_a,b\",0.3,0.4\n"
            "\"after_say \"\"hi\"\"\",0.5,0.6\n");
}

TEST(Results, SummaryIsExact) {
  const auto dir = temp_dir("eval");
  retain::write_summary(dir / "summary.json", {two_task_results(), one_task_results()});
  EXPECT_EQ(retain::read_file(dir / "summary.json"), R"({
  "methods": {
    "olora": {
      "AA": 0.75,
      "BWT": -0.25,
      "FWT": 0.25,
      "forgetting": 0.25
    },
    "mtl": {
      "AA": 0.8,
      "BWT": null,
      "FWT": null,
      "forgetting": null
    }
  }
}
)");
  auto message = error_of([] { retain::summary_json({two_task_results(), two_task_results()}); });
  EXPECT_MSG(message, "\"olora\" given twice");
}

TEST(Results, ComparisonTable) {
  // olora: AA 75.0, BWT −25.0, FWT 25.0, F 25.0; 8192 / 1e6 trainable = 8.19K (0.82%).
  // mtl: AA 80.0, the rest undefined; 1e6 / 1e6 = 1.00M (100.00%).
  const std::string expected =
      "method    AA    BWT   FWT  forgetting        trainable  seconds\n"
      "---------------------------------------------------------------\n"
      "olora   75.0  -25.0  25.0        25.0    8.19K (0.82%)     12.5\n"
      "mtl     80.0      —     —           —  1.00M (100.00%)   3600.0\n";
  EXPECT_EQ(retain::format_comparison_table({two_task_results(), one_task_results()}), expected);
}

TEST(Results, GeneralLossAndSweepRoundTripAndAreChecked) {
  auto r = two_task_results();
  r.general_loss = std::vector<double>{3.25, 3.5, 3.75};
  r.sweep = retain::json{{"key", "optim.lr"}, {"values", {"1e-4", "1e-3"}}, {"dev_aa", {0.5, 0.75}}, {"chosen", "1e-3"}};
  const auto dir = temp_dir("results_general");
  retain::write_results_json(dir / "results.json", r);
  const auto back = retain::read_results_json(dir / "results.json");
  EXPECT_EQ(*back.general_loss, *r.general_loss);
  EXPECT_EQ(*back.sweep, *r.sweep);
  // The table gains the change of the general text's loss, last row minus first: +0.500.
  const std::string table = retain::format_comparison_table({r, one_task_results()});
  EXPECT_MSG(table, "LM loss Δ");
  EXPECT_MSG(table, "+0.500");
  r.general_loss = std::vector<double>{3.25, 3.5};
  EXPECT_MSG(error_of([&] { r.validate(); }), "general_loss has 2 values, expected 3");
  r.general_loss = std::vector<double>{3.25, -1, 1};
  EXPECT_MSG(error_of([&] { r.validate(); }), "general_loss[1]");
  // A diverged model's loss (NaN, ∞) is written as null and read back as NaN; the table shows "—".
  r.general_loss = std::vector<double>{3.25, 3.5, std::numeric_limits<double>::infinity()};
  retain::write_results_json(dir / "diverged.json", r);
  EXPECT_MSG(retain::read_file(dir / "diverged.json"), "\"general_loss\": [\n    3.25,\n    3.5,\n    null");
  const auto diverged = retain::read_results_json(dir / "diverged.json");
  EXPECT_TRUE(std::isnan(diverged.general_loss->back()));
  EXPECT_NO_MSG(retain::format_comparison_table({diverged}), "+");
}

TEST(Results, ComparisonTableRoundsTinyNegativesToZero) {
  auto r = two_task_results();
  r.matrix.scores = {{0.5, 0.5}, {0.7, 0.5}, {0.7 - 1e-9, 0.5}};  // BWT −1e-9 → "0.0", not "-0.0"
  r.total_params = 0;                                             // no share printed
  r.trainable_params = 0;
  const auto table = retain::format_comparison_table({r});
  EXPECT_NO_MSG(table, "-0.0");
  EXPECT_MSG(table, "olora   60.0  0.0  0.0         0.0          0     12.5");
}

TEST(Results, MetricsLogAppendsAndFlushesEachLine) {
  const auto dir = temp_dir("eval");
  const auto path = dir / "metrics.jsonl";
  {
    retain::MetricsLog log(path);
    log.append(retain::StepRecord{"sst2", 0, 1, 0.5, 0.0001, 1000.0});
    // Flushed: another reader sees the line while the log is still open.
    EXPECT_EQ(retain::read_file(path),
              "{\"task\":\"sst2\",\"epoch\":0,\"step\":1,\"loss\":0.5,\"lr\":0.0001,\"tokens_per_s\":1000.0}\n");
    log.append(retain::json{{"event", "eval"}, {"loss", std::numeric_limits<double>::quiet_NaN()}});
  }
  {
    retain::MetricsLog again(path);  // reopening appends, it does not truncate
    again.append(retain::StepRecord{"agnews", 1, 7, 0.25, 0.0002, 2000.5});
  }
  std::vector<retain::json> lines;
  retain::for_each_jsonl(path, [&](size_t, const retain::json& v) { lines.push_back(v); });
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["task"], "sst2");
  EXPECT_TRUE(lines[1]["loss"].is_null());  // NaN is written as null
  EXPECT_EQ(lines[2]["step"], 7);
  EXPECT_EQ(lines[2]["tokens_per_s"], 2000.5);

  retain::MetricsLog log(path);
  EXPECT_MSG(error_of([&] { log.append(retain::json::array()); }), "must be a JSON object");
  EXPECT_MSG(error_of([&] { retain::MetricsLog bad(dir / "missing" / "metrics.jsonl"); }), "cannot open");
}

// Every corruption of a good file is refused with a message naming the file and the key.
TEST(Results, BadResultsJsonNamesTheKey) {
  const std::string where = "run/olora/results.json";
  auto mutated = [&](const std::function<void(retain::json&)>& change) {
    auto j = retain::json::parse(kTwoTaskJson);
    change(j);
    return error_of([&] { MethodResults::from_json(j, where); });
  };
  const std::vector<std::pair<std::function<void(retain::json&)>, std::string>> cases = {
      {[](auto& j) { j["matrix"].erase(2); }, "key \"matrix\" has 2 rows, expected 3 (T + 1 for the 2 tasks"},
      {[](auto& j) { j["matrix"][1].push_back(0.5); }, "key \"matrix\"[1] has 3 values, expected 2"},
      {[](auto& j) { j["matrix"][1][0] = "0.5"; }, "key \"matrix\"[1][0] is a string, expected a number"},
      {[](auto& j) { j["matrix"][2][1] = 85.0; }, "key \"matrix\"[2][1] is 85, expected a fraction in [0, 1]"},
      {[](auto& j) { j["matrix"] = 3; }, "key \"matrix\" is an integer, expected an array"},
      {[](auto& j) { j["tasks"][1] = 7; }, "key \"tasks\"[1] is an integer, expected a string"},
      {[](auto& j) { j["tasks"] = retain::json::array(); }, "key \"tasks\" is empty"},
      {[](auto& j) { j.erase("scoring"); }, "missing key \"scoring\""},
      {[](auto& j) { j.erase("routing_accuracy"); }, "missing key \"routing_accuracy\""},
      {[](auto& j) { j["scoring"] = "beam"; }, "key \"scoring\" is \"beam\", expected \"generate\" or \"rank\""},
      {[](auto& j) { j["seconds"] = "fast"; }, "key \"seconds\" is a string, expected a number"},
      {[](auto& j) { j["trainable_params"] = 2000000; }, "trainable_params 2000000 and total_params 1000000"},
      {[](auto& j) { j["extra"] = 1; }, "unknown key \"extra\""},
      {[](auto& j) { j["config"] = retain::json::array(); }, "key \"config\" is an array, expected an object"},
      {[](auto& j) { j["metrics"]["AA"] = 0.5; }, "key \"metrics\".\"AA\" is 0.5, but the matrix gives 0.75"},
      {[](auto& j) { j["metrics"]["BWT"] = nullptr; }, "key \"metrics\".\"BWT\" is null, but the matrix gives -0.25"},
      {[](auto& j) { j["metrics"].erase("FWT"); }, "missing key \"metrics\".\"FWT\""},
      {[](auto& j) { j["metrics"]["bwt"] = 0; }, "unknown key \"metrics\".\"bwt\""},
      {[](auto& j) { j["routing_accuracy"][0][1] = 0.0; },
       "key \"routing_accuracy\"[0][1] is a number, expected null (task \"agnews\" is not yet seen after task 1)"},
      {[](auto& j) { j["routing_accuracy"][1][1] = nullptr; },
       "key \"routing_accuracy\"[1][1] is null, expected a number"},
      {[](auto& j) { j["routing_accuracy"].erase(1); }, "key \"routing_accuracy\" has 1 rows, expected 2"},
      {[](auto& j) { j["method"] = "../x"; }, "method name \"../x\" cannot be a folder name"},
  };
  for (const auto& [change, expected] : cases) {
    const auto message = mutated(change);
    EXPECT_MSG(message, expected) << "expected: " << expected << "\ngot: " << message;
    EXPECT_MSG(message, where);
    EXPECT_EQ(message.rfind("[results] ", 0), 0u) << message;
  }
  // The unmodified text reads back.
  EXPECT_EQ(mutated([](auto&) {}), "");
  EXPECT_MSG(error_of([&] { MethodResults::from_json(retain::json::array(), where); }), "expected a JSON object");
}

TEST(Results, UnparsableFileIsNamed) {
  const auto dir = temp_dir("eval");
  retain::write_file_atomic(dir / "results.json", "{\"method\": \"x\",\n  \"tasks\": [}\n");
  auto message = error_of([&] { retain::read_results_json(dir / "results.json"); });
  EXPECT_MSG(message, "results.json");
  EXPECT_MSG(message, "line 2");
}

TEST(Results, InvalidResultsAreNotWritten) {
  const auto dir = temp_dir("eval");
  retain::write_method_outputs(dir, two_task_results());
  auto bad = two_task_results();
  bad.matrix.scores[0][0] = std::nan("");
  EXPECT_MSG(error_of([&] { retain::write_method_outputs(dir, bad); }), "row 0 column 0");
  EXPECT_EQ(retain::read_file(dir / "olora" / "results.json"), kTwoTaskJson);  // the old file is intact

  auto seen_null = two_task_results();
  (*seen_null.routing_accuracy)[1][0] = std::nullopt;
  EXPECT_MSG(error_of([&] { seen_null.to_json(); }), "row 1 column 0 must be a fraction");
  EXPECT_EQ(retain::parse_scoring("rank"), retain::Scoring::Rank);
  EXPECT_EQ(retain::to_string(retain::parse_scoring("generate")), "generate");
}

}  // namespace
