// The schedule's floor and the enum settings (schedule, autocast). Oracles: transformers'
// get_cosine_with_min_lr_schedule_with_warmup (min_lr_rate) and the same formula for the linear
// decay, evaluated by hand; the saved strings of earlier configs.
#include "common/test_support.h"
#include "retain/train/runner.h"
#include "retain/train/schedule.h"
#include "retain/train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using retain::learning_rate_at;
using retain::Schedule;
using retain::testing::error_of;

// Peak 2e-3, 10 steps, 2 warm-up, floor 0.1: lr = peak · (0.1 + 0.9 · f(progress)).
TEST(Schedule, FloorLiftsTheDecayToPeakTimesMinRatio) {
  const double peak = 2e-3, m = 0.1;
  // Warm-up does not see the floor: 0, peak / 2.
  EXPECT_DOUBLE_EQ(learning_rate_at(Schedule::Cosine, peak, 0, 10, 2, m), 0.0);
  EXPECT_DOUBLE_EQ(learning_rate_at(Schedule::Cosine, peak, 1, 10, 2, m), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate_at(Schedule::Cosine, peak, 2, 10, 2, m), peak);
  // Cosine: progress (4 − 2) / 8 = 0.25; half way (step 6) the mean of peak and floor; the floor at 10.
  EXPECT_NEAR(learning_rate_at(Schedule::Cosine, peak, 4, 10, 2, m),
              peak * (m + (1 - m) * 0.5 * (1 + std::cos(M_PI * 0.25))), 1e-18);
  EXPECT_NEAR(learning_rate_at(Schedule::Cosine, peak, 6, 10, 2, m), peak * 0.55, 1e-18);
  EXPECT_NEAR(learning_rate_at(Schedule::Cosine, peak, 10, 10, 2, m), peak * m, 1e-18);
  // Linear: (1 − 0.5) at step 6, the floor at 10.
  EXPECT_NEAR(learning_rate_at(Schedule::Linear, peak, 6, 10, 2, m), peak * (m + (1 - m) * 0.5), 1e-18);
  EXPECT_NEAR(learning_rate_at(Schedule::Linear, peak, 10, 10, 2, m), peak * m, 1e-18);
  // Constant ignores it; a floor of 1 is constant after warm-up.
  EXPECT_DOUBLE_EQ(learning_rate_at(Schedule::Constant, peak, 9, 10, 2, m), peak);
  for (int64_t s = 2; s <= 10; ++s)
    EXPECT_DOUBLE_EQ(learning_rate_at(Schedule::Cosine, peak, s, 10, 2, 1.0), peak) << s;
}

TEST(Schedule, NoFloorIsBitwiseTheScheduleWithout) {
  for (Schedule s : {Schedule::Constant, Schedule::Linear, Schedule::Cosine})
    for (int64_t step = 0; step <= 37; ++step) {
      const double peak = 3e-4;
      const double progress = step < 5 ? 0 : (step - 5) / 32.0;
      double expected = step < 5 ? peak * step / 5.0 : peak;
      if (step >= 5 && s == Schedule::Linear) expected = peak * std::max(0.0, 1.0 - progress);
      if (step >= 5 && s == Schedule::Cosine) expected = peak * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
      EXPECT_EQ(learning_rate_at(s, peak, step, 37, 5), expected) << retain::to_string(s) << " step " << step;
      EXPECT_EQ(learning_rate_at(s, peak, step, 37, 5, 0.0), expected);
    }
}

TEST(Schedule, AFloorOutsideZeroToOneIsAnError) {
  const auto e = error_of([] { learning_rate_at(Schedule::Cosine, 1.0, 3, 10, 2, 1.5); });
  EXPECT_MSG(e, "min_ratio must be in [0, 1]");
}

// Enum settings: read from the names where the settings are read, written back as the same names.
TEST(Schedule, IsAnEnumSettingReadAndWrittenByName) {
  retain::OptimizerSettings o;
  EXPECT_EQ(o.schedule, Schedule::Linear);
  EXPECT_EQ(retain::settings::to_json(o)["schedule"], "linear");  // what saved configs hold
  retain::settings::read(o, retain::json{{"schedule", "cosine"}}, "optim");
  EXPECT_EQ(o.schedule, Schedule::Cosine);
  retain::settings::set(o, "schedule", "constant", "optim");
  EXPECT_EQ(o.schedule, Schedule::Constant);
  EXPECT_EQ(retain::settings::to_json(o)["schedule"], "constant");
  bool described = false;
  for (const auto& line : retain::settings::describe(o, "optim."))
    described |= line.rfind("optim.schedule = \"constant\"", 0) == 0;
  EXPECT_TRUE(described);

  const auto unknown = error_of([&] { retain::settings::set(o, "schedule", "cosin", "optim"); });
  EXPECT_MSG(unknown, "optim.schedule = \"cosin\" is not known: expected constant | linear | cosine");
  EXPECT_EQ(o.schedule, Schedule::Constant);  // unchanged by the refused value
  const auto wrong_type = error_of([&] { retain::settings::read(o, retain::json{{"schedule", 3}}, "optim"); });
  EXPECT_MSG(wrong_type, "optim.schedule = 3 has the wrong type: expected one of constant | linear | cosine");
  EXPECT_EQ(retain::parse_schedule("linear"), Schedule::Linear);
  EXPECT_EQ(retain::to_string(Schedule::Cosine), "cosine");
}

TEST(Schedule, AutocastIsAnEnumSettingOfRunToo) {
  retain::RunConfig c;
  EXPECT_EQ(c.run.autocast, retain::Autocast::Off);
  EXPECT_EQ(c.to_json({})["run"]["autocast"], "off");
  c.set("run.autocast=bf16");
  EXPECT_EQ(c.run.autocast, retain::Autocast::Bf16);
  EXPECT_EQ(c.to_json({})["run"]["autocast"], "bf16");
  const auto back = retain::RunConfig::from_json(retain::json{{"run", {{"autocast", "bf16"}}}}, "saved");
  EXPECT_EQ(back.run.autocast, retain::Autocast::Bf16);
  const auto e = error_of([&] { c.set("run.autocast=none"); });
  EXPECT_MSG(e, "run.autocast = \"none\" is not known: expected off | bf16");
  // Still refused on the CPU, naming the key.
  const auto cpu = error_of([&] { c.run.validate(); });
  EXPECT_MSG(cpu, "run.autocast = bf16 needs run.device = cuda");
}

}  // namespace
