#include "retain/eval/results.h"

#include "retain/core/error.h"
#include "retain/core/files.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>

namespace retain {

namespace {

constexpr const char* kComponent = "results";
constexpr double kMetricTolerance = 1e-9;

const char* type_name(const json& value) { return detail::json_type_name(value); }

const json& require(const json& object, const std::string& key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) fail(kComponent, "{}: missing key \"{}\"", where, key);
  return *it;
}

const json& require_array(const json& value, const std::string& key, const std::string& where) {
  if (!value.is_array()) fail(kComponent, "{}: key {} is {}, expected an array", where, key, type_name(value));
  return value;
}

double require_fraction(const json& value, const std::string& key, const std::string& where) {
  if (!value.is_number()) fail(kComponent, "{}: key {} is {}, expected a number", where, key, type_name(value));
  const double v = value.get<double>();
  if (!(v >= 0.0 && v <= 1.0)) fail(kComponent, "{}: key {} is {}, expected a fraction in [0, 1]", where, key, v);
  return v;
}

std::optional<double> metric_value(const json& metrics, const std::string& key, const std::string& where) {
  auto it = metrics.find(key);
  if (it == metrics.end()) fail(kComponent, "{}: missing key \"metrics\".\"{}\"", where, key);
  if (it->is_null()) return std::nullopt;
  if (!it->is_number())
    fail(kComponent, "{}: key \"metrics\".\"{}\" is {}, expected a number or null", where, key, type_name(*it));
  return it->get<double>();
}

void check_metric(const std::string& key, const std::optional<double>& stored, const std::optional<double>& computed,
                  const std::string& where) {
  auto show = [](const std::optional<double>& v) { return v ? fmt::format("{}", *v) : std::string("null"); };
  const bool same =
      stored.has_value() == computed.has_value() && (!stored || std::abs(*stored - *computed) <= kMetricTolerance);
  if (!same)
    fail(kComponent, "{}: key \"metrics\".\"{}\" is {}, but the matrix gives {} (the file was edited or is corrupt)",
         where, key, show(stored), show(computed));
}

void check_method_name(const std::string& name) {
  RETAIN_CHECK(!name.empty() && name != "." && name != ".." && name.find_first_of("/\\") == std::string::npos &&
                   name.find('\0') == std::string::npos,
               kComponent, "method name \"{}\" cannot be a folder name (non-empty, no '/' or '\\', not . or ..)", name);
}

json metric_or_null(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// Display width for padding: UTF-8 continuation bytes take no column ("—" is one column, three bytes).
size_t display_width(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string pad(const std::string& s, size_t width, bool left) {
  const size_t w = display_width(s);
  if (w >= width) return s;
  return left ? s + std::string(width - w, ' ') : std::string(width - w, ' ') + s;
}

std::string percent(const std::optional<double>& fraction) {
  if (!fraction) return "—";
  std::string s = fmt::format("{:.1f}", *fraction * 100.0);
  if (s == "-0.0") s = "0.0";
  return s;
}

std::string trainable_cell(const MethodResults& r) {
  std::string s = abbreviate_count(r.trainable_params);
  if (r.total_params > 0) {
    const double share = 100.0 * static_cast<double>(r.trainable_params) / static_cast<double>(r.total_params);
    s += share >= 0.01 || share == 0.0 ? fmt::format(" ({:.2f}%)", share) : std::string(" (<0.01%)");
  }
  return s;
}

}  // namespace

std::string abbreviate_count(int64_t n) {
  if (n < 1000) return std::to_string(n);
  static constexpr const char* kSuffix[] = {"K", "M", "B", "T"};
  double v = static_cast<double>(n);
  int unit = -1;
  while (v >= 999.5 && unit < 3) v /= 1000.0, ++unit;
  // 3 significant digits: 1.23K, 12.3M, 123B.
  const int decimals = v < 9.995 ? 2 : (v < 99.95 ? 1 : 0);
  return fmt::format("{:.{}f}{}", v, decimals, kSuffix[unit]);
}

Scoring parse_scoring(const std::string& name) {
  if (name == "generate") return Scoring::Generate;
  if (name == "rank") return Scoring::Rank;
  fail("eval", "unknown scoring \"{}\" (expected generate or rank)", name);
}

std::string to_string(Scoring scoring) { return scoring == Scoring::Rank ? "rank" : "generate"; }

void MethodResults::validate() const {
  check_method_name(method);
  matrix.validate();
  const size_t t = matrix.num_tasks();
  if (routing_accuracy) {
    const auto& r = *routing_accuracy;
    RETAIN_CHECK(r.size() == t, kComponent, "routing accuracy of \"{}\": {} rows, expected {} (one per task)", method,
                 r.size(), t);
    for (size_t j = 0; j < t; ++j) {
      RETAIN_CHECK(r[j].size() == t, kComponent, "routing accuracy of \"{}\": row {} has {} values, expected {}",
                   method, j, r[j].size(), t);
      for (size_t i = 0; i < t; ++i) {
        if (i > j) {
          RETAIN_CHECK(!r[j][i], kComponent,
                       "routing accuracy of \"{}\": row {} column {} must be null (task \"{}\" not yet seen)", method,
                       j, i, matrix.tasks[i]);
        } else {
          RETAIN_CHECK(r[j][i] && std::isfinite(*r[j][i]) && *r[j][i] >= 0.0 && *r[j][i] <= 1.0, kComponent,
                       "routing accuracy of \"{}\": row {} column {} must be a fraction in [0, 1] (task \"{}\" seen)",
                       method, j, i, matrix.tasks[i]);
        }
      }
    }
  }
  RETAIN_CHECK(std::isfinite(seconds) && seconds >= 0.0, kComponent, "\"{}\": seconds is {}, expected >= 0", method,
               seconds);
  RETAIN_CHECK(trainable_params >= 0 && total_params >= 0 && trainable_params <= total_params, kComponent,
               "\"{}\": trainable_params {} and total_params {} must satisfy 0 <= trainable <= total", method,
               trainable_params, total_params);
  RETAIN_CHECK(config.is_object(), kComponent, "\"{}\": config is {}, expected a JSON object", method,
               type_name(config));
  if (experts) {
    RETAIN_CHECK(experts->is_array() && experts->size() == t, kComponent,
                 "\"{}\": experts must be an array of {} objects (one per task)", method, t);
    for (size_t i = 0; i < t; ++i)
      RETAIN_CHECK((*experts)[i].is_object(), kComponent, "\"{}\": experts[{}] is {}, expected an object", method, i,
                   type_name((*experts)[i]));
  }
  if (general_loss) {
    RETAIN_CHECK(general_loss->size() == t + 1, kComponent, "\"{}\": general_loss has {} values, expected {} (T + 1)",
                 method, general_loss->size(), t + 1);
    for (size_t j = 0; j <= t; ++j)
      RETAIN_CHECK(std::isnan((*general_loss)[j]) || (*general_loss)[j] >= 0, kComponent,
                   "\"{}\": general_loss[{}] is {}, expected a loss >= 0 (or NaN: diverged)", method, j,
                   (*general_loss)[j]);
  }
  if (sweep)
    RETAIN_CHECK(sweep->is_object(), kComponent, "\"{}\": sweep is {}, expected an object", method, type_name(*sweep));
}

ordered_json metrics_to_json(const TransferMetrics& m) {
  ordered_json out = ordered_json::object();
  out["AA"] = m.average_accuracy;
  out["BWT"] = metric_or_null(m.backward_transfer);
  out["FWT"] = metric_or_null(m.forward_transfer);
  out["forgetting"] = metric_or_null(m.forgetting);
  return out;
}

ordered_json MethodResults::to_json() const {
  validate();
  ordered_json out = ordered_json::object();
  out["method"] = method;
  out["tasks"] = matrix.tasks;
  out["matrix"] = matrix.scores;
  out["metrics"] = metrics_to_json(metrics());
  if (routing_accuracy) {
    ordered_json rows = ordered_json::array();
    for (const auto& row : *routing_accuracy) {
      ordered_json values = ordered_json::array();
      for (const auto& v : row) values.push_back(v ? ordered_json(*v) : ordered_json(nullptr));
      rows.push_back(std::move(values));
    }
    out["routing_accuracy"] = std::move(rows);
  } else {
    out["routing_accuracy"] = nullptr;
  }
  out["scoring"] = to_string(scoring);
  out["seconds"] = seconds;
  out["trainable_params"] = trainable_params;
  out["total_params"] = total_params;
  out["config"] = ordered_json(config);
  if (experts) out["experts"] = ordered_json(*experts);
  if (general_loss) {
    ordered_json g = ordered_json::array();  // a diverged model's loss (NaN, ∞) is written as null
    for (double v : *general_loss) g.push_back(std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr));
    out["general_loss"] = std::move(g);
  }
  if (sweep) out["sweep"] = ordered_json(*sweep);
  return out;
}

MethodResults MethodResults::from_json(const json& v, const std::string& where) {
  if (!v.is_object()) fail(kComponent, "{}: expected a JSON object, found {}", where, type_name(v));
  static const std::vector<std::string> kKeys = {"method",           "tasks",   "matrix",  "metrics",
                                                 "routing_accuracy", "scoring", "seconds", "trainable_params",
                                                 "total_params",     "config",  "experts", "general_loss", "sweep"};
  for (const auto& item : v.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), item.key()) == kKeys.end())
      fail(kComponent, "{}: unknown key \"{}\" (expected {})", where, item.key(),
           fmt::format("{}", fmt::join(kKeys, ", ")));
  }
  MethodResults r;
  r.method = json_get<std::string>(v, "method", where, kComponent);

  const json& tasks = require_array(require(v, "tasks", where), "\"tasks\"", where);
  if (tasks.empty()) fail(kComponent, "{}: key \"tasks\" is empty, expected at least one task name", where);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (!tasks[i].is_string())
      fail(kComponent, "{}: key \"tasks\"[{}] is {}, expected a string", where, i, type_name(tasks[i]));
    r.matrix.tasks.push_back(tasks[i].get<std::string>());
  }
  const size_t t = tasks.size();

  const json& rows = require_array(require(v, "matrix", where), "\"matrix\"", where);
  if (rows.size() != t + 1)
    fail(kComponent, "{}: key \"matrix\" has {} rows, expected {} (T + 1 for the {} tasks in \"tasks\")", where,
         rows.size(), t + 1, t);
  for (size_t j = 0; j <= t; ++j) {
    const std::string key = fmt::format("\"matrix\"[{}]", j);
    const json& row = require_array(rows[j], key, where);
    if (row.size() != t)
      fail(kComponent, "{}: key {} has {} values, expected {} (one per task)", where, key, row.size(), t);
    std::vector<double> values;
    for (size_t i = 0; i < t; ++i) values.push_back(require_fraction(row[i], fmt::format("{}[{}]", key, i), where));
    r.matrix.scores.push_back(std::move(values));
  }

  const json& routing = require(v, "routing_accuracy", where);
  if (!routing.is_null()) {
    require_array(routing, "\"routing_accuracy\"", where);
    if (routing.size() != t)
      fail(kComponent, "{}: key \"routing_accuracy\" has {} rows, expected {} (one per task) or null", where,
           routing.size(), t);
    RoutingMatrix m;
    for (size_t j = 0; j < t; ++j) {
      const std::string key = fmt::format("\"routing_accuracy\"[{}]", j);
      const json& row = require_array(routing[j], key, where);
      if (row.size() != t) fail(kComponent, "{}: key {} has {} values, expected {}", where, key, row.size(), t);
      std::vector<std::optional<double>> values;
      for (size_t i = 0; i < t; ++i) {
        const std::string cell = fmt::format("{}[{}]", key, i);
        if (i > j) {
          if (!row[i].is_null())
            fail(kComponent, "{}: key {} is {}, expected null (task \"{}\" is not yet seen after task {})", where, cell,
                 type_name(row[i]), r.matrix.tasks[i], j + 1);
          values.emplace_back(std::nullopt);
        } else {
          values.emplace_back(require_fraction(row[i], cell, where));
        }
      }
      m.push_back(std::move(values));
    }
    r.routing_accuracy = std::move(m);
  }

  const auto scoring = json_get<std::string>(v, "scoring", where, kComponent);
  if (scoring != "generate" && scoring != "rank")
    fail(kComponent, "{}: key \"scoring\" is \"{}\", expected \"generate\" or \"rank\"", where, scoring);
  r.scoring = parse_scoring(scoring);
  r.seconds = json_get<double>(v, "seconds", where, kComponent);
  r.trainable_params = json_get<int64_t>(v, "trainable_params", where, kComponent);
  r.total_params = json_get<int64_t>(v, "total_params", where, kComponent);
  const json& config = require(v, "config", where);
  if (!config.is_object()) fail(kComponent, "{}: key \"config\" is {}, expected an object", where, type_name(config));
  r.config = config;
  if (v.contains("experts")) r.experts = v.at("experts");  // optional: only methods that report it
  if (v.contains("general_loss")) {
    const json& g = require_array(v.at("general_loss"), "\"general_loss\"", where);
    std::vector<double> values;
    for (size_t j = 0; j < g.size(); ++j) {
      if (g[j].is_null()) {  // diverged
        values.push_back(std::nan(""));
        continue;
      }
      if (!g[j].is_number())
        fail(kComponent, "{}: key \"general_loss\"[{}] is {}, expected a number or null", where, j, type_name(g[j]));
      values.push_back(g[j].get<double>());
    }
    r.general_loss = std::move(values);
  }
  if (v.contains("sweep")) r.sweep = v.at("sweep");

  try {
    r.validate();
  } catch (const Error& e) {
    fail(kComponent, "{}: {}", where, e.message());
  }

  const json& metrics = require(v, "metrics", where);
  if (!metrics.is_object())
    fail(kComponent, "{}: key \"metrics\" is {}, expected an object", where, type_name(metrics));
  for (const auto& item : metrics.items()) {
    const auto& k = item.key();
    if (k != "AA" && k != "BWT" && k != "FWT" && k != "forgetting")
      fail(kComponent, "{}: unknown key \"metrics\".\"{}\" (expected AA, BWT, FWT, forgetting)", where, k);
  }
  const TransferMetrics computed = r.metrics();
  check_metric("AA", metric_value(metrics, "AA", where), computed.average_accuracy, where);
  check_metric("BWT", metric_value(metrics, "BWT", where), computed.backward_transfer, where);
  check_metric("FWT", metric_value(metrics, "FWT", where), computed.forward_transfer, where);
  check_metric("forgetting", metric_value(metrics, "forgetting", where), computed.forgetting, where);
  return r;
}

