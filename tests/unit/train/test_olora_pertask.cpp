// O-LoRA and PerTaskFT on the tiny Llama (tests/fixtures/models/llama_gqa). Oracles:
//  * olora_orthogonality equals Σ_layers Σ_{i<t} Σ_jk |Σ_l A_i[j,l] A_t[k,l]| (or its square) computed
//    entry by entry from the A matrices, and its gradient reaches only A_t (and equals the analytic
//    one, sign(A_i A_tᵀ)ᵀ A_i summed over i);
//  * training task 2 leaves task 1's adapter bitwise unchanged, and a large λ1 ends with a smaller
//    orthogonality term than λ1 = 0 from the same seed;
//  * pertask: select_task(i) enables adapter i alone; logits under select_task(0) after both tasks
//    equal those right after task 0 bitwise; task 1's adapter equals one trained from the bare base;
//  * bad settings are errors naming the key.
#include "common/toy_run.h"
#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/settings.h"
#include "retain/model/loader.h"
#include "retain/train/methods/olora.h"
#include "retain/train/methods/pertask.h"
#include "retain/train/trainer.h"

#include <gtest/gtest.h>

#include <set>

namespace {

using namespace retain::testing;

std::shared_ptr<retain::LoraAdapterImpl> lora(retain::AdaptedLinear& linear, int64_t task) {
  return std::dynamic_pointer_cast<retain::LoraAdapterImpl>(linear->adapter(retain::IncLoRA::adapter_name(task)));
}

// Σ_layers Σ_{i<t} Σ_jk f(Σ_l A_i[j,l] A_t[k,l]) with plain loops over the entries.
double orthogonality_by_loops(retain::CausalLM& model, int64_t t, bool squared) {
  double total = 0;
  int64_t pairs = 0;
  for (auto& [name, linear] : model->linear_layers()) {
    auto now = lora(linear, t);
    if (!now) continue;
    auto at_ = now->lora_A.detach().contiguous();
    auto acc_t = at_.accessor<double, 2>();
    for (int64_t i = 0; i < t; ++i) {
      auto old = lora(linear, i);
      if (!old) continue;
      ++pairs;
      auto ai = old->lora_A.detach().contiguous();
      auto acc_i = ai.accessor<double, 2>();
      for (int64_t j = 0; j < ai.size(0); ++j)
        for (int64_t k = 0; k < at_.size(0); ++k) {
          double dot = 0;
          for (int64_t l = 0; l < ai.size(1); ++l) dot += acc_i[j][l] * acc_t[k][l];
          total += squared ? dot * dot : std::abs(dot);
        }
    }
  }
  EXPECT_GT(pairs, 0);
  return total;
}

// Three adapters of different ranks (so a transposed product would not even have the right shape).
retain::CausalLM model_with_three_adapters() {
  auto model = retain::load_model(kTinyModel, {at::kDouble, at::kCPU});
  const int64_t ranks[] = {2, 3, 4};
  for (int64_t t = 0; t < 3; ++t) {
    retain::LoraConfig c;
    c.r = ranks[t];
    c.lora_alpha = 8;
    c.target_modules = {"q_proj", "v_proj"};
    retain::add_lora_adapter(model, c, retain::IncLoRA::adapter_name(t), 100 + t);
  }
  return model;
}

TEST(OLoRA, OrthogonalityEqualsItsFormula) {
  auto model = model_with_three_adapters();
  for (bool squared : {false, true})
    for (int64_t t = 1; t < 3; ++t) {
      const double got = retain::olora_orthogonality(model, t, squared).item<double>();
      const double want = orthogonality_by_loops(model, t, squared);
      EXPECT_GT(want, 0);
      EXPECT_NEAR(got, want, 1e-12 * want) << "t " << t << " squared " << squared;
    }
  // Task 0 has nothing to be orthogonal to.
  EXPECT_EQ(retain::olora_orthogonality(model, 0, false).item<double>(), 0.0);
}

TEST(OLoRA, OrthogonalityGradientReachesOnlyTheCurrentA) {
  auto model = model_with_three_adapters();
  for (auto& p : model->parameters()) p.requires_grad_(true);
  retain::olora_orthogonality(model, 2, false).backward();
  int64_t layers = 0;
  for (auto& [name, linear] : model->linear_layers()) {
    auto now = lora(linear, 2);
    if (!now) {
      EXPECT_FALSE(linear->weight.grad().defined()) << name;
      continue;
    }
    ++layers;
    for (int64_t i = 0; i < 2; ++i) {
      EXPECT_FALSE(lora(linear, i)->lora_A.grad().defined()) << name << " task " << i;
      EXPECT_FALSE(lora(linear, i)->lora_B.grad().defined()) << name << " task " << i;
    }
    EXPECT_FALSE(now->lora_B.grad().defined()) << name;
    EXPECT_FALSE(linear->weight.grad().defined()) << name;
    ASSERT_TRUE(now->lora_A.grad().defined()) << name;
    // d/dA_t Σ_jk |(A_i A_tᵀ)_jk| = Σ_i sign(A_i A_tᵀ)ᵀ A_i.
    at::Tensor want = at::zeros_like(now->lora_A);
    for (int64_t i = 0; i < 2; ++i) {
      auto ai = lora(linear, i)->lora_A.detach();
      want += at::matmul(at::sign(at::matmul(ai, now->lora_A.detach().t())).t(), ai);
    }
    EXPECT_LT(relative_error(now->lora_A.grad(), want), 1e-12) << name;
  }
  EXPECT_EQ(layers, 4);  // q and v of 2 layers
}

struct OLoraOutcome {
  double orthogonality_after = 0;
  bool task0_unchanged = false;
  bool base_unchanged = false;
  double extra_first = 0;
};

OLoraOutcome train_two_tasks_with_olora(double lambda1) {
  const auto root = temp_dir("olora");
  const auto a = retain::load_task(make_task(root, "colors", {"red", "blue"}, 2));
  const auto b = retain::load_task(make_task(root, "animals", {"cat", "dog"}, 2));
  const auto tok = tiny_tokenizer();
  auto run = make_run({a, b}, at::kFloat, tok);
  retain::OLoraSettings settings;
  settings.lora.r = 4;
  settings.lambda1 = lambda1;
  retain::OLoRA method(settings);
  retain::OptimizerSettings s;
  s.lr = 1e-2;
  s.epochs = 4;
  s.batch_size = 2;
  const auto base = snapshot([&] {
    std::vector<at::Tensor> v;
    for (auto& [n, p] : run.model->base_parameters()) v.push_back(p);
    return v;
  }());
  retain::TaskContext first{run, 0};
  retain::train_task(method, first, s);
  const auto adapter0 = snapshot(retain::adapter_parameters(run.model, "task0"));
  retain::TaskContext second{run, 1};
  OLoraOutcome out;
  bool seen = false;
  retain::train_task(method, second, s, [&](const retain::StepInfo& i) {
    if (!seen) out.extra_first = i.extra_loss;
    seen = true;
  });
  out.task0_unchanged = bitwise_equal(snapshot(retain::adapter_parameters(run.model, "task0")), adapter0);
  std::vector<at::Tensor> base_after;
  for (auto& [n, p] : run.model->base_parameters()) base_after.push_back(p);
  out.base_unchanged = bitwise_equal(snapshot(base_after), base);
  torch::NoGradGuard no_grad;
  out.orthogonality_after = retain::olora_orthogonality(run.model, 1, false).item<double>();
  return out;
}

TEST(OLoRA, TrainingKeepsTask0AndLargeLambdaShrinksTheOverlap) {
  const auto free = train_two_tasks_with_olora(0.0);
  const auto pushed = train_two_tasks_with_olora(50.0);
  EXPECT_TRUE(free.task0_unchanged);
  EXPECT_TRUE(pushed.task0_unchanged);
  EXPECT_TRUE(free.base_unchanged);
  EXPECT_TRUE(pushed.base_unchanged);
  // λ1 = 0 contributes no extra term; λ1 = 50 reports 50 · ‖A_0 A_1ᵀ‖ at its first step.
  EXPECT_EQ(free.extra_first, 0.0);
  EXPECT_GT(pushed.extra_first, 0.0);
  EXPECT_LT(pushed.orthogonality_after, 0.5 * free.orthogonality_after)
      << "λ1=50: " << pushed.orthogonality_after << "  λ1=0: " << free.orthogonality_after;
}

TEST(OLoRA, L2TermIsTheSumOfTheCurrentAdapterNorms) {
  const auto root = temp_dir("olora");
  const auto a = retain::load_task(make_task(root, "colors", {"red", "blue"}, 1));
  const auto tok = tiny_tokenizer();
  auto run = make_run({a}, at::kDouble, tok);
  retain::OLoraSettings settings;
  settings.lora.r = 4;
  settings.lambda2 = 0.25;
  retain::OLoRA method(settings);
  retain::TaskContext ctx{run, 0};
  method.on_task_start(ctx);
  double want = 0;
  for (auto& p : retain::adapter_parameters(run.model, "task0")) want += std::sqrt(p.square().sum().item<double>());
  const double got = method.extra_loss(ctx, retain::Batch{}, at::Tensor{}).item<double>();
  EXPECT_NEAR(got, 0.25 * want, 1e-12 * want);
}

TEST(OLoRA, BadSettingsAreClearErrors) {
  retain::OLoraSettings s;
  s.orthogonal_loss = "frobenius";
  try {
    retain::OLoRA method(s);
    FAIL() << "expected an error";
  } catch (const retain::Error& e) {
    EXPECT_MSG(e.what(), "orthogonal_loss");
    EXPECT_MSG(e.what(), "frobenius");
  }
  retain::OLoraSettings negative;
  negative.lambda1 = -1;
  EXPECT_THROW(retain::OLoRA{negative}, retain::Error);
  // Read from a config: every key is known, the defaults are the paper's.
  retain::OLoraSettings read;
  retain::settings::read(read, retain::json{{"r", 4}, {"lambda1", 2.0}, {"orthogonal_loss", "squared"}}, "method.olora");
  EXPECT_EQ(read.lora.r, 4);
  EXPECT_EQ(read.lambda1, 2.0);
  EXPECT_EQ(read.orthogonal_loss, "squared");
  const auto resolved = retain::settings::to_json(read);
  EXPECT_EQ(resolved["alpha"], 32.0);
  EXPECT_EQ(resolved["lambda2"], 0.0);
  EXPECT_THROW(retain::settings::read(read, retain::json{{"lamda1", 1.0}}, "method.olora"), retain::Error);
}

std::vector<std::string> enabled_adapters(retain::CausalLM& model) {
  std::set<std::string> names;
  for (auto& [n, linear] : model->linear_layers())
    for (auto& [name, adapter] : linear->adapters())
      if (adapter->enabled) names.insert(name);
  return {names.begin(), names.end()};
}

at::Tensor logits_of(retain::RunContext& run, int64_t task) {
  torch::NoGradGuard no_grad;
  const auto& ex = run.train_data[task];
  std::vector<int64_t> indices(ex.size());
  for (size_t i = 0; i < ex.size(); ++i) indices[i] = static_cast<int64_t>(i);
  const auto batch = retain::collate(ex, indices, run.model->config.pad_token_id.value_or(0));
  retain::ForwardInput input;
  input.input_ids = batch.input_ids;
  input.attention_mask = batch.attention_mask;
  return run.model->forward(input);
}

TEST(PerTask, EachTaskHasItsOwnAdapterTrainedFromTheBase) {
  const auto root = temp_dir("pertask");
  const auto a = retain::load_task(make_task(root, "colors", {"red", "blue"}, 2));
  const auto b = retain::load_task(make_task(root, "animals", {"cat", "dog"}, 2));
  const auto tok = tiny_tokenizer();
  retain::LoraSettings lora;
  lora.r = 4;
  retain::OptimizerSettings s;
  s.lr = 1e-2;
  s.epochs = 2;
  s.batch_size = 2;

  auto run = make_run({a, b}, at::kFloat, tok);
  retain::PerTaskFT method(lora);
  EXPECT_TRUE(method.is_oracle());
  EXPECT_EQ(method.name(), "pertask");
  method.on_run_start(run);
  retain::TaskContext first{run, 0};
  retain::train_task(method, first, s);
  const auto logits0 = logits_of(run, 0);
  const auto base_logits = [&] {
    method.select_task(run, 5);  // not trained: no adapter, the base model
    EXPECT_TRUE(enabled_adapters(run.model).empty());
    return logits_of(run, 0);
  }();
  EXPECT_FALSE(at::equal(logits0, base_logits)) << "task 0's adapter did not train";

  // Leave task 0's adapter on, as an evaluation of task 0 would: task 1's training must turn it off.
  method.select_task(run, 0);
  EXPECT_EQ(enabled_adapters(run.model), std::vector<std::string>{"task0"});
  retain::TaskContext second{run, 1};
  retain::train_task(method, second, s);
  method.select_task(run, 0);
  EXPECT_EQ(enabled_adapters(run.model), std::vector<std::string>{"task0"});
  EXPECT_TRUE(at::equal(logits_of(run, 0), logits0));
  method.select_task(run, 1);
  EXPECT_EQ(enabled_adapters(run.model), std::vector<std::string>{"task1"});
  method.select_task(run, 2);
  EXPECT_TRUE(enabled_adapters(run.model).empty());

  // Task 1's adapter is exactly the one trained on the bare base model: task 0 took no part.
  auto alone = make_run({a, b}, at::kFloat, tok);
  retain::PerTaskFT fresh(lora);
  retain::TaskContext only_second{alone, 1};
  retain::train_task(fresh, only_second, s);
  EXPECT_TRUE(bitwise_equal(snapshot(retain::adapter_parameters(run.model, "task1")),
                            snapshot(retain::adapter_parameters(alone.model, "task1"))));
}

}  // namespace
