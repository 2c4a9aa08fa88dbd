// retain/data/suite.h — offline benchmark suites built from Debian and npm packages (`retain data
// build`): the suite definitions, the per-task splits and the build driver. docs/data.md describes
// every task, its labels, sources, split rule and leakage stripping.
//
// A built suite is a folder:
//   DIR/<task>/task.json, train.jsonl, dev.jsonl, test.jsonl   (load_task() layout (a))
//   DIR/tasks.txt      the task folder names in training order, one a line
//   DIR/manifest.json  suite, retain version, seed, caps, every source file with its SHA-256, per
//                      task the counts per split and label and the split rule
// The pretraining "suite" writes DIR/text/<source>.txt (one document per line) instead of tasks.
//
// Determinism: the output bytes depend only on (suite, seed, caps, source files). Splits are by
// source group (e.g. Debian source package, fortune file block, English word): a group's place is
// fixed by a hash of (seed, group) alone — 20% of groups test, 10% dev, 70% train — so it does not
// depend on the task or the caps, and the pretraining corpus can leave out every test group.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "retain/core/json.h"

namespace retain::data {

struct SuiteOptions {
  std::string suite;                // "core5", "long15", "gen4" or "pretrain"
  std::filesystem::path out;        // the folder to create
  std::filesystem::path cache;      // downloaded packages and lists (default_cache_dir())
  size_t max_train = 1000;          // examples per task and split, split evenly over the labels
  size_t max_test = 200;            // test; dev gets max_test / 2
  size_t max_input_chars = 600;     // inputs are cut at a word boundary below this
  uint64_t seed = 0;
  bool overwrite = false;           // replace an existing `out`
};

/// "core5", "gen4", "long15", "pretrain".
const std::vector<std::string>& suite_names();

/// The task folder names of a suite, in training order (empty for "pretrain"). Throws for an
/// unknown suite, suggesting the closest name.
std::vector<std::string> suite_tasks(const std::string& suite);

/// $RETAIN_CACHE, else $HOME/.cache/retain.
std::filesystem::path default_cache_dir();

/// One example before it is written: `group` decides its split.
struct SuiteItem {
  std::string input;
  std::string output;
  std::string group;
};

/// A task's examples before splitting, with what the manifest says about it.
struct TaskDraft {
  std::string name;
  bool generation = false;
  std::vector<std::string> labels;  // classification: in option order
  std::string instruction;          // ends with "\n"
  std::string task_tag;             // O-LoRA "Task:" line ("TC", "SC", ...); generation: unused
  std::string group_rule;           // what a group is, for the manifest
  std::string leakage;              // what was stripped, for the manifest
  std::vector<SuiteItem> items;
};

/// Which split a group falls in: "train", "dev" or "test" (20% test, 10% dev by stable_hash of
/// (seed, group)). Group keys name what they group ("deb:SOURCE", "word:LEMMA", "fortune:FILE/BLOCK",
/// ...), not the task, so every task and the pretraining corpus agree on a group's side.
std::string split_of_group(uint64_t seed, const std::string& group);

/// The three splits of a task after dedup, the group split and the per-label caps.
struct TaskSplits {
  std::vector<SuiteItem> train, dev, test;
  size_t duplicates_dropped = 0;  // identical inputs (and, for classification, conflicting labels)
};

/// Cleans (valid UTF-8, whitespace, length caps), dedups, splits by group and caps a draft:
/// classification splits are balanced — each label gets min(cap / labels, the rarest label's count)
/// — chosen and ordered by a seeded hash of the input.
/// With `capped` false every item of each split is kept (what the pretraining corpus is checked
/// against).
TaskSplits split_task(const TaskDraft& draft, const SuiteOptions& options, bool capped = true);

/// Builds the suite into options.out (through options.out + ".tmp-PID", renamed at the end) and
/// returns its manifest. Progress goes to `log`. Never touches an existing `out` unless overwrite.
json build_suite(const SuiteOptions& options, std::ostream& log);

}  // namespace retain::data