std::string results_json_text(const MethodResults& results) { return results.to_json().dump(2) + "\n"; }

void write_results_json(const std::filesystem::path& path, const MethodResults& results) {
  write_file_atomic(path, results_json_text(results), kComponent);
}

MethodResults read_results_json(const std::filesystem::path& path) {
  return MethodResults::from_json(read_json_file(path, kComponent), path.string());
}

std::string matrix_csv(const AccuracyMatrix& matrix) {
  matrix.validate();
  std::string out = "stage";
  for (const auto& task : matrix.tasks) out += "," + csv_field(task);
  out += "\n";
  for (size_t j = 0; j < matrix.scores.size(); ++j) {
    out += j == 0 ? std::string("before") : csv_field("after_" + matrix.tasks[j - 1]);
    for (double v : matrix.scores[j]) out += fmt::format(",{}", v);
    out += "\n";
  }
  return out;
}

void write_matrix_csv(const std::filesystem::path& path, const AccuracyMatrix& matrix) {
  write_file_atomic(path, matrix_csv(matrix), kComponent);
}

std::filesystem::path write_method_outputs(const std::filesystem::path& run_dir, const MethodResults& results) {
  results.validate();
  const auto dir = run_dir / results.method;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(kComponent, "cannot create {}: {}", dir.string(), ec.message());
  write_results_json(dir / "results.json", results);
  write_matrix_csv(dir / "matrix.csv", results.matrix);
  return dir;
}

