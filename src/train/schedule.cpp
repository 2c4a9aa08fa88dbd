#include "retain/train/schedule.h"

#include "retain/core/error.h"

#include <algorithm>
#include <cmath>

namespace retain {

Schedule parse_schedule(const std::string& name) {
  if (auto value = settings::value_named<Schedule>(name)) return *value;
  fail("schedule", "unknown learning-rate schedule \"{}\" (expected constant, linear or cosine)", name);
}

std::string to_string(Schedule schedule) { return settings::name_of(schedule); }

double learning_rate_at(Schedule schedule, double peak, int64_t step, int64_t total_steps, int64_t warmup_steps,
                        double min_ratio) {
  RETAIN_CHECK(total_steps > 0 && warmup_steps >= 0 && step >= 0, "schedule",
               "need total_steps > 0, warmup_steps >= 0, step >= 0 (got {}, {}, {})", total_steps, warmup_steps, step);
  RETAIN_CHECK(min_ratio >= 0 && min_ratio <= 1, "schedule", "the floor min_ratio must be in [0, 1], got {}",
               min_ratio);
  if (step < warmup_steps)
    return peak * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  const double decay_steps = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  const double progress = static_cast<double>(step - warmup_steps) / decay_steps;
  double factor = 1.0;  // of the decay: 1 at the end of warm-up, 0 at total_steps
  switch (schedule) {
    case Schedule::Constant: return peak;
    case Schedule::Linear: factor = std::max(0.0, 1.0 - progress); break;
    case Schedule::Cosine: factor = std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress))); break;
  }
  return peak * (min_ratio + (1.0 - min_ratio) * factor);
}

}  // namespace retain
