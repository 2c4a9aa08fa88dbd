#include "retain/suite/split.h"

#include "retain/core/error.h"
#include "retain/suite/text_clean.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace retain::suite {

namespace {

constexpr const char* kComponent = "data";
constexpr size_t kMinInputChars = 20;

std::string clean(const std::string& text, size_t max_chars) {
  return truncate_at_word(normalize_whitespace(to_valid_utf8(text)), max_chars);
}

double unit_hash(uint64_t h) { return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0); }

}  // namespace

std::string split_of_group(uint64_t seed, const std::string& group) {
  const double u = unit_hash(stable_hash({std::to_string(seed), group}));
  if (u < kTestFraction) return "test";
  if (u < kTestFraction + kDevFraction) return "dev";
  return "train";
}

TaskSplits split_task(const TaskDraft& draft, const SuiteOptions& options, bool capped) {
  TaskSplits splits;
  // Clean, then drop empty/short inputs and duplicates (first by (input, group) order wins; a
  // classification input seen with two labels is dropped altogether).
  std::vector<SuiteItem> items;
  items.reserve(draft.items.size());
  const std::set<std::string> labels(draft.labels.begin(), draft.labels.end());
  for (const auto& raw : draft.items) {
    SuiteItem item{clean(raw.input, options.max_input_chars),
                   clean(raw.output, draft.generation ? options.max_input_chars : 200), raw.group};
    if (item.input.size() < (draft.generation ? 1 : kMinInputChars) || item.output.empty()) continue;
    if (!draft.generation)
      RETAIN_CHECK(labels.count(item.output), kComponent, "task {}: label \"{}\" is not in its label set", draft.name,
                   item.output);
    items.push_back(std::move(item));
  }
  std::sort(items.begin(), items.end(), [](const SuiteItem& a, const SuiteItem& b) {
    return std::tie(a.input, a.group, a.output) < std::tie(b.input, b.group, b.output);
  });
  std::vector<SuiteItem> unique;
  for (size_t i = 0; i < items.size();) {
    size_t j = i + 1;
    bool conflict = false;
    while (j < items.size() && items[j].input == items[i].input) {
      conflict = conflict || items[j].output != items[i].output;
      ++j;
    }
    splits.duplicates_dropped += j - i - 1;
    if (conflict && !draft.generation)
      splits.duplicates_dropped += 1;
    else
      unique.push_back(items[i]);
    i = j;
  }

  std::map<std::string, std::vector<SuiteItem>> by_split;
  for (auto& item : unique) by_split[split_of_group(options.seed, item.group)].push_back(std::move(item));

  const auto order_key = [&](const SuiteItem& item) {
    return stable_hash({std::to_string(options.seed), draft.name, item.input});
  };
  const auto take = [&](std::vector<SuiteItem>& pool, size_t cap, const char* split) {
    std::vector<SuiteItem> chosen;
    if (!capped) {
      chosen = pool;
    } else if (draft.generation) {
      std::sort(pool.begin(), pool.end(),
                [&](const SuiteItem& a, const SuiteItem& b) { return order_key(a) < order_key(b); });
      chosen.assign(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(std::min(cap, pool.size())));
    } else {
      std::map<std::string, std::vector<SuiteItem>> per_label;
      for (auto& item : pool) per_label[item.output].push_back(item);
      // Balanced: the same number per label, so a cap below the label count or a label missing from
      // the split leaves nothing; for train and test say which instead of leaving an empty split to be
      // found later (an empty dev split is allowed: small builds have one, and a sweep then holds out
      // training examples instead).
      const bool required = std::string(split) != "dev";
      RETAIN_CHECK(!required || cap >= draft.labels.size(), "data",
                   "task {}: the {} split's cap of {} examples is below its {} labels (a balanced split takes the "
                   "same number of each; raise the cap to at least {})",
                   draft.name, split, cap, draft.labels.size(), draft.labels.size());
      size_t per = cap / draft.labels.size();
      for (const auto& label : draft.labels) {
        RETAIN_CHECK(!required || pool.empty() || !per_label[label].empty(), "data",
                     "task {}: label \"{}\" has no example in the {} split ({} examples of other labels), so a "
                     "balanced split is empty; are the source files complete?",
                     draft.name, label, split, pool.size());
        per = std::min(per, per_label[label].size());
      }
      for (const auto& label : draft.labels) {
        auto& list = per_label[label];
        std::sort(list.begin(), list.end(),
                  [&](const SuiteItem& a, const SuiteItem& b) { return order_key(a) < order_key(b); });
        chosen.insert(chosen.end(), list.begin(), list.begin() + static_cast<std::ptrdiff_t>(per));
      }
    }
    // The file order: a seeded shuffle, so labels interleave.
    std::sort(chosen.begin(), chosen.end(), [&](const SuiteItem& a, const SuiteItem& b) {
      return stable_hash({std::to_string(options.seed), "order", a.input}) <
             stable_hash({std::to_string(options.seed), "order", b.input});
    });
    return chosen;
  };
  splits.train = take(by_split["train"], options.max_train, "train");
  splits.dev = take(by_split["dev"], options.max_test / 2, "dev");
  splits.test = take(by_split["test"], options.max_test, "test");
  return splits;
}

}  // namespace retain::suite