ordered_json summary_json(const std::vector<MethodResults>& results) {
  ordered_json methods = ordered_json::object();
  for (const auto& r : results) {
    r.validate();
    RETAIN_CHECK(!methods.contains(r.method), kComponent, "summary: method \"{}\" given twice", r.method);
    methods[r.method] = metrics_to_json(r.metrics());
  }
  ordered_json out = ordered_json::object();
  out["methods"] = std::move(methods);
  return out;
}

void write_summary(const std::filesystem::path& path, const std::vector<MethodResults>& results) {
  write_file_atomic(path, summary_json(results).dump(2) + "\n", kComponent);
}

ordered_json StepRecord::to_json() const {
  ordered_json out = ordered_json::object();
  out["task"] = task;
  out["epoch"] = epoch;
  out["step"] = step;
  out["loss"] = loss;
  out["lr"] = lr;
  out["tokens_per_s"] = tokens_per_s;
  return out;
}

MetricsLog::MetricsLog(std::filesystem::path path) : path_(std::move(path)) {
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) fail(kComponent, "cannot open {} for appending: {}", path_.string(), std::strerror(errno));
}

void MetricsLog::append(const json& record) {
  RETAIN_CHECK(record.is_object(), kComponent, "{}: a log record must be a JSON object, got {}", path_.string(),
               type_name(record));
  write_line(record.dump(-1, ' ', false, json::error_handler_t::replace));
}

