#include "retain/train/runner.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/suggest.h"
#include "retain/model/loader.h"
#include "retain/core/torch_compat.h"
#include "retain/train/data_parallel.h"
#include "retain/train/registry.h"
#include "retain/train/resume.h"
#include "retain/train/general_text.h"

#include <chrono>
#include <cmath>
#include <set>

namespace retain {

RunConfig RunConfig::from_json(const json& config, const std::string& where) {
  RunConfig c;
  if (config.is_null()) return c;
  RETAIN_CHECK(config.is_object(), "config", "{}: expected a table of sections", where);
  const std::vector<std::string> sections = {"run", "optim", "eval", "dist", "method"};
  for (auto it = config.begin(); it != config.end(); ++it)
    if (std::find(sections.begin(), sections.end(), it.key()) == sections.end())
      fail("config", "{}: unknown section [{}]{} (sections: run, optim, eval, dist, method)", where, it.key(),
           did_you_mean(it.key(), sections));
  if (config.contains("run")) settings::read(c.run, config["run"], "run");
  if (config.contains("optim")) settings::read(c.optim, config["optim"], "optim");
  if (config.contains("eval")) settings::read(c.eval, config["eval"], "eval");
  if (config.contains("dist")) settings::read(c.dist, config["dist"], "dist");
  if (config.contains("method")) {
    RETAIN_CHECK(config["method"].is_object(), "config", "{}: [method] must hold one table per method", where);
    for (auto it = config["method"].begin(); it != config["method"].end(); ++it) {
      RETAIN_CHECK(it->is_object(), "config", "{}: [method.{}] must be a table of settings, found {}", where, it.key(),
                   it->dump());
      c.set_method_table(it.key(), *it, "method." + it.key());  // validates the name and every key now
    }
  }
  return c;
}

void RunConfig::set_method_table(const std::string& name, const json& table, const std::string& where) {
  const auto& optim_keys = optimizer_keys();
  json own = methods.contains(name) ? methods[name] : json::object();
  json opt = method_optim.contains(name) ? method_optim[name] : json::object();
  for (auto it = table.begin(); it != table.end(); ++it) {
    if (std::find(optim_keys.begin(), optim_keys.end(), it.key()) != optim_keys.end())
      opt[it.key()] = *it;
    else
      own[it.key()] = *it;
  }
  MethodSpec spec = parse_method(name, own);  // name, keys, values (unknown keys suggest an optim key too)
  OptimizerSettings check;
  settings::read(check, opt, where);  // types
  specs.insert_or_assign(name, std::move(spec));
  methods[name] = own;
  if (!opt.empty()) method_optim[name] = opt;
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
  if (section == "dist") return settings::set(dist, key, value, "dist");
  if (section == "method") {
    const auto dot2 = key.find('.');
    RETAIN_CHECK(dot2 != std::string::npos, "config", "--set {}: expected method.<name>.<key>", path);
    const std::string name = key.substr(0, dot2), field = key.substr(dot2 + 1);
    set_method_table(name, json{{field, settings::detail::parse_override_value(value)}}, "method." + name);
    return;
  }
  fail("config", "--set {}: unknown section \"{}\"{} (sections: run, optim, eval, dist, method)", path, section,
       did_you_mean(section, {"run", "optim", "eval", "dist", "method"}));
}

MethodSpec RunConfig::method(const std::string& name) const {
  auto it = specs.find(name);
  return it != specs.end() ? it->second : parse_method(name, json());
}

OptimizerSettings RunConfig::optim_for(const std::string& method) const {
  OptimizerSettings o = optim;
  if (o.lr == 0) o.lr = method_default_lr(method).lr;
  if (method_optim.contains(method)) settings::read(o, method_optim[method], "method." + method);
  return o;
}

std::string RunConfig::lr_source(const std::string& method) const {
  if (method_optim.contains(method) && method_optim[method].contains("lr")) return "method." + method + ".lr";
  if (optim.lr != 0) return "optim.lr";
  return "default of " + method + ": " + method_default_lr(method).source;
}

void RunConfig::validate(const std::vector<std::string>& method_names) const {
  run.validate();
  eval.validate();
  dist.validate();
  RETAIN_CHECK(optim.lr >= 0, "config", "optim.lr must be positive (or 0: each method's default), got {}", optim.lr);
  OptimizerSettings global = optim;
  if (global.lr == 0) global.lr = 1;  // stands for the methods' defaults here; each is checked below
  global.validate("optim");
  for (const auto& name : method_names) {
    method(name);  // the name (the table was checked when it was set)
    optim_for(name).validate(method_optim.contains(name) ? "method." + name : "optim");
  }
}

json RunConfig::to_json(const std::vector<std::string>& method_names) const {
  RunSettings r = run;
  OptimizerSettings o = optim;
  EvalSettings e = eval;
  DistSettings d = dist;
  json out = {{"run", settings::to_json(r)}, {"optim", settings::to_json(o)}, {"eval", settings::to_json(e)},
              {"dist", settings::to_json(d)}};
  json m = json::object();
  for (const auto& name : method_names) {
    json table = method(name).resolved;
    if (method_optim.contains(name)) table.update(method_optim[name]);
    m[name] = table;
  }
  out["method"] = m;
  return out;
}

void RunSettings::validate() const {
  RETAIN_CHECK(dtype == "float32" || dtype == "bfloat16" || dtype == "float16" || dtype == "float64", "config",
               "run.dtype = \"{}\" is not known: expected float32 | bfloat16 | float16 | float64", dtype);
  try {
    parse_device(device);
  } catch (const Error& e) {
    fail("config", "run.device = \"{}\": {}", device, e.message());
  }
  RETAIN_CHECK(autocast == Autocast::Off || device.rfind("cuda", 0) == 0, "config",
               "run.autocast = bf16 needs run.device = cuda (autocast is a CUDA feature here); got device \"{}\"", device);
  RETAIN_CHECK(max_length >= 2, "config", "run.max_length must be at least 2 (one prompt and one answer token), got {}",
               max_length);
  RETAIN_CHECK(seed >= 0, "config", "run.seed must be >= 0, got {}", seed);
  RETAIN_CHECK(checkpoint_every_steps >= 0, "config", "run.checkpoint_every_steps must be >= 0, got {}", checkpoint_every_steps);
  RETAIN_CHECK(checkpoint_every_minutes >= 0, "config", "run.checkpoint_every_minutes must be >= 0, got {}",
               checkpoint_every_minutes);
}

namespace {

json matrix_rows(const AccuracyMatrix& m, int64_t rows) {
  json out = json::array();
  for (int64_t r = 0; r < rows; ++r) out.push_back(m.scores[r]);
  return out;
}

json routing_rows(const std::optional<RoutingMatrix>& routing) {
  if (!routing) return nullptr;
  json out = json::array();
  for (const auto& row : *routing) {
    json r = json::array();
    for (const auto& v : row) r.push_back(v ? json(*v) : json(nullptr));
    out.push_back(r);
  }
  return out;
}

std::optional<RoutingMatrix> routing_from(const json& j) {
  if (j.is_null()) return std::nullopt;
  RoutingMatrix m;
  for (const auto& row : j) {
    std::vector<std::optional<double>> r;
    for (const auto& v : row) r.push_back(v.is_null() ? std::nullopt : std::optional<double>(v.get<double>()));
    m.push_back(r);
  }
  return m;
}

// The first `rows` general-text losses; a non-finite one (a diverged model) as null.
json general_rows(const std::optional<std::vector<double>>& loss, int64_t rows) {
  if (!loss) return nullptr;
  json out = json::array();
  for (int64_t j = 0; j < rows; ++j) {
    const double v = (*loss)[static_cast<size_t>(j)];
    out.push_back(std::isfinite(v) ? json(v) : json(nullptr));
  }
  return out;
}

uint64_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

}  // namespace

void validate_tasks(const std::vector<Task>& tasks, const EvalSettings& eval) {
  RETAIN_CHECK(!tasks.empty(), "run", "no tasks given");
  std::set<std::string> seen;
  for (const auto& t : tasks) {
    RETAIN_CHECK(seen.insert(t.name).second, "run", "two tasks are named \"{}\" ({}); task names must differ",
                 t.name, t.source);
    RETAIN_CHECK(!t.train.empty(), "run", "task \"{}\" ({}) has no training examples", t.name, t.source);
    RETAIN_CHECK(!t.test.empty(), "run", "task \"{}\" ({}) has no test examples", t.name, t.source);
    if (eval.scoring == "rank")
      RETAIN_CHECK(t.type == TaskType::Classification && !t.labels.empty(), "config",
                   "eval.scoring = rank ranks label strings, but task \"{}\" ({}) is a {} task without labels: use "
                   "eval.scoring = generate",
                   t.name, t.source, to_string(t.type));
  }
}

RunContext open_run(const std::filesystem::path& model_dir, const std::vector<Task>& tasks, const RunConfig& config,
                    at::Device device, const Tokenizer& tokenizer) {
  RunContext run;
  run.device = device;
  run.model = load_model(model_dir, {parse_dtype(config.run.dtype), device});
  run.tokenizer = &tokenizer;
  run.tasks = tasks;
  run.seed = static_cast<uint64_t>(config.run.seed);
  run.autocast_bf16 = config.run.autocast == Autocast::Bf16;
  run.tokenize.max_length = config.run.max_length;
  RETAIN_CHECK(!run.model->config.eos_token_ids.empty(), "run", "{}/config.json names no eos_token_id; training needs one",
               model_dir.string());
  run.tokenize.eos_token_id = run.model->config.eos_token_ids.front();
  for (const auto& task : tasks) run.train_data.push_back(tokenize_examples(tokenizer, task, task.train, run.tokenize));
  return run;
}

MethodResults run_method(const std::string& method_name, const std::filesystem::path& model_dir,
                         const std::vector<Task>& tasks, const RunConfig& config, const std::filesystem::path& out_dir,
                         const std::function<void(const Task&, const StepInfo&)>& progress, bool resume) {
  MethodRunOptions options;
  options.progress = progress;
  options.resume = resume;
  return run_method(method_name, model_dir, tasks, config, out_dir, options);
}

MethodResults run_method(const std::string& method_name, const std::filesystem::path& model_dir,
                         const std::vector<Task>& tasks, const RunConfig& config, const std::filesystem::path& out_dir,
                         const MethodRunOptions& options) {
  namespace fs = std::filesystem;
  const auto& progress = options.progress;
  const bool resume = options.resume;
  // Everything the user wrote is checked before the model loads.
  config.validate({method_name});
  validate_tasks(tasks, config.eval);
  RETAIN_CHECK(!options.dev || options.dev->size() == tasks.size(), "run", "{} dev splits for {} tasks",
               options.dev ? options.dev->size() : 0, tasks.size());
  const auto general_path = resolve_general_text(config.eval.general_text, model_dir);
  const OptimizerSettings optim = config.optim_for(method_name);
  const auto started = std::chrono::steady_clock::now();
  auto method = config.method(method_name).make();
  // The data-parallel ranks; alone: a world of 1 that carries config.dist (dist.simulate_ranks).
  const std::shared_ptr<DistContext> dist =
      options.dist ? options.dist : DistContext::open(DistEnvironment{}, config.dist, parse_device(config.run.device));
  const DataParallelPlan parallel = data_parallel_plan(*dist);
  RETAIN_CHECK(parallel.world == 1 || method->supports_data_parallel(), "run",
               "method {} does not support data-parallel training yet ({} ranks): the statistics it computes over "
               "examples are not reduced over ranks (docs/distributed.md lists the methods that are); run it in one "
               "process", method_name, parallel.world);
  const bool writer = dist->is_main();  // rank 0 scores and writes; the others train alongside
  const Tokenizer tokenizer = Tokenizer::from_file(model_dir / "tokenizer.json");

  RunContext run = open_run(model_dir, tasks, config, parse_device(config.run.device), tokenizer);
  run.dist = dist;
  const std::vector<std::string> base_names = model_state_names(run.model);
  std::optional<GeneralText> general;
  if (general_path) {
    const int64_t positions = run.model->config.max_position_embeddings;
    // Each window is at most max_length ids (and the model's positions): max_length − 1 predictions.
    const int64_t window = (positions > 0 ? std::min(config.run.max_length, positions) : config.run.max_length) - 1;
    general = prepare_general_text(tokenizer, read_general_documents(*general_path), *run.tokenize.eos_token_id,
                                   window, config.eval.general_tokens);
    general->source = *general_path;
  }

  const int64_t T = static_cast<int64_t>(tasks.size());
  MethodResults results;
  results.method = method_name;
  std::vector<std::string> names;
  for (const auto& t : tasks) names.push_back(t.name);
  results.matrix = AccuracyMatrix::zeros(names);
  results.scoring = parse_scoring(config.eval.scoring);
  results.config = config.to_json({method_name});
  {
    OptimizerSettings used = optim;
    results.config["optim"] = settings::to_json(used);  // what this method trained with
  }
  results.config["optim_lr_source"] = config.lr_source(method_name);
  results.config["model"] = model_dir.string();
  results.config["oracle"] = method->is_oracle();  // pertask uses the true task id: reports say so
  if (general) {
    results.config["general_text"] = {{"path", general->source.string()}, {"tokens", general->tokens},
                                      {"windows", general->windows.size()}, {"documents", general->documents}};
    results.general_loss = std::vector<double>(static_cast<size_t>(T) + 1, 0.0);
  }
  const json resolved = method->resolved_settings(run);  // e.g. asr's L_f for this model
  for (const auto& item : resolved.items()) results.config["method"][method_name][item.key()] = item.value();

  const auto method_dir = out_dir / method_name;
  const auto resume_dir = method_dir / "resume";
  const auto task_point_path = resume_dir / "task.safetensors", step_point_path = resume_dir / "step.safetensors";
  const auto metrics_path = method_dir / "metrics.jsonl";
  // The rows scored so far, rewritten after every stage: a run cut short (a time limit, a lost
  // machine) still reports its first tasks. Removed once results.json is written.
  const auto progress_path = method_dir / "progress.json";
  if (writer) fs::create_directories(method_dir);

  // What to continue from: the state after the last completed task, and a mid-task point of the next.
  std::optional<ResumePoint> task_point, step_point;
  if (resume && fs::exists(task_point_path)) {
    task_point = read_resume_point(task_point_path);
    const json& p = task_point->progress;
    RETAIN_CHECK(p.value("method", "") == method_name && p.value("tasks", json()) == json(names), "resume",
                 "{} belongs to another run (method {}, tasks {})", task_point_path.string(), p.value("method", ""),
                 p.value("tasks", json()).dump());
    RETAIN_CHECK(p.value("config", json()) == results.config, "resume",
                 "{} was written with a different configuration; resume with the same settings, or start over with "
                 "--overwrite", task_point_path.string());
    if (fs::exists(step_point_path)) {
      step_point = read_resume_point(step_point_path);
      if (step_point->progress.value("task_index", int64_t{-1}) != p.value("tasks_done", int64_t{-2})) step_point.reset();
    }
  }
  if (!task_point && writer) {  // a fresh start: nothing from an earlier attempt survives
    remove_tree(resume_dir);
    fs::remove(metrics_path);
    fs::remove(progress_path);
  }
  const json& restored = task_point ? task_point->progress : json::object();
  std::optional<MetricsLog> log;
  if (writer) {
    if (step_point) fs::resize_file(metrics_path, step_point->progress.at("metrics_bytes").get<uint64_t>());
    else if (task_point && fs::exists(metrics_path)) fs::resize_file(metrics_path, restored.at("metrics_bytes").get<uint64_t>());
    log.emplace(metrics_path);
  }

  // Every task's score with the model set up for inference after `stage` tasks: on its test split,
  // or on `splits[i]` (sweeps: the dev splits).
  auto score_tasks = [&](int64_t stage, const std::vector<std::vector<Example>>* splits) {
    compat::AutocastGuard autocast(run.autocast_bf16 && run.device.is_cuda(), at::kBFloat16);
    method->prepare_evaluation(run, stage);
    std::vector<double> scores;
    for (int64_t i = 0; i < T; ++i) {
      if (method->is_oracle()) method->select_task(run, i);
      scores.push_back(splits ? evaluate_examples(run.model, tokenizer, tasks[i], (*splits)[i], run.tokenize, config.eval).score
                              : evaluate_task(run.model, tokenizer, tasks[i], run.tokenize, config.eval).score);
    }
    return scores;
  };
  auto score_all = [&](int64_t stage) {
    if (!writer) {  // the model set up exactly as rank 0 leaves it after scoring, without the scoring
      compat::AutocastGuard autocast(run.autocast_bf16 && run.device.is_cuda(), at::kBFloat16);
      method->prepare_evaluation(run, stage);
      if (method->is_oracle()) method->select_task(run, T - 1);
      return;
    }
    results.matrix.scores[stage] = score_tasks(stage, nullptr);
    compat::AutocastGuard autocast(run.autocast_bf16 && run.device.is_cuda(), at::kBFloat16);
    if (general) (*results.general_loss)[stage] = general_text_loss(run.model, *general, config.eval.batch_size);
    // Routing methods: row stage − 1 of routing_accuracy, the tasks not yet seen left null.
    if (stage > 0)
      if (auto routing = method->routing_accuracy(run, stage)) {
        if (!results.routing_accuracy) results.routing_accuracy = RoutingMatrix(T, std::vector<std::optional<double>>(T));
        for (int64_t i = 0; i < stage; ++i) (*results.routing_accuracy)[stage - 1][i] = routing->at(i);
      }
  };
  double earlier_seconds = 0;
  auto elapsed = [&] {
    return earlier_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  int64_t trainable = 0;
  auto progress_record = [&](int64_t tasks_done) {
    return json{{"format", 1},
                {"method", method_name},
                {"tasks", names},
                {"tasks_done", tasks_done},
                {"matrix", matrix_rows(results.matrix, tasks_done + 1)},
                {"routing", routing_rows(results.routing_accuracy)},
                {"general_loss", general_rows(results.general_loss, tasks_done + 1)},
                {"trainable_params", trainable},
                {"seconds", elapsed()},
                {"metrics_bytes", file_size_or_zero(metrics_path)},
                {"config", results.config}};
  };
  auto write_progress = [&](int64_t tasks_done) {
    if (!writer) return;
    write_file_atomic(progress_path, progress_record(tasks_done).dump(2) + "\n", "run");
  };
  auto save_task_point = [&](int64_t tasks_done) {
    if (!config.run.resumable || !writer) return;
    ResumePoint point;
    point.progress = progress_record(tasks_done);
    point.model = model_state(run.model, base_names, method->updates_base() && tasks_done > 0);
    point.method = method->state(run);
    write_resume_point(task_point_path, point);
    fs::remove(step_point_path);
  };

  method->on_run_start(run);
  int64_t first_task = 0;
  if (task_point) {
    first_task = restored.at("tasks_done").get<int64_t>();
    const json& rows = restored.at("matrix");
    for (size_t r = 0; r < rows.size(); ++r) results.matrix.scores[r] = rows[r].get<std::vector<double>>();
    results.routing_accuracy = routing_from(restored.at("routing"));
    if (general && restored.contains("general_loss") && restored["general_loss"].is_array()) {
      const json& saved = restored["general_loss"];
      for (size_t j = 0; j < saved.size() && j < results.general_loss->size(); ++j)
        (*results.general_loss)[j] = saved[j].is_number() ? saved[j].get<double>() : std::nan("");
    }
    trainable = restored.at("trainable_params").get<int64_t>();
    earlier_seconds = restored.at("seconds").get<double>();
    if (first_task > 0) method->load_state(run, first_task, task_point->method);
    load_model_state(run.model, task_point->model, task_point_path.string());
    run.model->to(run.device);
    // The uninterrupted run set the model up for scoring after the last task and then trained on:
    // do the same, so the next task starts from an identical state.
    method->prepare_evaluation(run, first_task);
    if (method->is_oracle()) method->select_task(run, T - 1);
  } else {
    score_all(0);
    write_progress(0);
    save_task_point(0);
  }
  for (int64_t t = first_task; t < T; ++t) {
    TaskContext ctx{run, t};
    auto observe = [&](const StepInfo& info) {
      StepRecord record;
      record.task = tasks[t].name;
      record.epoch = info.epoch;
      record.step = info.step;
      record.loss = info.loss;
      record.lr = info.lr;
      record.tokens_per_s = info.seconds > 0 ? static_cast<double>(info.tokens) / info.seconds : 0;
      if (log) log->append(record);
      if (progress) progress(tasks[t], info);
    };
    StepCheckpointing checkpointing;
    checkpointing.every_steps = config.run.checkpoint_every_steps;
    checkpointing.every_minutes = config.run.checkpoint_every_minutes;
    if (config.run.resumable && writer)
      checkpointing.save = [&](const TrainingState& state) {
        ResumePoint point;
        point.progress = {{"format", 1}, {"method", method_name}, {"task_index", t},
                          {"metrics_bytes", file_size_or_zero(metrics_path)}};
        point.model = model_state(run.model, base_names, method->updates_base());
        point.training = state;
        write_resume_point(step_point_path, point);
      };
    if (step_point && t == first_task) {
      checkpointing.resume = &step_point->training;
      checkpointing.restore = [&] {
        load_model_state(run.model, step_point->model, step_point_path.string());
      };
    }
    train_task(*method, ctx, optim, observe, &checkpointing);
    if (config.run.save_checkpoints && writer) {
      const auto dir = method_dir / "checkpoints" / ("task_" + std::to_string(t + 1));
      fs::create_directories(dir);
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
    write_progress(t + 1);
    if (t + 1 < T) save_task_point(t + 1);
  }
  results.trainable_params = trainable;
  results.total_params = 0;
  for (auto& p : run.model->parameters()) results.total_params += p.numel();
  results.trainable_params = std::min(results.trainable_params, results.total_params);
  const json report = method->report(run);  // extra results fields: only "experts" so far
  for (const auto& item : report.items()) {
    RETAIN_CHECK(item.key() == "experts", "run", "method {} reports an unknown results field \"{}\"", method_name,
                 item.key());
    results.experts = item.value();
  }
  if (options.dev && writer) {  // sweeps: the final model on each task's dev split (never test)
    const std::vector<double> dev = score_tasks(T, options.dev);
    double mean = 0;
    for (double d : dev) mean += d / static_cast<double>(T);
    results.sweep = json{{"dev_scores", dev}, {"dev_aa", mean}};
  }
  results.seconds = elapsed();
  if (writer) {
    write_method_outputs(out_dir, results);
    remove_tree(resume_dir);
    fs::remove(progress_path);
  }
  dist->barrier("the end of method " + method_name);  // no rank leaves before rank 0 has written
  return results;
}

}  // namespace retain
