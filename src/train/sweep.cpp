#include "retain/train/sweep.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/suggest.h"
#include "retain/train/subset.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace retain {

namespace {
constexpr const char* kComponent = "sweep";

// A folder name for a value: letters, digits, '.', '-', '+' kept, anything else '_'.
std::string folder_text(const std::string& value) {
  std::string out;
  for (char c : value) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' ? c : '_');
  return out;
}
}  // namespace

SweepSpec SweepSpec::parse(const std::string& text) {
  const auto eq = text.find('=');
  RETAIN_CHECK(eq != std::string::npos && eq > 0, "config", "--sweep expects optim.<key>=v1,v2,... (e.g. optim.lr=1e-4,1e-3), got \"{}\"",
               text);
  const std::string path = text.substr(0, eq), list = text.substr(eq + 1);
  RETAIN_CHECK(path.rfind("optim.", 0) == 0, "config", "--sweep {}: only [optim] keys can be swept (optim.<key>: {})", path,
               fmt::join(optimizer_keys(), ", "));
  SweepSpec s;
  s.key = path.substr(6);
  const auto& keys = optimizer_keys();
  RETAIN_CHECK(std::find(keys.begin(), keys.end(), s.key) != keys.end(), "config", "--sweep {}: unknown key \"{}\"{} (optim keys: {})",
               path, s.key, did_you_mean(s.key, keys), fmt::join(keys, ", "));
  std::set<std::string> seen;
  size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    std::string v = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    v.erase(0, v.find_first_not_of(' '));
    v.erase(v.find_last_not_of(' ') + 1);
    RETAIN_CHECK(!v.empty(), "config", "--sweep {}: an empty value in \"{}\"", path, list);
    RETAIN_CHECK(seen.insert(v).second, "config", "--sweep {}: value {} given twice", path, v);
    OptimizerSettings check;
    settings::set(check, s.key, v, "--sweep optim");  // the value's type
    s.values.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  RETAIN_CHECK(s.values.size() >= 2, "config", "--sweep {}: give at least two values, got \"{}\"", path, list);
  return s;
}

std::string SweepSpec::to_string() const { return fmt::format("optim.{}={}", key, fmt::join(values, ",")); }

std::vector<Task> with_dev_splits(std::vector<Task> tasks, double share, uint64_t seed, std::vector<std::string>* how) {
  RETAIN_CHECK(share > 0 && share < 1, kComponent, "the dev share must be in (0, 1), got {}", share);
  if (how) how->clear();
  for (size_t t = 0; t < tasks.size(); ++t) {
    Task& task = tasks[t];
    if (!task.dev.empty()) {
      // Some benchmark copies reuse test examples as dev: say how many inputs the two share.
      std::set<std::string> test_inputs;
      for (const auto& e : task.test) test_inputs.insert(e.input);
      int64_t shared = 0;
      for (const auto& e : task.dev) shared += test_inputs.count(e.input) ? 1 : 0;
      if (how) how->push_back(shared ? fmt::format("dev split ({} of its {} inputs also in test)", shared, task.dev.size())
                                    : std::string("dev split"));
      continue;
    }
    const int64_t n = static_cast<int64_t>(task.train.size());
    RETAIN_CHECK(n >= 2, kComponent, "task \"{}\" has no dev split and {} training example(s): none to hold out",
                 task.name, n);
    const int64_t k = std::clamp<int64_t>(std::llround(share * static_cast<double>(n)), 1, n - 1);
    std::vector<bool> held(n, false);
    for (int64_t i : random_subset(n, k, {seed, static_cast<uint64_t>(t), uint64_t{0xDE5}})) held[i] = true;
    std::vector<Example> train;
    for (int64_t i = 0; i < n; ++i) (held[i] ? task.dev : train).push_back(task.train[i]);
    task.train = std::move(train);
    if (how) how->push_back(fmt::format("{} of train ({} examples)", share, k));
  }
  return tasks;
}

MethodResults sweep_method(const std::string& method_name, const std::filesystem::path& model_dir,
                           const std::vector<Task>& tasks, const std::vector<std::string>& dev_sources,
                           const RunConfig& config, const SweepSpec& sweep, const std::filesystem::path& out_dir,
                           const MethodRunOptions& options) {
  namespace fs = std::filesystem;
  std::vector<std::vector<Example>> dev;
  for (const auto& t : tasks) {
    RETAIN_CHECK(!t.dev.empty(), kComponent, "task \"{}\" has no dev split (with_dev_splits gives one)", t.name);
    dev.push_back(t.dev);
  }
  std::vector<RunConfig> configs;
  for (const auto& value : sweep.values) {  // every candidate checked before the first one trains
    RunConfig c = config;
    c.set("method." + method_name + "." + sweep.key + "=" + value);
    c.validate({method_name});
    configs.push_back(std::move(c));
  }
  const fs::path root = out_dir / method_name / "sweep";
  std::vector<MethodResults> runs;
  for (size_t k = 0; k < sweep.values.size(); ++k) {
    const fs::path dir = root / fmt::format("{}-{}", k, folder_text(sweep.values[k]));
    MethodRunOptions o = options;
    o.dev = &dev;
    bool done = false;
    if (options.resume && fs::exists(dir / method_name / "results.json")) {
      // A finished candidate counts only if it ran with this candidate's settings.
      auto finished = read_results_json(dir / method_name / "results.json");
      OptimizerSettings expected = configs[k].optim_for(method_name);
      done = finished.config.value("optim", json()) == settings::to_json(expected) &&
             finished.config.value("method", json()).value(method_name, json()) ==
                 configs[k].to_json({method_name})["method"][method_name];
      if (done) runs.push_back(std::move(finished));
    }
    if (!done) {
      runs.push_back(run_method(method_name, model_dir, tasks, configs[k], dir, o));
    }
    RETAIN_CHECK(runs.back().sweep && runs.back().sweep->contains("dev_aa"), kComponent,
                 "{}: the candidate's results hold no dev score", (dir / method_name / "results.json").string());
  }
  size_t best = 0;
  std::vector<double> dev_aa;
  json dev_scores = json::array();
  for (size_t k = 0; k < runs.size(); ++k) {
    dev_aa.push_back(runs[k].sweep->at("dev_aa").get<double>());
    dev_scores.push_back(runs[k].sweep->at("dev_scores"));
    if (dev_aa[k] > dev_aa[best]) best = k;
  }
  MethodResults chosen = runs[best];
  chosen.sweep = json{{"key", "optim." + sweep.key}, {"values", sweep.values},    {"dev_aa", dev_aa},
                      {"dev_scores", dev_scores},     {"chosen", sweep.values[best]}, {"chosen_index", best},
                      {"dev", dev_sources}};
  const fs::path chosen_dir = root / fmt::format("{}-{}", best, folder_text(sweep.values[best])) / method_name;
  // The chosen run's training log (for the report's loss curves) first, results.json last: a
  // method folder with a results.json is a finished one.
  fs::create_directories(out_dir / method_name);
  write_file_atomic(out_dir / method_name / "metrics.jsonl", read_file(chosen_dir / "metrics.jsonl", kComponent), kComponent);
  write_method_outputs(out_dir, chosen);
  return chosen;
}

}  // namespace retain