void MetricsLog::append(const ordered_json& record) {
  RETAIN_CHECK(record.is_object(), kComponent, "{}: a log record must be a JSON object", path_.string());
  write_line(record.dump(-1, ' ', false, ordered_json::error_handler_t::replace));
}

void MetricsLog::write_line(const std::string& line) {
  out_ << line << '\n';
  out_.flush();
  if (!out_) fail(kComponent, "error while appending to {} (disk full?)", path_.string());
}

std::string format_comparison_table(const std::vector<MethodResults>& results) {
  std::vector<std::string> header = {"method", "AA", "BWT", "FWT", "forgetting", "trainable", "seconds"};
  const bool general = std::any_of(results.begin(), results.end(), [](const auto& r) { return r.general_loss.has_value(); });
  if (general) header.insert(header.end() - 2, "LM loss Δ");
  std::vector<std::vector<std::string>> rows = {header};
  for (const auto& r : results) {
    const auto m = r.metrics();
    std::vector<std::string> row = {r.method, percent(m.average_accuracy), percent(m.backward_transfer),
                                    percent(m.forward_transfer), percent(m.forgetting)};
    if (general)
      row.push_back(r.general_loss && std::isfinite(r.general_loss->back() - r.general_loss->front())
                        ? fmt::format("{:+.3f}", r.general_loss->back() - r.general_loss->front())
                        : "—");
    row.push_back(trainable_cell(r));
    row.push_back(fmt::format("{:.1f}", r.seconds));
    rows.push_back(std::move(row));
  }
  std::vector<size_t> width(header.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], display_width(row[c]));
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      line += pad(row[c], width[c], c == 0);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  emit(rows[0]);
  size_t total = 0;
  for (size_t c = 0; c < width.size(); ++c) total += width[c] + (c > 0 ? 2 : 0);
  out += std::string(total, '-') + "\n";
  for (size_t k = 1; k < rows.size(); ++k) emit(rows[k]);
  return out;
}

}  // namespace retain
