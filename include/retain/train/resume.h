// retain/train/resume.h — the files that let an interrupted `retain run` continue (--resume).
//
// A resume point is one safetensors file, written atomically (temporary file + rename), so a run
// killed at any moment leaves either the previous point or the new one, never half of one:
//   OUT/<method>/resume/task.safetensors   after the last completed task (and after row 0)
//   OUT/<method>/resume/step.safetensors   mid-task, after an optimizer step (run.checkpoint_every_*)
// Tensors are named "model/<HF parameter name>", "method/<name>" (Method::state()), "optim/<i>.…"
// (AdamW::state()) and "rng/cpu", "rng/cuda"; the metadata holds "format" ("retain-resume-1"),
// "progress" (the runner's JSON record: tasks done, matrix rows so far, steps done, seconds, ...) and
// "method_meta" (MethodState::meta).
#pragma once

#include "retain/core/json.h"
#include "retain/train/method.h"
#include "retain/train/trainer.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace retain {

struct ResumePoint {
  json progress = json::object();
  std::vector<std::pair<std::string, at::Tensor>> model;  // parameters and buffers by name
  MethodState method;
  TrainingState training;  // step points only
};

void write_resume_point(const std::filesystem::path& path, const ResumePoint& point);
/// Reads a point written by write_resume_point (tensors on the CPU); errors name the file.
ResumePoint read_resume_point(const std::filesystem::path& path);

/// The parameters and buffers of `model` whose names are not in `base_names`, plus — when
/// `include_base` — those that are: what a resume point must hold to rebuild the model.
std::vector<std::pair<std::string, at::Tensor>> model_state(CausalLM& model, const std::vector<std::string>& base_names,
                                                            bool include_base);
/// Copies saved tensors into the model's parameters and buffers of the same names; a name the model
/// lacks or a shape that differs is an error naming it.
void load_model_state(CausalLM& model, const std::vector<std::pair<std::string, at::Tensor>>& state,
                      const std::string& where);
/// Every parameter and buffer name of the model.
std::vector<std::string> model_state_names(CausalLM& model);

}  // namespace retain
