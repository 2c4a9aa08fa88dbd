// retain/suite/build_suite.h — offline benchmark suites built from Debian and npm packages (`retain
// data build`): the build's options and its driver. docs/data.md describes every task, its labels,
// sources, split rule and leakage stripping.
//
// A built suite is a folder:
//   DIR/<task>/task.json, train.jsonl, dev.jsonl, test.jsonl   (load_task() layout (a))
//   DIR/tasks.txt      the task folder names in training order, one a line
//   DIR/manifest.json  suite, retain version, seed, caps, every source file with its SHA-256, per
//                      task the counts per split and label and the split rule
// The pretraining "suite" writes DIR/text/<source>.txt (one document per line) instead of tasks.
//
// Determinism: the output bytes depend only on (suite, seed, caps, source files). Splits are by
// source group (split.h): a group's place is fixed by a hash of (seed, group) alone, so it does not
// depend on the task or the caps, and the pretraining corpus can leave out every test group.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>

#include "retain/core/json.h"

namespace retain::suite {

struct SuiteOptions {
  std::string suite;             // "core5", "long15", "gen4" or "pretrain" (task_catalogue.h)
  std::filesystem::path out;     // the folder to create
  std::filesystem::path cache;   // downloaded packages and lists (default_cache_dir())
  size_t max_train = 1000;       // examples per task and split, split evenly over the labels
  size_t max_test = 200;         // test; dev gets max_test / 2
  size_t max_input_chars = 600;  // inputs are cut at a word boundary below this
  uint64_t seed = 0;
  bool overwrite = false;  // replace an existing `out`
};

/// $RETAIN_CACHE, else $HOME/.cache/retain.
std::filesystem::path default_cache_dir();

/// Builds the suite into options.out (through options.out + ".tmp-PID", renamed at the end) and
/// returns its manifest. Progress goes to `log`. Never touches an existing `out` unless overwrite.
json build_suite(const SuiteOptions& options, std::ostream& log);

}  // namespace retain::suite
