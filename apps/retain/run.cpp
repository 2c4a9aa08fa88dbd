// retain run: methods through a task sequence, compared. Config = TOML file < command-line flags <
// --set; the resolved config is printed and saved in OUT/config.json; OUT/<method>/ holds each
// method's results; OUT/summary.json and a table on stdout compare them, and OUT/report.html shows
// them (eval/report.h).
//
// --jobs N trains N methods at once, each in a child process (core/child_jobs.h) with the CPU
// threads split between them; the parent writes summary.json and the report when all have ended.
//
// --resume [DIR] continues an interrupted run: methods with a results.json are done; the others go
// on from their latest resume point (train/resume.h). With only --resume DIR, the model, tasks,
// methods and settings come from DIR/config.json.
//
// Data parallel: started N times by `retain launch` or torchrun (dist/environment.h), every rank
// trains each method on its share of every batch; rank 0 alone scores, prints and writes (OUT/
// config.json, the method folders, summary.json, the report). --jobs and --sweep need one process.
//
// Test hook: RETAIN_TEST_KILL_AFTER_STEPS=N makes the process SIGKILL itself after N optimizer steps
// (counted over all methods; with --jobs, over each child's method), as an interrupted run; tests
// use it to check --resume. With RETAIN_TEST_KILL_RANK=R only data-parallel rank R does.
#include "commands.h"

#include "retain/core/child_jobs.h"
#include "retain/core/dir_lock.h"
#include "retain/core/files.h"
#include "retain/core/toml.h"
#include "retain/data/task.h"
#include "retain/dist/environment.h"
#include "retain/dist/process_group.h"
#include "retain/eval/report.h"
#include "retain/model/loader.h"
#include "retain/train/registry.h"
#include "retain/train/runner.h"
#include "retain/train/sweep.h"
#include "retain/train/general_text.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

