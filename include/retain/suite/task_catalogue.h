// retain/suite/task_catalogue.h — the suites and the tasks they are made of: one builder per task
// that reads its sources and returns its examples with their split groups (docs/data.md lists every
// task, its labels, sources, group rule and what is stripped).
#pragma once

#include "retain/suite/task_draft.h"

#include <string>
#include <vector>

namespace retain::suite {

class SuiteSources;

/// "core5", "gen4", "long15", "pretrain".
const std::vector<std::string>& suite_names();

/// The task folder names of a suite, in training order (empty for "pretrain"). Throws for an
/// unknown suite, suggesting the closest name.
std::vector<std::string> suite_tasks(const std::string& suite);

/// Every task of every suite, each once, in the order the suites list them.
std::vector<std::string> all_task_names();

/// The examples of task `name` (one of all_task_names()), read from `sources`.
TaskDraft draft_task(const std::string& name, SuiteSources& sources);

}  // namespace retain::suite
