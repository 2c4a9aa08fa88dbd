// retain/train/schedule.h — learning-rate schedules with linear warm-up, as transformers defines them
// (get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup, get_constant_schedule_with_warmup,
// and with a floor get_cosine_with_min_lr_schedule_with_warmup). The one schedule of `retain run`'s
// trainer and of `retain pretrain`.
#pragma once

#include "retain/core/settings.h"

#include <cstdint>
#include <string>
#include <utility>

namespace retain {

enum class Schedule { Constant, Linear, Cosine };

/// "constant" | "linear" | "cosine"; throws naming the accepted values.
Schedule parse_schedule(const std::string& name);
std::string to_string(Schedule schedule);

/// Learning rate for optimizer step `step` (0-based) of `total_steps`: warm-up from 0 to `peak` over
/// `warmup_steps` (peak · step / warmup_steps), then constant, or a linear or half-cosine decay over
/// the remaining steps from `peak` down to the floor `peak · min_ratio` at `total_steps`:
///   lr = peak · (min_ratio + (1 − min_ratio) · f(progress)),  progress = (step − warmup) / (total − warmup)
/// with f = max(0, 1 − progress) (linear) or max(0, ½ (1 + cos π·progress)) (cosine) — transformers'
/// min_lr_rate. min_ratio ∈ [0, 1]; 0 (the default) decays to 0. The constant schedule ignores it.
double learning_rate_at(Schedule schedule, double peak, int64_t step, int64_t total_steps, int64_t warmup_steps,
                        double min_ratio = 0.0);

}  // namespace retain

namespace retain::settings {
template <>
struct EnumNames<Schedule> {
  static constexpr std::pair<const char*, Schedule> values[] = {
      {"constant", Schedule::Constant}, {"linear", Schedule::Linear}, {"cosine", Schedule::Cosine}};
};
}  // namespace retain::settings