namespace retain::cli {
namespace {

namespace fs = std::filesystem;

struct RunOptions {
  std::string model;
  std::vector<std::string> tasks;
  std::string benchmark;
  int order = 0;
  std::vector<std::string> methods;
  std::string out;
  std::string config;
  std::vector<std::string> sets;
  std::string sweep;
  std::optional<int64_t> epochs, batch_size, seed;
  std::optional<double> lr;
  std::string device;
  bool overwrite = false;
  bool save_checkpoints = false;
  std::optional<std::string> resume;  // "" = --resume without a folder: the --out folder
  int64_t jobs = 1;                    // methods trained at once, each in its own process
};

/// Fills what --resume DIR alone leaves out from DIR/config.json; returns the saved config sections.
json complete_from_saved(RunOptions& o, const json& saved, const std::string& where) {
  auto need = [&](const char* key) -> const json& {
    RETAIN_CHECK(saved.contains(key), "run", "{}: no \"{}\"; cannot resume from it", where, key);
    return saved[key];
  };
  const json& inputs = need("inputs");
  if (o.model.empty()) o.model = need("model").get<std::string>();
  if (o.methods.empty()) o.methods = need("methods").get<std::vector<std::string>>();
  if (o.tasks.empty() && o.benchmark.empty()) {
    o.tasks = inputs.value("task_paths", std::vector<std::string>{});
    o.benchmark = inputs.value("benchmark", std::string());
    o.order = inputs.value("order", 0);
  }
  json sections = json::object();
  for (const char* key : {"run", "optim", "eval", "dist", "method"})
    if (saved.contains(key)) sections[key] = saved[key];
  if (o.sweep.empty() && saved.contains("sweep") && saved["sweep"].is_string()) o.sweep = saved["sweep"].get<std::string>();
  return sections;
}

void print_progress(const std::string& method, const Task& task, int64_t task_index, int64_t tasks, const StepInfo& i) {
  const bool tty = ::isatty(STDERR_FILENO);
  const int64_t width = 24, done = (i.step + 1) * width / std::max<int64_t>(1, i.total_steps);
  const double tok_s = i.seconds > 0 ? static_cast<double>(i.tokens) / i.seconds : 0;
  const double eta = i.seconds * static_cast<double>(i.total_steps - i.step - 1);
  const std::string line = fmt::format("{} | task {}/{} {} | epoch {} | [{}{}] {}/{} | loss {:.4f} | {:.0f} tok/s | ETA {:.0f} s",
                                       method, task_index + 1, tasks, task.name, i.epoch + 1, std::string(done, '#'),
                                       std::string(width - done, '.'), i.step + 1, i.total_steps, i.loss, tok_s, eta);
  if (tty) {
    std::cerr << '\r' << line << "\033[K" << (i.step + 1 == i.total_steps ? "\n" : "") << std::flush;
  } else if (i.step + 1 == i.total_steps || i.step % 50 == 0) {
    std::cerr << line << '\n';
  }
}

void run_run(RunOptions o) {
  const bool resuming = o.resume.has_value();
  if (resuming && !o.resume->empty()) {
    RETAIN_CHECK(o.out.empty() || fs::path(o.out) == fs::path(*o.resume), "run",
                 "--resume {} and --out {} name different folders", *o.resume, o.out);
    o.out = *o.resume;
  }
  RETAIN_CHECK(!o.out.empty(), "run", "--out DIR is required (or --resume DIR)");
  RunConfig config;
  bool from_saved = false;
  if (resuming) {
    const fs::path saved_path = fs::path(o.out) / "config.json";
    RETAIN_CHECK(fs::exists(saved_path), "run", "--resume: {} does not exist; there is no run to continue in {}",
                 saved_path.string(), o.out);
    from_saved = o.model.empty() && o.methods.empty() && o.tasks.empty() && o.benchmark.empty() && o.config.empty() &&
                 o.sets.empty();
    if (from_saved) config = RunConfig::from_json(complete_from_saved(o, read_json_file(saved_path, "run"), saved_path.string()),
                                                  saved_path.string());
  }
  RETAIN_CHECK(!o.model.empty(), "run", "--model DIR is required");
  RETAIN_CHECK(!o.methods.empty(), "run", "no --method given (available: {})", fmt::join(method_names(), ", "));
  RETAIN_CHECK(o.tasks.empty() != o.benchmark.empty(), "run", "give either --task PATH (repeatable) or --benchmark DIR --order N");

  if (!from_saved) config = o.config.empty() ? RunConfig{} : RunConfig::from_json(read_toml_file(o.config), o.config);
  if (o.epochs) config.optim.epochs = *o.epochs;
  if (o.batch_size) config.optim.batch_size = *o.batch_size;
  if (o.lr) config.optim.lr = *o.lr;
  if (o.seed) config.run.seed = *o.seed;
  if (!o.device.empty()) config.run.device = o.device;
  if (o.save_checkpoints) config.run.save_checkpoints = true;
  for (const auto& s : o.sets) config.set(s);
  std::optional<SweepSpec> sweep;
  if (!o.sweep.empty()) sweep = SweepSpec::parse(o.sweep);
  // A method table's optimizer key wins over [optim] (runner.h): say so when it hides a flag.
  std::vector<std::string> flag_keys;
  if (o.lr) flag_keys.push_back("lr");
  if (o.epochs) flag_keys.push_back("epochs");
  if (o.batch_size) flag_keys.push_back("batch_size");
  for (const auto& s : o.sets)
    if (s.rfind("optim.", 0) == 0) flag_keys.push_back(s.substr(6, s.find('=') - 6));
  for (const auto& m : o.methods)
    for (const auto& key : flag_keys)
      if (config.method_optim.contains(m) && config.method_optim[m].contains(key))
        std::cerr << fmt::format("retain run: warning: {} trains with method.{}.{} = {}, not the command line's optim.{}\n",
                                 m, m, key, config.method_optim[m][key].dump(), key);

  // Everything is checked before anything heavy happens: every setting, every method table and
  // the optimizer settings each method gets, every task folder, the model folder.
  config.validate(o.methods);
  std::vector<Task> tasks;
  if (!o.benchmark.empty()) {
    tasks = load_benchmark(o.benchmark, o.order);
  } else {
    for (const auto& path : o.tasks) tasks.push_back(load_task(path));
  }
  validate_tasks(tasks, config.eval);
  if (const auto general = resolve_general_text(config.eval.general_text, o.model))  // exists, and holds documents
    read_general_documents(*general);
  RETAIN_CHECK(fs::is_regular_file(fs::path(o.model) / "config.json"), "run",
               "--model {}: no config.json there (a Hugging Face model folder is expected)", o.model);
  std::vector<std::string> dev_sources;
  if (sweep) tasks = with_dev_splits(tasks, config.eval.dev_share, static_cast<uint64_t>(config.run.seed), &dev_sources);
  json resolved = config.to_json(o.methods);
  resolved["model"] = o.model;
  resolved["methods"] = o.methods;
  json task_list = json::array();
  for (const auto& t : tasks) task_list.push_back({{"name", t.name}, {"source", t.source}, {"train", t.train.size()}, {"test", t.test.size()}});
  resolved["tasks"] = task_list;
  resolved["inputs"] = {{"task_paths", o.tasks}, {"benchmark", o.benchmark}, {"order", o.order}};
  if (sweep) resolved["sweep"] = sweep->to_string();
  resolved["retain_version"] = RETAIN_VERSION;
  resolved["format_version"] = 1;

  const DistEnvironment environment = dist_environment_from_env();
  RETAIN_CHECK(environment.single() || o.jobs == 1, "run",
               "--jobs {} trains methods in child processes; with {} data-parallel ranks give --jobs 1", o.jobs,
               environment.world_size);
  RETAIN_CHECK(environment.single() || !sweep, "run", "--sweep runs in one process, not on {} data-parallel ranks",
               environment.world_size);
  const fs::path out = o.out;
  // One run per folder (core/dir_lock.h): taken before config.json is read or written, held until
  // this process and its --jobs children end. Of data-parallel ranks, rank 0 (the writer) holds it.
  std::optional<DirectoryLock> lock;
  if (environment.rank == 0) {
    fs::create_directories(out);
    lock.emplace(out, "retain run", "run");
    if (!lock->stale_holder().empty())
      std::cerr << fmt::format("retain run: {} was locked by a run that has ended without releasing it ({}); taking it "
                               "over\n", out.string(), lock->stale_holder());
    // Temporaries of a writer killed mid-write (core/files.h "PATH.tmp-PID"): with the lock held no
    // writer is alive, so they are leftovers; the files they were to replace are intact.
    if (const size_t removed = remove_leftover_temporaries(out))
      std::cerr << fmt::format("retain run: removed {} unfinished temporary file{} of an interrupted run in {}\n",
                               removed, removed == 1 ? "" : "s", out.string());
  }
  if (fs::exists(out / "config.json") && !o.overwrite) {
    const json existing = read_json_file(out / "config.json", "run");
    RETAIN_CHECK(existing == resolved, "run", "{} already holds a different run (its config.json differs); choose another "
                 "--out or pass --overwrite{}", out.string(), resuming ? "" : " (or --resume to continue it)");
  }
  // The ranks meet here (a world of 1, and nothing made, for a process alone).
  const std::shared_ptr<DistContext> dist = DistContext::open(environment, config.dist, parse_device(config.run.device));
  const bool writer = dist->is_main();
  if (writer) {
    fs::create_directories(out);
    write_file_atomic(out / "config.json", resolved.dump(2) + "\n", "run");
    std::cerr << "retain run: resolved config\n" << resolved.dump(2) << '\n';
    if (dist->distributed())
      std::cerr << fmt::format("retain run: data parallel on {} rank{} ({}); rank 0 scores and writes\n",
                               dist->world_size(), dist->world_size() == 1 ? "" : "s", dist->backend_name());
  }

  int64_t kill_after = 0, steps = 0;
  if (const char* env = std::getenv("RETAIN_TEST_KILL_AFTER_STEPS")) kill_after = std::atoll(env);
  if (const char* env = std::getenv("RETAIN_TEST_KILL_RANK"))
    if (std::atoi(env) != dist->rank()) kill_after = 0;
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < tasks.size(); ++i) index[tasks[i].name] = static_cast<int64_t>(i);
  auto train_method = [&](const std::string& method) {
    MethodRunOptions options;
    options.resume = resuming;
    options.dist = dist;
    options.progress = [&, method](const Task& task, const StepInfo& info) {
      if (writer) print_progress(method, task, index[task.name], static_cast<int64_t>(tasks.size()), info);
      if (kill_after > 0 && ++steps >= kill_after) std::raise(SIGKILL);
    };
    if (!sweep) return run_method(method, o.model, tasks, config, out, options);
    auto chosen = sweep_method(method, o.model, tasks, dev_sources, config, *sweep, out, options);
    std::cerr << fmt::format("retain run: {} chose {} = {} on the dev split\n", method, sweep->key,
                             chosen.sweep->at("chosen").get<std::string>());
    return chosen;
  };
  std::vector<std::string> to_train;
  for (const auto& method : o.methods) {
    if (resuming && fs::exists(out / method / "results.json")) {
      std::cerr << "retain run: " << method << " already finished in " << (out / method).string() << '\n';
    } else {
      to_train.push_back(method);
    }
  }
  std::vector<MethodResults> all;
  const bool in_children = o.jobs > 1 && to_train.size() > 1;
  if (in_children) {
    // One child process per method, o.jobs at a time, the CPU threads split between them; each
    // writes its own folder and log, and the parent reads the results back when all are done.
    const int threads = std::max(1, at::get_num_threads() / static_cast<int>(o.jobs));
    std::vector<ChildJob> jobs;
    for (const auto& method : to_train) {
      fs::create_directories(out / method);
      jobs.push_back({method, out / method / "log.txt", [&, method] {
                        at::set_num_threads(threads);
                        train_method(method);
                      }});
    }
    std::cerr << fmt::format("retain run: {} methods, {} at a time ({} CPU thread{} each); logs in {}/<method>/log.txt\n",
                             to_train.size(), o.jobs, threads, threads == 1 ? "" : "s", out.string());
    const auto ended = run_child_jobs(jobs, static_cast<int>(o.jobs), [&](const ChildJobResult& r) {
      if (r.exit_status == 0) {
        std::cerr << fmt::format("retain run: {} finished in {:.0f} s\n", r.name, r.seconds);
      } else {
        std::cerr << fmt::format("retain run: {} failed (exit status {}) after {:.0f} s; the end of {}:\n{}", r.name,
                                 r.exit_status, r.seconds, r.log.string(), log_tail(r.log, 8));
      }
    }, "run");
    std::vector<std::string> failed;  // in the run's order of methods
    for (const auto& r : ended)
      if (r.exit_status != 0) failed.push_back(r.name);
    if (!failed.empty()) {  // the summary of the methods that did finish, as a sequential run leaves it
      for (const auto& method : o.methods)
        if (fs::exists(out / method / "results.json")) all.push_back(read_results_json(out / method / "results.json"));
      if (!all.empty()) write_summary(out / "summary.json", all);
    }
    RETAIN_CHECK(failed.empty(), "run", "{} of {} methods failed ({}); their logs are in {}/<method>/log.txt; "
                 "--resume continues the run", failed.size(), to_train.size(), fmt::join(failed, ", "), out.string());
  }
  for (const auto& method : o.methods) {
    const bool done_before = std::find(to_train.begin(), to_train.end(), method) == to_train.end();
    if (done_before || in_children) {
      all.push_back(read_results_json(out / method / "results.json"));
    } else {
      all.push_back(train_method(method));
    }
    if (writer) write_summary(out / "summary.json", all);
  }
  if (!writer) return;  // the other ranks trained; rank 0 reports
  std::cout << format_comparison_table(all);
  std::cerr << "retain run: report " << write_run_report(out).string() << '\n';
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* command = app.add_subcommand("run", "Train methods through a task sequence and compare them");
  command->add_option("--model", o->model, "Hugging Face model folder (config.json, safetensors, tokenizer.json)");
  command->add_option("--task", o->tasks, "Task folder (retain, O-LoRA CL_Benchmark or TRACE layout); repeatable, in training order");
  command->add_option("--benchmark", o->benchmark, "O-LoRA CL_Benchmark folder (with --order)");
  command->add_option("--order", o->order, "Published task order 1-6 (with --benchmark)");
  command->add_option("--method", o->methods, "Method name; repeatable");
  command->add_option("--out", o->out, "Run folder");
  command->add_option("--config", o->config, "TOML file: [run], [optim], [eval], [method.<name>]");
  command->add_option("--set", o->sets,
                      "Override: section.key=value (repeatable), e.g. optim.lr=1e-4; method.<name>.lr=... for one method");
  command->add_option("--sweep", o->sweep,
                      "Choose an [optim] value on the dev split: optim.<key>=v1,v2,... (e.g. optim.lr=1e-5,1e-4,1e-3); "
                      "each method runs once per value and keeps the best dev AA");
  command->add_option("--epochs", o->epochs, "optim.epochs");
  command->add_option("--lr", o->lr, "optim.lr");
  command->add_option("--batch-size", o->batch_size, "optim.batch_size");
  command->add_option("--seed", o->seed, "run.seed");
  command->add_option("--device", o->device, "run.device: cpu | cuda");
  command->add_flag("--overwrite", o->overwrite, "Replace a different run already in --out");
  command->add_option("--jobs", o->jobs,
                      "Methods trained at once, each in its own process with the CPU threads split between them "
                      "(default 1); each method's output goes to OUT/<method>/log.txt. Results equal a sequential "
                      "run on that many threads per method; resume with the same --jobs")
      ->check(CLI::PositiveNumber);
  command->add_flag("--save-checkpoints", o->save_checkpoints,
                    "run.save_checkpoints: after task k, <out>/<method>/checkpoints/task_<k>/");
  command->add_option("--resume", o->resume,
                      "Continue the interrupted run in DIR (default: --out) from its last completed task or step "
                      "point; with DIR alone, everything else comes from DIR/config.json")
      ->expected(0, 1);
  command->callback([o] { run_run(*o); });
}

}  // namespace retain::cli
