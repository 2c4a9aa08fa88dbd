// retain/train/schedule.h — learning-rate schedules with linear warm-up, as transformers defines them
// (get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup, get_constant_schedule_with_warmup).
#pragma once

#include <cstdint>
#include <string>

namespace retain {

enum class Schedule { Constant, Linear, Cosine };

/// "constant" | "linear" | "cosine"; throws naming the accepted values.
Schedule parse_schedule(const std::string& name);
std::string to_string(Schedule schedule);

/// Learning rate for optimizer step `step` (0-based) of `total_steps`: warm-up from 0 to `peak` over
/// `warmup_steps`, then constant, linear decay to 0 at `total_steps`, or half a cosine to 0.
double learning_rate_at(Schedule schedule, double peak, int64_t step, int64_t total_steps, int64_t warmup_steps);

}  // namespace retain
