// `retain report` rendered by a real browser: headless Chromium loads the page from disk and dumps
// the DOM it built, which must hold every chart (counted per kind), every heatmap cell, and no
// console error or network request; the same page parsed as XHTML must have no XML error (so the
// inline SVG is well-formed); and a screenshot must rasterise at the requested size.
//
// Skips (GTEST_SKIP) when no Chromium is installed: `apt-get install chromium` (scripts/install-deps.sh),
// or point RETAIN_CHROMIUM at a chromium / chrome binary.
#include "cli_support.h"

#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/eval/results.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace retain::testing;
using retain::json;

const std::vector<std::string> kTasks = {"dbpedia", "amazon", "yahoo", "agnews & <co>"};
const std::vector<std::string> kMethods = {"seqft", "inclora", "olora", "ewc", "replay", "mtl", "pertask", "asr"};
constexpr size_t kStepsPerTask = 700;  // 2800 loss lines per method: the curve is cut to buckets

/// The Chromium binary: $RETAIN_CHROMIUM, else chromium / chromium-browser / google-chrome on PATH.
std::string find_chromium() {
  if (const char* env = std::getenv("RETAIN_CHROMIUM"); env && *env) return env;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
      if (!dir.empty() && ::access((fs::path(dir) / name).c_str(), X_OK) == 0) return (fs::path(dir) / name).string();
  return "";
}

/// A run folder as `retain run` writes it, with many methods and long loss curves.
void write_run(const fs::path& dir) {
  json tasks = json::array();
  for (const auto& t : kTasks) tasks.push_back({{"name", t}, {"source", "/data/" + t}, {"train", 1000}, {"test", 200}});
  const json config = {
      {"run", {{"seed", 42}}},    {"optim", json::object()},         {"eval", {{"scoring", "generate"}}},
      {"method", json::object()}, {"model", "/models/llama-3.2-1b"}, {"methods", kMethods},
      {"tasks", tasks},           {"inputs", json::object()},        {"retain_version", "0.1.0"},
      {"format_version", 1}};
  retain::write_file_atomic(dir / "config.json", config.dump(2));
  std::vector<retain::MethodResults> all;
  const size_t t = kTasks.size();
  for (size_t m = 0; m < kMethods.size(); ++m) {
    retain::MethodResults r;
    r.method = kMethods[m];
    r.matrix.tasks = kTasks;
    for (size_t j = 0; j <= t; ++j) {
      std::vector<double> row;
      for (size_t i = 0; i < t; ++i) {
        const double trained = j > i ? 0.93 - 0.04 * static_cast<double>(i) : 0.05 + 0.02 * static_cast<double>(i);
        const double forgotten = j > i + 1 ? 0.12 * static_cast<double>(j - i - 1) / static_cast<double>(m + 1) : 0.0;
        row.push_back(std::clamp(trained - forgotten, 0.0, 1.0));
      }
      r.matrix.scores.push_back(row);
    }
    if (r.method == "asr") {
      retain::RoutingMatrix routing(t, std::vector<std::optional<double>>(t));
      for (size_t j = 0; j < t; ++j)
        for (size_t i = 0; i <= j; ++i) routing[j][i] = 0.97;
      r.routing_accuracy = routing;
    }
    r.seconds = 100.0 * static_cast<double>(m + 1);
    r.trainable_params = r.method == "seqft" || r.method == "ewc" || r.method == "replay" || r.method == "mtl"
                             ? 1235814400
                             : 851968 * static_cast<int64_t>(m);
    r.total_params = 1235814400 + 3407872;
    r.config = json{{"oracle", r.method == "pertask"}};
    retain::write_method_outputs(dir, r);
    retain::MetricsLog log(dir / r.method / "metrics.jsonl");
    for (size_t k = 0; k < t; ++k)
      for (size_t s = 0; s < kStepsPerTask; ++s)
        log.append(retain::StepRecord{kTasks[k], 0, static_cast<int64_t>(s),
                                      0.2 + 2.5 / (1.0 + 0.02 * static_cast<double>(s)) + 0.05 * std::sin(s * 0.7),
                                      1e-4, 900});
    all.push_back(r);
  }
  retain::write_summary(dir / "summary.json", all);
}

/// Lines of Chromium's log that report a page problem: console messages, failed loads, requests.
std::vector<std::string> page_problems(const std::string& log) {
  std::vector<std::string> problems;
  std::stringstream lines(log);
  std::string line;
  static const std::regex bad("CONSOLE|Uncaught|Failed to load|net::ERR_|Refused to");
  while (std::getline(lines, line))
    if (std::regex_search(line, bad)) problems.push_back(line);
  return problems;
}

uint32_t big_endian(const std::string& bytes, size_t at) {
  uint32_t v = 0;
  for (size_t k = 0; k < 4; ++k) v = (v << 8) | static_cast<unsigned char>(bytes[at + k]);
  return v;
}

/// A run folder and its report, written by `retain report`.
class ReportCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("report_chromium");
    fs::create_directories(dir_ / "run");
    write_run(dir_ / "run");
    const auto r = shell(quote(RETAIN_CLI) + " report " + quote((dir_ / "run").string()));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, (dir_ / "run" / "report.html").string() + "\n");
    page_ = dir_ / "run" / "report.html";
  }

  fs::path dir_, page_;
};

