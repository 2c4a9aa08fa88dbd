// task_folder.h (private to src/suite) — one built task on disk: DIR/task.json and its JSONL splits
// (load_task() layout (a)), and the task's entry in the suite manifest.
#pragma once

#include "retain/core/json.h"
#include "retain/suite/split.h"
#include "retain/suite/task_draft.h"

#include <filesystem>

namespace retain::suite {

/// Writes DIR/task.json, train.jsonl, dev.jsonl (when dev is not empty) and test.jsonl, and returns
/// the manifest entry: name, type, labels, group rule, what was stripped, source items, duplicates
/// dropped and per split the examples, groups and examples per label.
json write_task_folder(const std::filesystem::path& dir, const TaskDraft& draft, const TaskSplits& splits);

}  // namespace retain::suite
