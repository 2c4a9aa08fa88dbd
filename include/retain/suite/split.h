// retain/suite/split.h — the group split every suite task shares, and the clean-up, dedup and caps
// that turn a TaskDraft into its train, dev and test examples.
//
// Splits are by source group (e.g. Debian source package, fortune file block, English word): a
// group's place is fixed by a hash of (seed, group) alone — 20% of groups test, 10% dev, 70% train —
// so it does not depend on the task or the caps, and the pretraining corpus can leave out every
// test group.
#pragma once

#include "retain/suite/build_suite.h"
#include "retain/suite/task_draft.h"

#include <cstdint>
#include <string>
#include <vector>

namespace retain::suite {

/// The share of groups in the test and the dev split.
constexpr double kTestFraction = 0.2;
constexpr double kDevFraction = 0.1;

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

}  // namespace retain::suite