class ReportInChromium : public ReportCli {
 protected:
  void SetUp() override {
    chromium_ = find_chromium();
    if (chromium_.empty())
      GTEST_SKIP() << "SKIPPED: no chromium on PATH (apt-get install chromium, or set RETAIN_CHROMIUM)";
    ReportCli::SetUp();
  }

  /// chromium --headless with a fresh profile, logging to stderr; `args` are the extra switches.
  Result chromium(const std::string& args) {
    return shell("timeout 120 " + quote(chromium_) + " --headless --no-sandbox --disable-gpu --no-first-run " +
                 "--disable-extensions --disable-background-networking --enable-logging=stderr --v=0 " +
                 "--user-data-dir=" + quote((dir_ / "profile").string()) + " " + args);
  }

  std::string chromium_;
};

TEST_F(ReportInChromium, DomHoldsEveryChartAndNoConsoleErrors) {
  const auto r = chromium("--dump-dom " + quote("file://" + page_.string()));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string& dom = r.out;
  ASSERT_MSG(dom, "<body");
  const size_t m = kMethods.size(), t = kTasks.size();
  EXPECT_EQ(occurrences(dom, "<svg "), 1 + m + t + m);  // every <svg> is a chart: aa-bwt, heatmaps, task curves, losses
  EXPECT_EQ(occurrences(dom, "class=\"chart\" data-chart=\"aa-bwt\""), 1u);
  EXPECT_EQ(occurrences(dom, "class=\"chart\" data-chart=\"heatmap\""), m);
  EXPECT_EQ(occurrences(dom, "class=\"chart\" data-chart=\"task-curve\""), t);
  EXPECT_EQ(occurrences(dom, "class=\"chart\" data-chart=\"loss\""), m);
  EXPECT_EQ(occurrences(dom, "<rect class=\"cell\""), m * (t + 1) * t);
  EXPECT_EQ(occurrences(dom, "<rect class=\"bar\""), 2 * m);  // AA and BWT of every method (4 tasks: BWT defined)
  EXPECT_EQ(occurrences(dom, "<tr data-method="), m);
  // The parsed DOM keeps the escaped task name as text, never as markup.
  EXPECT_MSG(dom, "agnews &amp; &lt;co&gt;");
  EXPECT_NO_MSG(dom, "<co>");
  EXPECT_EQ(page_problems(r.err), std::vector<std::string>{}) << r.err;
}

TEST_F(ReportInChromium, PageIsWellFormedXhtml) {
  // Chromium's XML parser puts a <parsererror> into the document on the first error.
  const fs::path xhtml = dir_ / "report.xhtml";
  fs::copy_file(page_, xhtml);
  const auto r = chromium("--dump-dom " + quote("file://" + xhtml.string()));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NO_MSG(r.out, "parsererror");
  EXPECT_EQ(occurrences(r.out, "data-chart=\"heatmap\""), kMethods.size());
}

TEST_F(ReportInChromium, ScreenshotRasterises) {
  const fs::path png = dir_ / "report.png";
  const auto r = chromium("--hide-scrollbars --window-size=1280,2400 --screenshot=" + quote(png.string()) + " " +
                          quote("file://" + page_.string()));
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(fs::exists(png)) << r.err;
  const std::string bytes = retain::read_file(png);
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(big_endian(bytes, 16), 1280u);  // IHDR width and height
  EXPECT_EQ(big_endian(bytes, 20), 2400u);
  // A blank page compresses to a few KB; the charts make it far larger.
  EXPECT_GT(bytes.size(), 60000u);
  EXPECT_EQ(page_problems(r.err), std::vector<std::string>{}) << r.err;
  if (const char* keep = std::getenv("RETAIN_KEEP_SCREENSHOT"))
    fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
}

// `retain run` ends by writing OUT/report.html, the same page `retain report OUT` writes.
TEST_F(ReportCli, RunWritesTheReport) {
  std::string task_args;
  for (const std::string name : {"colors", "animals"})
    task_args += " --task " + quote(make_task(dir_ / "tasks", name, {"one", "two"}, 1).string());
  const fs::path out = dir_ / "real";
  const auto model = fixtures() / "models" / "qwen2";
  const auto r = shell(quote(RETAIN_CLI) + " run --model " + quote(model.string()) + task_args +
                       " --method seqft --method pertask --set eval.scoring=rank --out " + quote(out.string()));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_MSG(r.err, "retain run: report " + (out / "report.html").string());
  const std::string html = retain::read_file(out / "report.html");
  EXPECT_EQ(occurrences(html, "data-chart=\"heatmap\""), 2u);
  EXPECT_EQ(occurrences(html, "data-chart=\"loss\""), 2u);  // both methods logged their steps
  EXPECT_MSG(html, "<span class=\"tag\">oracle</span>");    // pertask, from its results
  const auto again =
      shell(quote(RETAIN_CLI) + " report " + quote(out.string()) + " --out " + quote((dir_ / "again.html").string()));
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(retain::read_file(dir_ / "again.html"), html);
}

TEST_F(ReportCli, MissingResultsIsAnErrorNamingTheFile) {
  fs::remove(dir_ / "run" / "olora" / "results.json");
  const auto before = retain::read_file(page_);
  const auto r = shell(quote(RETAIN_CLI) + " report " + quote((dir_ / "run").string()));
  EXPECT_EQ(r.code, 1);
  EXPECT_MSG(r.err, "retain: error: [report]");
  EXPECT_MSG(r.err, (dir_ / "run" / "olora" / "results.json").string());
  EXPECT_EQ(retain::read_file(page_), before);  // the earlier report is untouched
}

}  // namespace
