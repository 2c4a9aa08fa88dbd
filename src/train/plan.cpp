#include "retain/train/plan.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/data/prompt.h"
#include "retain/train/registry.h"
#include "retain/train/schedule.h"

#include <cmath>

namespace retain {

namespace {
constexpr const char* kComponent = "plan";

json example_json(const TokenizedExample& e) { return {{"ids", e.ids}, {"prompt_length", e.prompt_length}}; }
}  // namespace

json write_training_plan(const std::string& method_name, const std::filesystem::path& model_dir,
                         const std::vector<Task>& tasks, const RunConfig& config, const std::filesystem::path& out_dir) {
  RETAIN_CHECK(method_name != "replay" && method_name != "mtl", kComponent,
               "method {} trains on more than each task's own examples; a plan covers the others", method_name);
  config.validate({method_name});
  RETAIN_CHECK(config.eval.scoring == "rank", kComponent,
               "a plan scores by ranking the labels (its test candidates): set eval.scoring = rank, got \"{}\"",
               config.eval.scoring);
  validate_tasks(tasks, config.eval);
  const OptimizerSettings optim = config.optim_for(method_name);
  const Tokenizer tokenizer = Tokenizer::from_file(model_dir / "tokenizer.json");
  RunContext run = open_run(model_dir, tasks, config, at::kCPU, tokenizer);

  OptimizerSettings o = optim;
  json plan = {{"format", "retain.plan/1"},
               {"method", method_name},
               {"model", model_dir.string()},
               {"seed", config.run.seed},
               {"max_length", config.run.max_length},
               {"eos_token_id", *run.tokenize.eos_token_id},
               {"pad_token_id", run.model->config.pad_token_id.value_or(0)},
               {"optim", settings::to_json(o)},
               {"method_settings", config.to_json({method_name})["method"][method_name]}};
  json task_list = json::array();
  for (size_t t = 0; t < tasks.size(); ++t) {
    const Task& task = tasks[t];
    const auto& examples = run.train_data[t];
    std::vector<int64_t> lengths;
    json ex = json::array();
    for (const auto& e : examples) {
      lengths.push_back(static_cast<int64_t>(e.ids.size()));
      ex.push_back(example_json(e));
    }
    const auto steps = plan_task_steps(lengths, optim, run.seed, static_cast<int64_t>(t));
    const int64_t total = static_cast<int64_t>(steps.size());
    const int64_t warmup = warmup_steps(optim, total);
    json step_list = json::array();
    for (int64_t s = 0; s < total; ++s)
      step_list.push_back({{"lr", learning_rate_at(optim.schedule, optim.lr, s, total, warmup)},
                           {"epoch", steps[s].epoch},
                           {"micro_batches", steps[s].micro_batches}});
    json test = json::array();
    std::vector<Example> scored = task.test;
    if (config.eval.max_examples > 0 && static_cast<int64_t>(scored.size()) > config.eval.max_examples)
      scored.resize(static_cast<size_t>(config.eval.max_examples));
    for (const auto& e : scored) {
      json candidates = json::array();
      int64_t answer = -1;
      for (size_t l = 0; l < task.labels.size(); ++l) {
        Example as_label{e.input, task.labels[l]};
        candidates.push_back(example_json(
            tokenize_example(tokenizer, format_prompt(task, as_label), format_target(task, as_label), run.tokenize)));
        if (task.labels[l] == e.output) answer = static_cast<int64_t>(l);
      }
      RETAIN_CHECK(task.type != TaskType::Classification || answer >= 0, kComponent,
                   "task \"{}\": test answer \"{}\" is not one of its labels", task.name, e.output);
      test.push_back({{"answer", answer}, {"candidates", candidates}});
    }
    task_list.push_back(
        {{"name", task.name}, {"labels", task.labels}, {"examples", ex}, {"steps", step_list}, {"test", test}});
  }
  plan["tasks"] = task_list;
  std::filesystem::create_directories(out_dir);
  // The method's own parameters as they are before the first step (seqlora's LoRA), by the method's
  // own code with the run's seed: what run_method starts from.
  auto method = config.method(method_name).make();
  if (!method->updates_base()) {
    method->on_run_start(run);
    method->save(run, out_dir / "initial");
  }
  write_file_atomic(out_dir / "plan.json", plan.dump() + "\n", kComponent);
  return plan;
}

}  // namespace retain
