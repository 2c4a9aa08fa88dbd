// LwF: the distillation term equals its formula, vanishes when teacher and student agree, and is
// absent during the first task.
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/model/loader.h"
#include "retain/train/methods/lwf.h"
#include "retain/train/registry.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;

TEST(LwF, DistillationEqualsTheKlFormulaOnRealTokens) {
  // Oracle: KL(p‖q) = Σ p (log p − log q) with p, q the tempered softmaxes, written out per token in
  // float64; mean over mask-1 tokens; × λT². Tolerance: float64 rounding (1e-12).
  auto new_logits = at::randn({2, 3, 5}, at::kDouble), old_logits = at::randn({2, 3, 5}, at::kDouble);
  auto mask = at::tensor({1, 1, 0, 1, 0, 0}, at::kLong).view({2, 3});
  const double lambda = 0.7, t = 2.0;
  double sum = 0;
  int count = 0;
  for (int b = 0; b < 2; ++b)
    for (int s = 0; s < 3; ++s) {
      if (mask[b][s].item<int64_t>() == 0) continue;
      auto p = at::softmax(old_logits[b][s] / t, 0), q = at::softmax(new_logits[b][s] / t, 0);
      sum += (p * (p.log() - q.log())).sum().item<double>();
      ++count;
    }
  const double expected = lambda * t * t * sum / count;
  EXPECT_NEAR(retain::lwf_distillation(new_logits, old_logits, mask, lambda, t).item<double>(), expected, 1e-12);
  EXPECT_NEAR(retain::lwf_distillation(old_logits, old_logits, mask, lambda, t).item<double>(), 0.0, 1e-15);
}

TEST(LwF, TeacherOnlyFromTheSecondTaskAndFrozen) {
  auto method = retain::make_method("lwf", retain::json{{"lambda", 2.0}});
  auto* lwf = dynamic_cast<retain::LwF*>(method.get());
  ASSERT_NE(lwf, nullptr);
  retain::RunContext run;
  run.model = retain::load_model(fixtures() / "models" / "llama_gqa");
  run.tasks.resize(2);
  run.train_data.resize(2);
  retain::TaskContext first{run, 0}, second{run, 1};
  method->on_task_start(first);
  EXPECT_FALSE(lwf->teacher());
  method->on_task_start(second);
  ASSERT_TRUE(lwf->teacher());
  auto teacher = lwf->teacher()->base_parameters(), student = run.model->base_parameters();
  ASSERT_EQ(teacher.size(), student.size());
  for (size_t i = 0; i < teacher.size(); ++i) {
    EXPECT_TRUE(at::equal(teacher[i].second, student[i].second)) << teacher[i].first;
    EXPECT_FALSE(teacher[i].second.requires_grad());
  }
  // A copy, not an alias: changing the student leaves the teacher as it was.
  {
    torch::NoGradGuard no_grad;
    student[0].second.add_(1.0);
  }
  EXPECT_FALSE(at::equal(teacher[0].second, student[0].second));
  EXPECT_MSG(error_of([] { retain::make_method("lwf", retain::json{{"temperature", 0}}); }), "temperature");
}

}  // namespace
