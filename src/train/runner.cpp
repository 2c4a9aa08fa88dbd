#include "retain/train/runner.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/suggest.h"
#include "retain/model/loader.h"
#include "retain/train/registry.h"

#include <chrono>

namespace retain {

RunConfig RunConfig::from_json(const json& config, const std::string& where) {
  RunConfig c;
  if (config.is_null()) return c;
  RETAIN_CHECK(config.is_object(), "config", "{}: expected a table of sections", where);
  const std::vector<std::string> sections = {"run", "optim", "eval", "method"};
  for (auto it = config.begin(); it != config.end(); ++it)
    if (std::find(sections.begin(), sections.end(), it.key()) == sections.end())
      fail("config", "{}: unknown section [{}]{} (sections: run, optim, eval, method)", where, it.key(),
           did_you_mean(it.key(), sections));
  if (config.contains("run")) settings::read(c.run, config["run"], "run");
  if (config.contains("optim")) settings::read(c.optim, config["optim"], "optim");
  if (config.contains("eval")) settings::read(c.eval, config["eval"], "eval");
  if (config.contains("method")) {
    RETAIN_CHECK(config["method"].is_object(), "config", "{}: [method] must hold one table per method", where);
    for (auto it = config["method"].begin(); it != config["method"].end(); ++it) {
      method_settings(it.key(), *it);  // validates the name and every key now, not mid-run
      c.methods[it.key()] = *it;
    }
  }
  return c;
}

void RunConfig::set(const std::string& assignment) {
  const auto eq = assignment.find('=');
  RETAIN_CHECK(eq != std::string::npos && eq > 0, "config", "--set expects section.key=value, got \"{}\"", assignment);
  const std::string path = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  const auto dot = path.find('.');
  RETAIN_CHECK(dot != std::string::npos, "config", "--set {}: expected section.key (e.g. optim.lr)", path);
  const std::string section = path.substr(0, dot), key = path.substr(dot + 1);
  if (section == "run") return settings::set(run, key, value, "run");
  if (section == "optim") return settings::set(optim, key, value, "optim");
  if (section == "eval") return settings::set(eval, key, value, "eval");
  if (section == "method") {
    const auto dot2 = key.find('.');
    RETAIN_CHECK(dot2 != std::string::npos, "config", "--set {}: expected method.<name>.<key>", path);
    const std::string name = key.substr(0, dot2), field = key.substr(dot2 + 1);
    json table = methods.contains(name) ? methods[name] : json::object();
    table[field] = settings::detail::parse_override_value(value);
    method_settings(name, table);
    methods[name] = table;
    return;
  }
  fail("config", "--set {}: unknown section \"{}\"{} (sections: run, optim, eval, method)", path, section,
       did_you_mean(section, {"run", "optim", "eval", "method"}));
}

json RunConfig::to_json(const std::vector<std::string>& method_names) const {
  RunSettings r = run;
  OptimizerSettings o = optim;
  EvalSettings e = eval;
  json out = {{"run", settings::to_json(r)}, {"optim", settings::to_json(o)}, {"eval", settings::to_json(e)}};
  json m = json::object();
  for (const auto& name : method_names) m[name] = method_settings(name, methods.contains(name) ? methods[name] : json());
  out["method"] = m;
  return out;
}

MethodResults run_method(const std::string& method_name, const std::filesystem::path& model_dir,
                         const std::vector<Task>& tasks, const RunConfig& config, const std::filesystem::path& out_dir,
                         const std::function<void(const Task&, const StepInfo&)>& progress) {
  RETAIN_CHECK(!tasks.empty(), "run", "no tasks given");
  const auto started = std::chrono::steady_clock::now();
  auto method = make_method(method_name, config.methods.contains(method_name) ? config.methods[method_name] : json());
  const Tokenizer tokenizer = Tokenizer::from_file(model_dir / "tokenizer.json");

  RunContext run;
  run.device = parse_device(config.run.device);
  run.model = load_model(model_dir, {parse_dtype(config.run.dtype), run.device});
  run.tokenizer = &tokenizer;
  run.tasks = tasks;
  run.seed = static_cast<uint64_t>(config.run.seed);
  run.tokenize.max_length = config.run.max_length;
  RETAIN_CHECK(!run.model->config.eos_token_ids.empty(), "run", "{}/config.json names no eos_token_id; training needs one",
               model_dir.string());
  run.tokenize.eos_token_id = run.model->config.eos_token_ids.front();
  for (const auto& task : tasks) run.train_data.push_back(tokenize_examples(tokenizer, task, task.train, run.tokenize));

  const int64_t T = static_cast<int64_t>(tasks.size());
  MethodResults results;
  results.method = method_name;
  std::vector<std::string> names;
  for (const auto& t : tasks) names.push_back(t.name);
  results.matrix = AccuracyMatrix::zeros(names);
  results.scoring = parse_scoring(config.eval.scoring);
  results.config = config.to_json({method_name});
  results.config["model"] = model_dir.string();
  results.config["oracle"] = method->is_oracle();  // pertask uses the true task id: reports say so

  const auto method_dir = out_dir / method_name;
  std::filesystem::create_directories(method_dir);
  MetricsLog log(method_dir / "metrics.jsonl");

  auto score_all = [&](int64_t stage) {
    method->prepare_evaluation(run, stage);
    for (int64_t i = 0; i < T; ++i) {
      if (method->is_oracle()) method->select_task(run, i);
      results.matrix.scores[stage][i] = evaluate_task(run.model, tokenizer, tasks[i], run.tokenize, config.eval).score;
    }
  };
  method->on_run_start(run);
  score_all(0);
  int64_t trainable = 0;
  for (int64_t t = 0; t < T; ++t) {
    TaskContext ctx{run, t};
    auto observe = [&](const StepInfo& info) {
      StepRecord record;
      record.task = tasks[t].name;
      record.epoch = info.epoch;
      record.step = info.step;
      record.loss = info.loss;
      record.lr = info.lr;
      record.tokens_per_s = info.seconds > 0 ? static_cast<double>(info.tokens) / info.seconds : 0;
      log.append(record);
      if (progress) progress(tasks[t], info);
    };
    train_task(*method, ctx, config.optim, observe);
    if (config.run.save_checkpoints) {
      const auto dir = method_dir / "checkpoints" / ("task_" + std::to_string(t + 1));
      std::filesystem::create_directories(dir);
      if (method->updates_base()) {
        save_model(dir, run.model, parse_dtype(config.run.dtype));
        write_file_atomic(dir / "tokenizer.json", read_file(model_dir / "tokenizer.json", "run"), "run");
      }
      method->save(run, dir);
    }
    int64_t count = 0;
    for (auto& p : method->trainable(ctx)) count += p.numel();
    trainable = std::max(trainable, count);
    score_all(t + 1);
  }
  results.trainable_params = trainable;
  results.total_params = 0;
  for (auto& p : run.model->parameters()) results.total_params += p.numel();
  results.trainable_params = std::min(results.trainable_params, results.total_params);
  results.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  write_method_outputs(out_dir, results);
  return results;
}

}  // namespace retain
