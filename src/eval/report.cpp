#include "retain/eval/report.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/eval/report_html.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <limits>
#include <map>

namespace retain {

namespace {

namespace fs = std::filesystem;
constexpr const char* kComponent = "report";
constexpr double kSummaryTolerance = 1e-9;  // summary.json and results.json hold the same doubles

std::string when_written(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return "unknown";
  std::tm tm{};
  ::gmtime_r(&info.st_mtime, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

std::optional<double> summary_metric(const json& entry, const std::string& key, const std::string& where) {
  if (!entry.contains(key)) fail(kComponent, "{}: missing key \"{}\"", where, key);
  const json& v = entry[key];
  if (v.is_null()) return std::nullopt;
  RETAIN_CHECK(v.is_number(), kComponent, "{}: key \"{}\" is {}, expected a number or null", where, key,
               detail::json_type_name(v));
  return v.get<double>();
}

void check_same(const std::optional<double>& summary, const std::optional<double>& results, const std::string& key,
                const std::string& where, const fs::path& results_path) {
  auto show = [](const std::optional<double>& v) { return v ? fmt::format("{}", *v) : std::string("null"); };
  const bool same =
      summary.has_value() == results.has_value() && (!summary || std::abs(*summary - *results) <= kSummaryTolerance);
  RETAIN_CHECK(same, kComponent,
               "{}: key \"{}\" is {}, but {} gives {} (the files disagree; rerun the method or "
               "rewrite summary.json)",
               where, key, show(summary), results_path.string(), show(results));
}

}  // namespace

std::string privileged_label(const MethodResults& r) {
  if (r.config.is_object() && r.config.value("oracle", false)) return "oracle";
  if (r.method == "mtl") return "upper bound";
  if (r.method == "replay") return "stores data";
  return "";
}

std::vector<StepRecord> read_metrics_log(const fs::path& path, const std::vector<std::string>& tasks) {
  std::vector<StepRecord> records;
  for_each_jsonl(
      path,
      [&](size_t, const json& line) {
        RETAIN_CHECK(line.is_object(), kComponent, "expected a JSON object, found {}", detail::json_type_name(line));
        StepRecord r;
        r.task = json_get<std::string>(line, "task", "the line", kComponent);
        RETAIN_CHECK(std::find(tasks.begin(), tasks.end(), r.task) != tasks.end(), kComponent,
                     "key \"task\" is \"{}\", which is not a task of the run", r.task);
        RETAIN_CHECK(line.contains("loss"), kComponent, "missing key \"loss\" (a number, or null)");
        const json& loss = line["loss"];
        RETAIN_CHECK(loss.is_null() || loss.is_number(), kComponent, "key \"loss\" is {}, expected a number or null",
                     detail::json_type_name(loss));
        r.loss = loss.is_null() ? std::numeric_limits<double>::quiet_NaN() : loss.get<double>();
        r.epoch = json_get_or<int64_t>(line, "epoch", 0, "the line", kComponent);
        r.step = json_get_or<int64_t>(line, "step", 0, "the line", kComponent);
        r.lr = json_get_or<double>(line, "lr", 0.0, "the line", kComponent);
        r.tokens_per_s = json_get_or<double>(line, "tokens_per_s", 0.0, "the line", kComponent);
        records.push_back(std::move(r));
      },
      kComponent);
  return records;
}

LossCurve loss_curve(const std::vector<StepRecord>& log, size_t max_points) {
  RETAIN_CHECK(max_points > 0, kComponent, "loss_curve: max_points must be positive");
  LossCurve curve;
  curve.steps = log.size();
  curve.bucket = std::max<size_t>(1, (log.size() + max_points - 1) / max_points);
  size_t begin = 0;
  while (begin < log.size()) {
    size_t end = begin;  // [begin, end): one task's consecutive lines
    while (end < log.size() && log[end].task == log[begin].task) ++end;
    curve.task_starts.emplace_back(static_cast<double>(begin + 1), log[begin].task);
    for (size_t b = begin; b < end; b += curve.bucket) {
      const size_t e = std::min(end, b + curve.bucket);
      double x = 0, sum = 0;
      size_t finite = 0;
      for (size_t k = b; k < e; ++k) {
        x += static_cast<double>(k + 1);
        if (std::isfinite(log[k].loss)) sum += log[k].loss, ++finite;
      }
      curve.step.push_back(x / static_cast<double>(e - b));
      curve.loss.push_back(finite ? std::optional<double>(sum / static_cast<double>(finite)) : std::nullopt);
    }
    begin = end;
  }
  return curve;
}

RunReport read_run_report(const fs::path& run_dir) {
  RunReport report;
  report.dir = run_dir;
  RETAIN_CHECK(fs::is_directory(run_dir), kComponent,
               "{} is not a folder (expected a run folder written by retain run)", run_dir.string());
  const fs::path config_path = run_dir / "config.json", summary_path = run_dir / "summary.json";
  RETAIN_CHECK(fs::exists(config_path), kComponent,
               "{} does not exist: {} is not a run folder, or the run has not "
               "started",
               config_path.string(), run_dir.string());
  RETAIN_CHECK(fs::exists(summary_path), kComponent, "{} does not exist: no method of the run has finished yet",
               summary_path.string());
  const std::string config_where = config_path.string(), summary_where = summary_path.string();
  const json config = read_json_file(config_path, kComponent);
  report.model = json_get<std::string>(config, "model", config_where, kComponent);
  report.retain_version = json_get<std::string>(config, "retain_version", config_where, kComponent);
  const json& run = config.contains("run") ? config["run"] : json();
  RETAIN_CHECK(run.is_object(), kComponent, "{}: key \"run\" must be an object (the [run] settings)", config_where);
  report.seed = json_get<int64_t>(run, "seed", config_where + " \"run\"", kComponent);
  const json& tasks = config.contains("tasks") ? config["tasks"] : json();
  RETAIN_CHECK(tasks.is_array() && !tasks.empty(), kComponent, "{}: key \"tasks\" must be a non-empty array",
               config_where);
  for (size_t i = 0; i < tasks.size(); ++i)
    report.tasks.push_back(
        json_get<std::string>(tasks[i], "name", fmt::format("{} \"tasks\"[{}]", config_where, i), kComponent));
  const json& planned = config.contains("methods") ? config["methods"] : json();
  RETAIN_CHECK(planned.is_array(), kComponent, "{}: key \"methods\" must be an array of method names", config_where);
  for (const auto& m : planned) {
    RETAIN_CHECK(m.is_string(), kComponent, "{}: key \"methods\" holds {}, expected method names", config_where,
                 detail::json_type_name(m));
    report.planned.push_back(m.get<std::string>());
  }

  const json summary = read_json_file(summary_path, kComponent);
  RETAIN_CHECK(summary.is_object() && summary.contains("methods") && summary["methods"].is_object(), kComponent,
               "{}: expected {{\"methods\": {{name: {{AA, BWT, FWT, forgetting}}}}}}", summary_where);
  RETAIN_CHECK(!summary["methods"].empty(), kComponent, "{}: key \"methods\" is empty: no method has finished",
               summary_where);
  // nlohmann::json sorts keys; the run's order is config.json's "methods" (summary.json is written in it).
  std::vector<std::string> names;
  for (const auto& p : report.planned)
    if (summary["methods"].contains(p)) names.push_back(p);
  for (const auto& item : summary["methods"].items())
    RETAIN_CHECK(std::find(names.begin(), names.end(), item.key()) != names.end(), kComponent,
                 "{}: method \"{}\" is not among config.json's \"methods\"", summary_where, item.key());

  for (const auto& name : names) {
    const fs::path path = run_dir / name / "results.json";
    RETAIN_CHECK(fs::exists(path), kComponent, "{} does not exist, but summary.json lists method \"{}\"", path.string(),
                 name);
    MethodResults r = read_results_json(path);
    RETAIN_CHECK(r.method == name, kComponent, "{}: key \"method\" is \"{}\", expected \"{}\" (its folder)",
                 path.string(), r.method, name);
    RETAIN_CHECK(r.matrix.tasks == report.tasks, kComponent,
                 "{}: tasks [{}] differ from config.json's task sequence [{}]", path.string(),
                 fmt::join(r.matrix.tasks, ", "), fmt::join(report.tasks, ", "));
    const json& entry = summary["methods"][name];
    const std::string where = fmt::format("{} \"methods\".\"{}\"", summary_where, name);
    RETAIN_CHECK(entry.is_object(), kComponent, "{}: expected an object", where);
    const auto m = r.metrics();
    check_same(summary_metric(entry, "AA", where), m.average_accuracy, "AA", where, path);
    check_same(summary_metric(entry, "BWT", where), m.backward_transfer, "BWT", where, path);
    check_same(summary_metric(entry, "FWT", where), m.forward_transfer, "FWT", where, path);
    check_same(summary_metric(entry, "forgetting", where), m.forgetting, "forgetting", where, path);
    const fs::path log_path = run_dir / name / "metrics.jsonl";
    report.logs.push_back(fs::exists(log_path) ? std::optional(read_metrics_log(log_path, report.tasks))
                                               : std::nullopt);
    report.methods.push_back(std::move(r));
  }
  report.date = when_written(summary_path);
  return report;
}

fs::path write_run_report(const fs::path& run_dir, const fs::path& out) {
  const fs::path path = out.empty() ? run_dir / "report.html" : out;
  const std::string html = render_report_html(read_run_report(run_dir));  // before touching `path`
  write_file_atomic(path, html, kComponent);
  return path;
}

}  // namespace retain
