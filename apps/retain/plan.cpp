// retain plan: what `retain run` would train on and score for one method — tokenized examples,
// every step's micro-batches and learning rate, the test candidates — as OUT/plan.json (and the
// method's initial adapter in OUT/initial/), for running the same experiment elsewhere
// (bench/peers/fidelity_peer.py runs it through transformers and PEFT). train/plan.h has the format.
#include "commands.h"

#include "retain/core/toml.h"
#include "retain/data/task.h"
#include "retain/train/plan.h"

#include <iostream>
#include <memory>

namespace retain::cli {
namespace {

struct PlanOptions {
  std::string model, method, out, config;
  std::vector<std::string> tasks, sets;
};

void run_plan(const PlanOptions& o) {
  RunConfig config = o.config.empty() ? RunConfig{} : RunConfig::from_json(read_toml_file(o.config), o.config);
  for (const auto& s : o.sets) config.set(s);
  std::vector<Task> tasks;
  for (const auto& path : o.tasks) tasks.push_back(load_task(path));
  const json plan = write_training_plan(o.method, o.model, tasks, config, o.out);
  int64_t steps = 0;
  for (const auto& t : plan["tasks"]) steps += static_cast<int64_t>(t["steps"].size());
  std::cerr << fmt::format("retain plan: {} tasks, {} steps for {} -> {}/plan.json\n", plan["tasks"].size(), steps,
                           o.method, o.out);
}

}  // namespace

void register_plan(CLI::App& app) {
  auto o = std::make_shared<PlanOptions>();
  auto* command = app.add_subcommand("plan", "Write what a run would train on and score, for running it elsewhere");
  command->add_option("--model", o->model, "Hugging Face model folder")->required();
  command->add_option("--task", o->tasks, "Task folder; repeatable, in training order")->required();
  command->add_option("--method", o->method, "Method name (not replay or mtl)")->required();
  command->add_option("--out", o->out, "Output folder (plan.json, initial/)")->required();
  command->add_option("--config", o->config, "TOML file, as retain run");
  command->add_option("--set", o->sets, "Override: section.key=value (repeatable), as retain run");
  command->callback([o] { run_plan(*o); });
}

}  // namespace retain::cli
