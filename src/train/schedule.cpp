#include "retain/train/schedule.h"

#include "retain/core/error.h"

#include <algorithm>
#include <cmath>

namespace retain {

Schedule parse_schedule(const std::string& name) {
  if (name == "constant") return Schedule::Constant;
  if (name == "linear") return Schedule::Linear;
  if (name == "cosine") return Schedule::Cosine;
  fail("schedule", "unknown learning-rate schedule \"{}\" (expected constant, linear or cosine)", name);
}

std::string to_string(Schedule schedule) {
  switch (schedule) {
    case Schedule::Constant: return "constant";
    case Schedule::Linear: return "linear";
    case Schedule::Cosine: return "cosine";
  }
  return "unknown";
}

double learning_rate_at(Schedule schedule, double peak, int64_t step, int64_t total_steps, int64_t warmup_steps) {
  RETAIN_CHECK(total_steps > 0 && warmup_steps >= 0 && step >= 0, "schedule",
               "need total_steps > 0, warmup_steps >= 0, step >= 0 (got {}, {}, {})", total_steps, warmup_steps, step);
  if (step < warmup_steps) return peak * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  const double decay_steps = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  const double progress = static_cast<double>(step - warmup_steps) / decay_steps;
  switch (schedule) {
    case Schedule::Constant: return peak;
    case Schedule::Linear: return peak * std::max(0.0, 1.0 - progress);
    case Schedule::Cosine: return peak * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  }
  return peak;
}

}  // namespace retain
