#include "retain/train/methods/replay.h"

#include "retain/core/error.h"
#include "retain/core/random.h"
#include "retain/core/files.h"
#include "retain/core/json.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

namespace retain {

namespace {


}  // namespace

void ReplaySettings::validate(const std::string& where) const {
  RETAIN_CHECK(share >= 0 && share <= 1, "replay", "{}.share must be in [0, 1], got {}", where, share);
  RETAIN_CHECK(capacity >= 0, "replay", "{}.capacity must be >= 0 (0: no limit), got {}", where, capacity);
}

Replay::Replay(ReplaySettings settings) : settings_(std::move(settings)) { settings_.validate(); }

int64_t Replay::quota(int64_t n) const {
  if (settings_.share <= 0 || n <= 0) return 0;
  const auto q = static_cast<int64_t>(std::llround(settings_.share * static_cast<double>(n)));
  return std::min(n, std::max<int64_t>(1, q));
}

std::vector<TokenizedExample> Replay::training_examples(TaskContext& ctx) {
  std::vector<TokenizedExample> out = ctx.train_examples();
  for (const auto& e : buffer_)
    if (e.task_index != ctx.task_index) out.push_back(e.example);
  return out;
}

void Replay::on_task_end(TaskContext& ctx) {
  const auto& split = ctx.train_examples();
  const auto n = static_cast<int64_t>(split.size());
  const int64_t k = quota(n);
  // A task trained again (not done by the runner) replaces its earlier entries.
  buffer_.erase(std::remove_if(buffer_.begin(), buffer_.end(),
                               [&](const Entry& e) { return e.task_index == ctx.task_index; }),
                buffer_.end());
  auto rng = seeded_rng({static_cast<uint64_t>(ctx.run.seed), static_cast<uint64_t>(ctx.task_index)});
  // Vitter's algorithm R: the first k items fill the reservoir; item i ≥ k replaces a uniformly
  // chosen slot with probability k / (i + 1).
  std::vector<int64_t> reservoir;
  reservoir.reserve(k);
  for (int64_t i = 0; i < n && k > 0; ++i) {
    if (i < k) {
      reservoir.push_back(i);
    } else {
      const auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i + 1)));
      if (j < k) reservoir[j] = i;
    }
  }
  std::sort(reservoir.begin(), reservoir.end());
  for (int64_t i : reservoir) buffer_.push_back({ctx.task_index, i, split[i]});

  // Capacity: drop from the task holding the most (latest on ties), uniformly among its entries.
  while (settings_.capacity > 0 && static_cast<int64_t>(buffer_.size()) > settings_.capacity) {
    std::map<int64_t, int64_t> counts;
    for (const auto& e : buffer_) ++counts[e.task_index];
    int64_t task = -1, most = 0;
    for (const auto& [t, c] : counts)
      if (c >= most) most = c, task = t;
    std::vector<size_t> positions;
    for (size_t p = 0; p < buffer_.size(); ++p)
      if (buffer_[p].task_index == task) positions.push_back(p);
    buffer_.erase(buffer_.begin() + static_cast<std::ptrdiff_t>(positions[uniform_below(rng, positions.size())]));
  }
  std::stable_sort(buffer_.begin(), buffer_.end(), [](const Entry& a, const Entry& b) {
    return a.task_index < b.task_index;
  });
}

void Replay::save(RunContext& run, const std::filesystem::path& dir) {
  // The buffer as JSON lines: task, example index and ids (enough to rebuild it exactly).
  std::string out;
  for (const auto& e : buffer_) {
    json line = {{"task", e.task_index < static_cast<int64_t>(run.tasks.size()) ? run.tasks[e.task_index].name : ""},
                 {"task_index", e.task_index},
                 {"example_index", e.example_index},
                 {"prompt_length", e.example.prompt_length},
                 {"ids", e.example.ids}};
    out += line.dump() + "\n";
  }
  std::filesystem::create_directories(dir);
  write_file_atomic(dir / "replay_buffer.jsonl", out, "replay");
}

MethodState Replay::state(RunContext& run) {
  MethodState s;
  json entries = json::array();
  for (const auto& e : buffer_) entries.push_back({e.task_index, e.example_index});
  s.meta["buffer"] = entries;
  return s;
}

void Replay::load_state(RunContext& run, int64_t tasks_done, const MethodState& state) {
  buffer_.clear();
  for (const auto& e : state.meta.at("buffer")) {
    Entry entry;
    entry.task_index = e.at(0).get<int64_t>();
    entry.example_index = e.at(1).get<int64_t>();
    RETAIN_CHECK(entry.task_index >= 0 && entry.task_index < static_cast<int64_t>(run.train_data.size()) &&
                     entry.example_index >= 0 &&
                     entry.example_index < static_cast<int64_t>(run.train_data[entry.task_index].size()),
                 "replay", "saved buffer entry (task {}, example {}) is outside this run's data", entry.task_index,
                 entry.example_index);
    entry.example = run.train_data[entry.task_index][entry.example_index];
    buffer_.push_back(std::move(entry));
  }
}

}  // namespace retain
