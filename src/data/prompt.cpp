#include "retain/data/prompt.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace retain {

std::string format_prompt(const Task& task, const Example& example) {
  if (task.prompt_style == PromptStyle::Plain) return task.instruction + example.input;
  std::string prompt = "Task:" + task.task_type_tag + "\nDataset:" + task.name + "\n" + task.instruction;
  if (task.list_options && !task.labels.empty()) prompt += fmt::format("Option: {} \n", fmt::join(task.labels, ", "));
  return prompt + example.input + "\nAnswer:";
}

std::string format_target(const Task& task, const Example& example) {
  return task.prompt_style == PromptStyle::OLoRA ? " " + example.output : example.output;
}

}  // namespace retain
