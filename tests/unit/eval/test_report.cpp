// The HTML report of a run folder: a synthetic run folder is written with the library's own writers,
// and the page must carry exactly its numbers (data-value attributes read back to the same doubles),
// one n+1 × n heatmap per method, every chart kind, escaped names, well-formed markup, and strict
// errors that name the bad file. The SVG helpers' tick and colour invariants are checked alone.
#include "retain/eval/report.h"
#include "retain/eval/report_html.h"

#include "retain/eval/svg_chart.h"

#include "common/test_support.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>

namespace {

using namespace retain::testing;
using retain::json;
using retain::MethodResults;

MethodResults make_results(const std::string& method, const std::vector<std::string>& tasks, double shift,
                           bool routing = false) {
  MethodResults r;
  r.method = method;
  r.matrix.tasks = tasks;
  const size_t t = tasks.size();
  for (size_t j = 0; j <= t; ++j) {
    std::vector<double> row;
    // Values with long binary expansions, so that a rounded copy in the page would not compare equal.
    for (size_t i = 0; i < t; ++i)
      row.push_back(
          std::clamp(0.1 + 0.7 * static_cast<double>(j > i) + shift / static_cast<double>(3 + i + j), 0.0, 1.0));
    r.matrix.scores.push_back(row);
  }
  if (routing) {
    retain::RoutingMatrix m(t, std::vector<std::optional<double>>(t));
    for (size_t j = 0; j < t; ++j)
      for (size_t i = 0; i <= j; ++i) m[j][i] = 1.0 - 0.1 / static_cast<double>(1 + i + j);
    r.routing_accuracy = m;
  }
  r.scoring = retain::Scoring::Rank;
  r.seconds = 12.345 + shift;
  r.trainable_params = 4096 + static_cast<int64_t>(shift * 1000);
  r.total_params = 1000000;
  r.config = json{{"oracle", method == "pertask"}};
  return r;
}

/// A run folder as `retain run` leaves it: config.json, summary.json, <method>/{results.json,
/// matrix.csv, metrics.jsonl}; `steps` loss lines per task.
struct SyntheticRun {
  fs::path dir;
  std::vector<std::string> tasks;
  std::vector<MethodResults> methods;
};

SyntheticRun make_run(const fs::path& dir, const std::vector<std::string>& tasks,
                      const std::vector<std::string>& methods, size_t steps = 6) {
  SyntheticRun run{dir, tasks, {}};
  json task_list = json::array();
  for (const auto& t : tasks) task_list.push_back({{"name", t}, {"source", "/data/" + t}, {"train", 4}, {"test", 2}});
  const json config = {{"run", {{"seed", 7}, {"device", "cpu"}}},
                       {"optim", {{"epochs", 1}}},
                       {"eval", {{"scoring", "rank"}}},
                       {"method", json::object()},
                       {"model", "/models/tiny-llama"},
                       {"methods", methods},
                       {"tasks", task_list},
                       {"inputs", json::object()},
                       {"retain_version", "0.9.1"},
                       {"format_version", 1}};
  fs::create_directories(dir);
  retain::write_file_atomic(dir / "config.json", config.dump(2));
  for (size_t m = 0; m < methods.size(); ++m) {
    run.methods.push_back(make_results(methods[m], tasks, 0.05 * static_cast<double>(m + 1), methods[m] == "asr"));
    retain::write_method_outputs(dir, run.methods.back());
    retain::MetricsLog log(dir / methods[m] / "metrics.jsonl");
    for (size_t t = 0; t < tasks.size(); ++t)
      for (size_t s = 0; s < steps; ++s)
        log.append(
            retain::StepRecord{tasks[t], 0, static_cast<int64_t>(s), 2.0 / static_cast<double>(s + 1 + t), 1e-3, 100});
  }
  retain::write_summary(dir / "summary.json", run.methods);
  return run;
}

/// The <svg ...>...</svg> element whose opening tag contains `marker` ("" if none).
std::string svg_with(const std::string& html, const std::string& marker) {
  for (size_t at = html.find("<svg "); at != std::string::npos; at = html.find("<svg ", at + 1)) {
    const size_t open_end = html.find('>', at);
    if (html.substr(at, open_end - at).find(marker) == std::string::npos) continue;
    return html.substr(at, html.find("</svg>", at) + 6 - at);
  }
  return "";
}

/// Every data-value="..." in `text`, in order, read back as doubles.
std::vector<double> data_values(const std::string& text) {
  std::vector<double> out;
  static const std::regex value("data-value=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), value); it != std::sregex_iterator(); ++it)
    out.push_back(std::stod((*it)[1].str()));
  return out;
}

/// Checks the page is well-formed XML-style markup: every element closed in order, no stray '<' or
/// '&' in text (an unescaped name would break this). Returns "" or what is wrong.
std::string markup_problem(const std::string& html) {
  std::vector<std::string> open;
  size_t at = 0;
  while (at < html.size()) {
    const size_t lt = html.find('<', at);
    const std::string text = html.substr(at, (lt == std::string::npos ? html.size() : lt) - at);
    static const std::regex bad_amp("&(?!(amp|lt|gt|quot|#39|#160);)");
    if (std::regex_search(text, bad_amp)) return "a bare '&' in text: " + text.substr(0, 80);
    if (lt == std::string::npos) break;
    const size_t gt = html.find('>', lt);
    if (gt == std::string::npos) return "unterminated tag at " + std::to_string(lt);
    const std::string tag = html.substr(lt + 1, gt - lt - 1);
    at = gt + 1;
    if (tag.rfind("!DOCTYPE", 0) == 0) continue;
    if (tag.empty() || tag.find('<') != std::string::npos) return "a stray '<' near: " + html.substr(lt, 80);
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? std::string("nothing") : open.back()) + ">";
      open.pop_back();
      continue;
    }
    if (tag.back() == '/') continue;  // <meta .../>, <rect .../>
    open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    if (open.back() == "style") {  // CSS holds '>' (child selectors) but never '<'
      const size_t end = html.find("</style>", at);
      if (html.substr(at, end - at).find('<') != std::string::npos) return "'<' inside <style>";
      at = end;
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> is never closed";
}

TEST(Report, NumbersInThePageAreTheRunsNumbers) {
  const auto run = make_run(temp_dir("report"), {"sst2", "agnews", "yahoo"}, {"seqft", "olora", "asr", "mtl"});
  const auto report = retain::read_run_report(run.dir);
  ASSERT_EQ(report.methods.size(), 4u);
  EXPECT_EQ(report.model, "/models/tiny-llama");
  EXPECT_EQ(report.seed, 7);
  const std::string html = retain::render_report_html(report);
  const json summary = retain::read_json_file(run.dir / "summary.json");
  for (const auto& r : run.methods) {
    SCOPED_TRACE(r.method);
    const size_t row = html.find("<tr data-method=\"" + r.method + "\"");
    ASSERT_NE(row, std::string::npos);
    const auto values = data_values(html.substr(row, html.find("</tr>", row) - row));
    // AA, BWT, FWT, forgetting, routing (asr only: the table has the column; others show "—"), trainable, seconds.
    const auto& s = summary["methods"][r.method];
    std::vector<double> expected = {s["AA"].get<double>(), s["BWT"].get<double>(), s["FWT"].get<double>(),
                                    s["forgetting"].get<double>()};
    if (r.routing_accuracy) {
      const auto& last = r.routing_accuracy->back();
      expected.push_back((*last[0] + *last[1] + *last[2]) / 3);
    }
    expected.push_back(static_cast<double>(r.trainable_params));
    expected.push_back(r.seconds);
    EXPECT_EQ(values, expected);  // exact: data-value is the shortest round-trip form
    // The shown AA is the percentage with one decimal.
    EXPECT_NE(html.find(">" + fmt::format("{:.1f}", s["AA"].get<double>() * 100) + "</td>", row), std::string::npos);
  }
  // Best AA among methods without privileged information: mtl (upper bound) has the highest AA of all
  // by construction (largest shift) but must not be highlighted; asr is the best of the rest.
  const size_t asr = html.find("<tr data-method=\"asr\"");
  const std::string asr_row = html.substr(asr, html.find("</tr>", asr) - asr);
  EXPECT_EQ(asr_row.compare(asr_row.find("<td"), 20, "<td class=\"num best\""), 0) << asr_row;  // AA
  const size_t seqft = html.find("<tr data-method=\"seqft\"");
  EXPECT_EQ(html.compare(html.find("<td", seqft), 16, "<td class=\"num\" "), 0);
  const std::string mtl_row = html.substr(html.find("<tr data-method=\"mtl\""));
  EXPECT_NO_MSG(mtl_row.substr(0, mtl_row.find("</tr>")), " best");
  EXPECT_MSG(mtl_row, "upper bound");
}

// Ties at the shown precision: no column is highlighted when every method has the same value.
TEST(Report, GeneralTextLossGetsAChartWhenAMethodMeasuredIt) {
  const auto run = make_run(temp_dir("report"), {"sst2", "agnews"}, {"seqft", "olora"});
  auto report = retain::read_run_report(run.dir);
  EXPECT_NO_MSG(retain::render_report_html(report), "general-loss");  // none measured
  report.methods[0].general_loss = std::vector<double>{3.0, 3.5, 4.25};
  const std::string html = retain::render_report_html(report);
  EXPECT_MSG(html, "id=\"general\"");
  EXPECT_MSG(html, "general-loss");
  EXPECT_EQ(markup_problem(html), "");
}

TEST(Report, NoHighlightWhenAllMethodsTie) {
  retain::RunReport report;
  report.tasks = {"a", "b"};
  report.planned = {"seqft", "olora"};
  for (const auto& m : report.planned) {
    report.methods.push_back(make_results(m, report.tasks, 0));
    report.logs.emplace_back(std::nullopt);
  }
  report.methods[1].seconds += 0.004;  // 12.349 vs 12.345: both shown as 12.3
  const std::string html = retain::render_report_html(report);
  EXPECT_EQ(occurrences(html, " best\""), 0u);
  report.methods[1].seconds += 1;
  EXPECT_EQ(occurrences(retain::render_report_html(report), " best\""), 1u);  // seqft's time
}

TEST(Report, MethodsPastThePaletteGetAValidHollowSwatch) {
  retain::RunReport report;
  report.tasks = {"a", "b"};
  for (int i = 0; i < 9; ++i) {
    report.planned.push_back("m" + std::to_string(i));
    report.methods.push_back(make_results(report.planned.back(), report.tasks, 0));
    report.logs.emplace_back(std::nullopt);
  }
  const std::string html = retain::render_report_html(report);
  EXPECT_EQ(occurrences(html, "style=\"background:#"), 8u);
  EXPECT_EQ(occurrences(html, "style=\"border:2px solid #"), 1u);  // the 9th: a valid CSS border, colour included
  EXPECT_EQ(occurrences(html, "solid:"), 0u);
}

TEST(Report, EveryMethodHasAHeatmapOfItsMatrixAndEveryChartKindIsThere) {
  const std::vector<std::string> tasks = {"a", "b", "c", "d"};
  const auto run = make_run(temp_dir("report"), tasks, {"seqft", "inclora", "pertask"});
  const std::string html = retain::render_report_html(retain::read_run_report(run.dir));
  EXPECT_EQ(occurrences(html, "data-chart=\"aa-bwt\""), 1u);
  EXPECT_EQ(occurrences(html, "data-chart=\"heatmap\""), 3u);
  EXPECT_EQ(occurrences(html, "data-chart=\"task-curve\""), tasks.size());
  EXPECT_EQ(occurrences(html, "data-chart=\"loss\""), 3u);
  EXPECT_EQ(occurrences(html, "<svg "), occurrences(html, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\""));
  EXPECT_EQ(occurrences(html, "<desc>"), occurrences(html, "<svg "));
  for (size_t at = html.find("<svg "); at != std::string::npos; at = html.find("<svg ", at + 1))  // accessible name
    EXPECT_EQ(html.compare(html.find('>', at) + 1, 8, "\n<title>"), 0) << html.substr(at, 200);
  for (const auto& r : run.methods) {
    SCOPED_TRACE(r.method);
    const std::string mine = svg_with(html, "data-method=\"" + r.method + "\"");
    ASSERT_MSG(mine, "data-chart=\"heatmap\"");
    EXPECT_EQ(occurrences(mine, "class=\"cell\""), (tasks.size() + 1) * tasks.size());
    // Cell (row j, col i) carries a[j][i] exactly.
    static const std::regex cell("data-row=\"(\\d+)\" data-col=\"(\\d+)\" data-value=\"([^\"]*)\"");
    size_t seen = 0;
    for (auto it = std::sregex_iterator(mine.begin(), mine.end(), cell); it != std::sregex_iterator(); ++it, ++seen)
      EXPECT_EQ(std::stod((*it)[3].str()), r.matrix.scores[std::stoul((*it)[1].str())][std::stoul((*it)[2].str())]);
    EXPECT_EQ(seen, (tasks.size() + 1) * tasks.size());
  }
  // The task curves: per task, one path per method and T + 1 points each.
  const std::string curve = svg_with(html, "data-task=\"c\"");
  EXPECT_EQ(occurrences(curve, "class=\"series\""), 3u);
  EXPECT_EQ(occurrences(curve, "class=\"point\""), 3u * (tasks.size() + 1));
  EXPECT_MSG(html, "<span class=\"tag\">oracle</span>");
  EXPECT_EQ(markup_problem(html), "");
  EXPECT_NO_MSG(html, "<script");
  EXPECT_EQ(occurrences(html, "http"), occurrences(html, "xmlns=\"http://www.w3.org/"))
      << "no links out, only namespaces";
  EXPECT_EQ(occurrences(html, "url("), 0u);
}

TEST(Report, NamesAreEscapedEverywhere) {
  const std::string task = "x<&>\"'y", method = "m<&>\"b";
  const auto run = make_run(temp_dir("report"), {task, "plain"}, {method, "seqft"});
  const std::string html = retain::render_report_html(retain::read_run_report(run.dir));
  EXPECT_NO_MSG(html, task);
  EXPECT_NO_MSG(html, method);
  EXPECT_MSG(html, "x&lt;&amp;&gt;&quot;&#39;y");
  EXPECT_MSG(html, "data-method=\"m&lt;&amp;&gt;&quot;b\"");
  EXPECT_EQ(markup_problem(html), "");
  EXPECT_EQ(retain::svg::escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}

TEST(Report, MissingOrMalformedFilesAreErrorsThatNameThem) {
  const auto dir = temp_dir("report");
  auto run = make_run(dir, {"t1", "t2"}, {"seqft", "olora"});
  EXPECT_MSG(error_of([&] { retain::read_run_report(dir / "nowhere"); }), "nowhere");

  const fs::path results = dir / "olora" / "results.json";
  const std::string good = retain::read_file(results);
  fs::remove(results);
  auto e = error_of([&] { retain::read_run_report(dir); });
  EXPECT_MSG(e, results.string());
  EXPECT_MSG(e, "does not exist");

  write_text(results, good.substr(0, good.size() / 2));  // truncated JSON
  e = error_of([&] { retain::read_run_report(dir); });
  EXPECT_MSG(e, results.string());

  json edited = json::parse(good);
  edited["matrix"][0][0] = 1.5;  // not a fraction
  write_text(results, edited.dump());
  e = error_of([&] { retain::read_run_report(dir); });
  EXPECT_MSG(e, results.string());
  EXPECT_MSG(e, "\"matrix\"[0][0]");
  write_text(results, good);

  // summary.json that disagrees with results.json.
  json summary = retain::read_json_file(dir / "summary.json");
  const json saved = summary;
  summary["methods"]["olora"]["AA"] = summary["methods"]["olora"]["AA"].get<double>() + 0.01;
  write_text(dir / "summary.json", summary.dump());
  e = error_of([&] { retain::read_run_report(dir); });
  EXPECT_MSG(e, "summary.json");
  EXPECT_MSG(e, "\"AA\"");
  write_text(dir / "summary.json", saved.dump());

  // A bad line of metrics.jsonl: FILE:LINE and the key.
  const fs::path log = dir / "seqft" / "metrics.jsonl";
  std::ofstream(log, std::ios::app) << "{\"task\": \"t1\", \"loss\": \"high\"}\n";
  e = error_of([&] { retain::read_run_report(dir); });
  EXPECT_MSG(e, log.string() + ":13");  // 2 tasks × 6 steps, then this line
  EXPECT_MSG(e, "\"loss\"");
  std::ofstream(log, std::ios::trunc) << "{\"task\": \"t9\", \"loss\": 1}\n";
  e = error_of([&] { retain::read_run_report(dir); });
  EXPECT_MSG(e, "t9");
  fs::remove(log);  // a missing log is not an error: the page says so
  const std::string html = retain::render_report_html(retain::read_run_report(dir));
  EXPECT_MSG(html, "seqft: no training log");
  EXPECT_EQ(occurrences(html, "data-chart=\"loss\""), 1u);

  // config.json without the model.
  json config = retain::read_json_file(dir / "config.json");
  config.erase("model");
  write_text(dir / "config.json", config.dump());
  e = error_of([&] { retain::read_run_report(dir); });
  EXPECT_MSG(e, "config.json");
  EXPECT_MSG(e, "\"model\"");
}

TEST(Report, WrittenAtomicallyAndReplacedOnlyOnSuccess) {
  const auto dir = temp_dir("report");
  make_run(dir, {"t1", "t2"}, {"seqft"});
  write_text(dir / "report.html", "old report");
  const fs::path results = dir / "seqft" / "results.json";
  const std::string good = retain::read_file(results);
  write_text(results, "{");
  EXPECT_NE(error_of([&] { retain::write_run_report(dir); }), "");
  EXPECT_EQ(retain::read_file(dir / "report.html"), "old report");
  write_text(results, good);
  EXPECT_EQ(retain::write_run_report(dir), dir / "report.html");
  const std::string html = retain::read_file(dir / "report.html");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html, retain::render_report_html(retain::read_run_report(dir)));  // deterministic
  EXPECT_EQ(retain::write_run_report(dir, dir / "elsewhere.html"), dir / "elsewhere.html");
  for (const auto& entry : fs::directory_iterator(dir))  // no temporary left behind
    EXPECT_NO_MSG(entry.path().filename().string(), ".tmp") << entry.path();
}

TEST(Report, LossCurveAveragesBucketsWithinTasks) {
  std::vector<retain::StepRecord> log;
  for (int i = 0; i < 250; ++i) log.push_back({"a", 0, i, static_cast<double>(i), 0, 0});
  for (int i = 0; i < 45; ++i) log.push_back({"b", 0, i, 1000.0 + i, 0, 0});
  log[3].loss = std::numeric_limits<double>::quiet_NaN();
  const auto curve = retain::loss_curve(log, 30);
  EXPECT_EQ(curve.steps, 295u);
  EXPECT_EQ(curve.bucket, 10u);            // ceil(295 / 30)
  ASSERT_EQ(curve.step.size(), 25u + 5u);  // task a: 25 buckets; task b: 4 full + 1 of 5 (never across tasks)
  EXPECT_EQ(curve.task_starts, (std::vector<std::pair<double, std::string>>{{1, "a"}, {251, "b"}}));
  EXPECT_DOUBLE_EQ(curve.step[0], 5.5);                   // mean of steps 1..10
  EXPECT_DOUBLE_EQ(*curve.loss[0], (45.0 - 3.0) / 9.0);   // 0..9 without the NaN at 3
  EXPECT_DOUBLE_EQ(*curve.loss[24], 244.5);               // 240..249
  EXPECT_DOUBLE_EQ(*curve.loss[25], 1004.5);              // b's first ten
  EXPECT_DOUBLE_EQ(curve.step[29], (291.0 + 295.0) / 2);  // b's last five
  EXPECT_DOUBLE_EQ(*curve.loss[29], 1042.0);
  std::vector<retain::StepRecord> nan_only = {{"a", 0, 0, std::nan(""), 0, 0}};
  EXPECT_FALSE(retain::loss_curve(nan_only).loss[0].has_value());  // a gap, not a zero
}

TEST(Report, PrivilegedLabels) {
  const std::vector<std::string> tasks = {"a"};
  EXPECT_EQ(retain::privileged_label(make_results("pertask", tasks, 0)), "oracle");
  EXPECT_EQ(retain::privileged_label(make_results("mtl", tasks, 0)), "upper bound");
  EXPECT_EQ(retain::privileged_label(make_results("replay", tasks, 0)), "stores data");
  EXPECT_EQ(retain::privileged_label(make_results("olora", tasks, 0)), "");
}

TEST(SvgChart, NiceTicksCoverTheRangeInEqualRoundSteps) {
  const std::vector<std::pair<double, double>> ranges = {{0, 1},         {-0.3137, 0.8123}, {0, 7.3},  {2.2, 2.2},
                                                         {0.013, 0.017}, {-5, -1},          {0, 1234}, {1e-6, 3e-6}};
  for (const auto& [lo, hi] : ranges) {
    SCOPED_TRACE(fmt::format("[{}, {}]", lo, hi));
    const auto t = retain::svg::nice_ticks(lo, hi, 5);
    ASSERT_GE(t.size(), 2u);
    EXPECT_LE(t.size(), 12u);
    const double step = t[1] - t[0];
    // k × step carries a rounding error of a few ulps: covering within 1e-9 of a step is exact enough to draw.
    EXPECT_LE(t.front(), lo + step * 1e-9);
    EXPECT_GE(t.back(), hi - step * 1e-9);
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 2.5) < 1e-9 ||
                std::abs(mantissa - 5) < 1e-9)
        << mantissa;
    for (size_t k = 1; k < t.size(); ++k) EXPECT_NEAR(t[k] - t[k - 1], step, step * 1e-9);
  }
  EXPECT_EQ(retain::svg::nice_ticks(0, 1, 4), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
}

TEST(SvgChart, FormatsColoursAndPalette) {
  EXPECT_EQ(retain::svg::percent(0.75), "75.0");
  EXPECT_EQ(retain::svg::percent(-0.0001), "0.0");  // never "-0.0"
  EXPECT_EQ(retain::svg::percent(-0.25, 0), "-25");
  EXPECT_EQ(retain::svg::exact(0.1), "0.1");
  EXPECT_EQ(std::stod(retain::svg::exact(1.0 / 3)), 1.0 / 3);
  EXPECT_EQ(retain::svg::scale_colour(0), "#440154");  // viridis ends
  EXPECT_EQ(retain::svg::scale_colour(1), "#fde725");
  EXPECT_EQ(retain::svg::scale_colour(7), "#fde725");  // clamped
  std::set<std::string> colours;
  for (size_t i = 0; i < 8; ++i) colours.insert(retain::svg::method_colour(i));
  EXPECT_EQ(colours.size(), 8u);
  EXPECT_EQ(retain::svg::method_colour(8), retain::svg::method_colour(0));
}

TEST(SvgChart, ChartsAreWellFormedWithGapsAndMissingValues) {
  retain::svg::LineChart line;
  line.info = {"loss", "a <title>", "desc & more", {{"method", "m\"1"}}};
  line.series.push_back({"s<1>", "#000000", {1, 2, 3, 4}, {1.0, std::nullopt, 2.0, 3.0}, true, ""});
  line.markers.push_back({2.5, "task & co"});
  const std::string svg = retain::svg::line_chart(line);
  EXPECT_EQ(markup_problem(svg), "");
  EXPECT_EQ(occurrences(svg, "class=\"point\""), 3u);  // the gap has no point
  // One path, which lifts the pen at the gap: two "M" commands.
  EXPECT_EQ(occurrences(svg, "d=\"M"), 1u);
  const size_t path = svg.find(" d=\"");
  EXPECT_EQ(occurrences(svg.substr(path, svg.find('"', path + 4) - path), "M"), 2u);

  retain::svg::BarChart bars;
  bars.info = {"aa-bwt", "t", "d", {}};
  bars.categories = {"one", "two"};
  bars.series = {"AA", "BWT"};
  bars.colours = {"#000000", "#111111"};
  bars.values = {{0.5, -0.25}, {0.75, std::nullopt}};
  const std::string b = retain::svg::bar_chart(bars);
  EXPECT_EQ(markup_problem(b), "");
  EXPECT_EQ(occurrences(b, "class=\"bar\""), 3u);
  EXPECT_EQ(occurrences(b, ">n/a</text>"), 1u);
  EXPECT_NE(error_of([&] {
              bars.values.pop_back();
              retain::svg::bar_chart(bars);
            }),
            "");
}

}  // namespace
