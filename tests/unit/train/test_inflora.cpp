// InfLoRA (methods.md §1, `inflora`). Oracles:
//  * the down-projection equals the top eigenvectors of (I − MMᵀ) C (I − MMᵀ) computed here
//    explicitly in float64 (compared as projectors AᵀA: eigenvectors have no unique sign);
//  * basis growth on covariances whose spectrum is set by hand: the number of directions is the
//    closed form of the energy criterion, the span is that of the leading eigenvectors, old columns
//    are kept bit for bit, the result is orthonormal; ε = 1 stops at the rank of the inputs;
//  * the captured covariance equals the mean of x xᵀ over real tokens, x the layer's input computed
//    here from the embedding, the decoder's first layers and the layer's input norm, one example at
//    a time (so padding cannot enter);
//  * through two tasks on the tiny Llama: A_t rows orthonormal and orthogonal to the stored basis,
//    A_t bitwise unchanged by training while B_t changes, task 0's adapter and the base bitwise
//    unchanged by task 1, the basis meets its threshold with the fewest directions, and task 1's
//    adapter reaches task 0's first-layer inputs only through their energy outside the basis
//    (≤ 1 − ε of it);
//  * state() → resume file → load_state() on a fresh model gives the same bases, logits and next A;
//  * a two-task run through run_method writes results and PEFT adapters that load.
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/core/settings.h"
#include "retain/io/safetensors.h"
#include "retain/model/loader.h"
#include "retain/train/methods/inflora.h"
#include "retain/train/registry.h"
#include "retain/train/resume.h"
#include "retain/train/runner.h"
#include "retain/train/trainer.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace retain::testing;

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

double max_abs(const at::Tensor& t) { return t.numel() == 0 ? 0.0 : t.abs().max().item<double>(); }

// n × k with orthonormal columns, from a seeded Gaussian matrix.
at::Tensor random_orthonormal(int64_t n, int64_t k, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto g = at::empty({n, k}, kF64);
  g.normal_(0, 1, generator);
  return std::get<0>(at::linalg_qr(g, "reduced"));
}

// U diag(λ) Uᵀ.
at::Tensor with_spectrum(const at::Tensor& u, const std::vector<double>& lambda) {
  auto l = at::tensor(lambda, kF64);
  return at::matmul(u * l.unsqueeze(0), u.t());
}

at::Tensor projector_of_columns(const at::Tensor& m) { return at::matmul(m, m.t()); }

// The explicit computation: top-r eigenvectors (columns) of P C P, P = I − MMᵀ.
at::Tensor explicit_top_eigenvectors(const at::Tensor& c, const at::Tensor& m, int64_t r) {
  const int64_t n = c.size(0);
  at::Tensor p = at::eye(n, kF64) - (m.size(1) > 0 ? projector_of_columns(m) : at::zeros({n, n}, kF64));
  at::Tensor ct = at::matmul(p, at::matmul(c, p));
  auto [values, vectors] = at::linalg_eigh((ct + ct.t()) * 0.5);
  return vectors.flip(1).narrow(1, 0, r);
}

double energy_fraction(const at::Tensor& c, const at::Tensor& m) {
  if (m.size(1) == 0) return 0;
  return at::matmul(m.t(), at::matmul(c, m)).trace().item<double>() / c.trace().item<double>();
}

TEST(InfLoraMath, DownProjectionIsTheTopEigenvectorsOfTheProjectedCovariance) {
  const int64_t n = 12, r = 4;
  const auto u = random_orthonormal(n, n, 1);
  std::vector<double> lambda;
  for (int64_t i = 0; i < n; ++i) lambda.push_back(static_cast<double>(n - i));  // 12, 11, ..., 1: distinct
  const auto c = with_spectrum(u, lambda);
  const auto m = random_orthonormal(n, 3, 2);  // in general position to C's eigenvectors

  const auto a = retain::inflora_down_projection(c, m, r);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{r, n}));
  // Float64 throughout on matrices of norm ≤ 12: orthonormality and orthogonality to round-off
  // (~1e-15); the projectors agree to ~ε‖C‖/gap with eigengaps ≥ ~0.1 here, so 1e-10 is generous.
  EXPECT_LT(max_abs(at::matmul(a, a.t()) - at::eye(r, kF64)), 1e-12);
  EXPECT_LT(max_abs(at::matmul(a, m)), 1e-12);
  const auto v = explicit_top_eigenvectors(c, m, r);
  EXPECT_LT(max_abs(at::matmul(a.t(), a) - projector_of_columns(v)), 1e-10);
  // Rows in descending order of their Rayleigh quotient, each the explicit eigenvalue.
  const auto rayleigh = at::matmul(a, at::matmul(c, a.t())).diagonal();
  const auto want = at::matmul(v.t(), at::matmul(c, v)).diagonal();
  EXPECT_LT(max_abs(rayleigh - want), 1e-10);
  // Signs fixed: each row's largest-magnitude entry is positive.
  for (int64_t i = 0; i < r; ++i) {
    const auto row = a[i];
    EXPECT_GT(row[row.abs().argmax().item<int64_t>()].item<double>(), 0) << "row " << i;
  }

  // No basis yet: the top eigenvectors of C itself, U's first columns.
  const auto a0 = retain::inflora_down_projection(c, at::zeros({n, 0}, kF64), r);
  EXPECT_LT(max_abs(at::matmul(a0.t(), a0) - projector_of_columns(u.narrow(1, 0, r))), 1e-10);

  // Only two directions left outside the basis: two orthonormal rows orthogonal to it, then zeros.
  const auto full = random_orthonormal(n, n - 2, 3);
  const auto a2 = retain::inflora_down_projection(c, full, r);
  EXPECT_LT(max_abs(at::matmul(a2.narrow(0, 0, 2), a2.narrow(0, 0, 2).t()) - at::eye(2, kF64)), 1e-12);
  EXPECT_LT(max_abs(at::matmul(a2, full)), 1e-12);
  EXPECT_EQ(max_abs(a2.narrow(0, 2, 2)), 0.0);
}

TEST(InfLoraMath, BasisGrowthMeetsTheEnergyThresholdWithTheFewestDirections) {
  // λ_i = 2^-i (i = 0..9): the first k directions hold (1 − 2^-k) / (1 − 2^-10) of the energy, so
  // the fewest that reach ε is k(ε) = ⌈log2(1 / (1 − ε (1 − 2^-10)))⌉.
  const int64_t n = 10;
  const auto u = random_orthonormal(n, n, 4);
  std::vector<double> lambda;
  for (int64_t i = 0; i < n; ++i) lambda.push_back(std::ldexp(1.0, -static_cast<int>(i)));
  const auto c = with_spectrum(u, lambda);
  const auto empty = at::zeros({n, 0}, kF64);
  const std::vector<std::pair<double, int64_t>> cases = {{0.5, 1}, {0.8, 3}, {0.95, 5}, {0.99, 7}};
  for (const auto& [eps, k_expected] : cases) {
    const auto k_closed = static_cast<int64_t>(std::ceil(std::log2(1.0 / (1.0 - eps * (1.0 - std::ldexp(1.0, -10))))));
    ASSERT_EQ(k_closed, k_expected);  // no case sits at a tie
    const auto m = retain::gpm_extend_basis(c, empty, eps);
    ASSERT_EQ(m.size(1), k_expected) << "ε " << eps;
    EXPECT_LT(max_abs(at::matmul(m.t(), m) - at::eye(k_expected, kF64)), 1e-12);
    EXPECT_LT(max_abs(projector_of_columns(m) - projector_of_columns(u.narrow(1, 0, k_expected))), 1e-10);
  }

  // Growing an existing basis keeps its columns bit for bit and adds the next directions.
  const auto m3 = retain::gpm_extend_basis(c, empty, 0.8);
  const auto m5 = retain::gpm_extend_basis(c, m3, 0.95);
  ASSERT_EQ(m5.size(1), 5);
  EXPECT_TRUE(at::equal(m5.narrow(1, 0, 3), m3));
  EXPECT_LT(max_abs(at::matmul(m5.t(), m5) - at::eye(5, kF64)), 1e-12);
  EXPECT_LT(max_abs(projector_of_columns(m5) - projector_of_columns(u.narrow(1, 0, 5))), 1e-10);
  // Already above the threshold: nothing is added.
  EXPECT_TRUE(at::equal(retain::gpm_extend_basis(c, m5, 0.9), m5));

  // A basis in general position: the new columns are the top eigenvectors of P C P, and the fewest
  // that lift the captured energy to ε.
  const auto g = random_orthonormal(n, 2, 5);
  const double eps = 0.9;
  const auto grown = retain::gpm_extend_basis(c, g, eps);
  const int64_t added = grown.size(1) - 2;
  ASSERT_GT(added, 0);
  EXPECT_TRUE(at::equal(grown.narrow(1, 0, 2), g));
  EXPECT_LT(max_abs(at::matmul(grown.t(), grown) - at::eye(grown.size(1), kF64)), 1e-12);
  EXPECT_GE(energy_fraction(c, grown), eps);
  EXPECT_LT(energy_fraction(c, grown.narrow(1, 0, grown.size(1) - 1)), eps);
  EXPECT_LT(max_abs(projector_of_columns(grown.narrow(1, 2, added)) -
                    projector_of_columns(explicit_top_eigenvectors(c, g, added))),
            1e-10);

  // ε = 1 on inputs of rank 3 in 8 dimensions: the basis stops at their span, not the whole space.
  const auto u8 = random_orthonormal(8, 8, 6);
  const auto low_rank = with_spectrum(u8, {3, 2, 1, 0, 0, 0, 0, 0});
  const auto all = retain::gpm_extend_basis(low_rank, at::zeros({8, 0}, kF64), 1.0);
  ASSERT_EQ(all.size(1), 3);
  EXPECT_LT(max_abs(projector_of_columns(all) - projector_of_columns(u8.narrow(1, 0, 3))), 1e-10);
}

TEST(InfLoraMath, ThresholdRisesLinearlyFromStartToEnd) {
  EXPECT_DOUBLE_EQ(retain::inflora_threshold(0, 4, 0.95, 1.0), 0.95);
  EXPECT_DOUBLE_EQ(retain::inflora_threshold(1, 4, 0.95, 1.0), 0.95 + 0.05 / 3);
  EXPECT_DOUBLE_EQ(retain::inflora_threshold(3, 4, 0.95, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(retain::inflora_threshold(0, 1, 0.95, 1.0), 0.95);
}

retain::LoraConfig qv_config(int64_t r) {
  retain::InfLoraSettings s;
  s.lora.r = r;
  return s.lora.to_lora_config();
}

TEST(InfLora, CapturedCovarianceIsTheMeanOfEachLayersInputOverRealTokens) {
  auto model = retain::load_model(kTinyModel, {at::kDouble, at::kCPU});
  EXPECT_EQ(retain::add_inflora_adapter(model, qv_config(4), "task0"), 4);
  // Three examples of different lengths; batches of 2, so the first batch is padded.
  std::vector<retain::TokenizedExample> examples = {
      {{1, 40, 41, 42, 43}, 2}, {{1, 50, 51, 52, 53, 54, 55, 56, 57}, 3}, {{1, 60, 61}, 1}};
  model->train();
  const auto covs = retain::inflora_input_covariances(model, examples, "task0", 2, at::kCPU);
  EXPECT_TRUE(model->is_training());  // the mode is restored
  ASSERT_EQ(covs.size(), 4u);

  // Explicit: each example alone (no padding), the input norm of layer l applied to the hidden
  // states before layer l.
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<at::Tensor> sums = {at::zeros({64, 64}, kF64), at::zeros({64, 64}, kF64)};
  int64_t tokens = 0;
  for (const auto& e : examples) {
    retain::ForwardInput input;
    input.input_ids = at::tensor(e.ids, at::kLong).unsqueeze(0);
    for (int64_t layer = 0; layer < 2; ++layer) {
      at::Tensor hidden = layer == 0 ? model->model->embed_tokens(input.input_ids) : model->model->forward(input, 0, 1);
      at::Tensor x = model->model->layer_list[layer]->input_layernorm(hidden).squeeze(0);  // (L, 64)
      sums[layer] += at::matmul(x.t(), x);
    }
    tokens += static_cast<int64_t>(e.ids.size());
  }
  for (int64_t layer = 0; layer < 2; ++layer)
    for (const char* proj : {"q_proj", "v_proj"}) {
      const std::string name = "model.layers." + std::to_string(layer) + ".self_attn." + proj;
      ASSERT_TRUE(covs.count(name)) << name;
      // Float64; batched and single forwards differ only in summation order (~1e-16 relative).
      EXPECT_LT(relative_error(covs.at(name), sums[layer] / static_cast<double>(tokens)), 1e-12) << name;
    }
  EXPECT_MSG(error_of([&] { retain::inflora_input_covariances(model, examples, "task9", 2, at::kCPU); }),
             "no InfLoRA adapter named \"task9\"");
}

TEST(InfLora, DownProjectionIsComputedFromTheTasksInputsInEitherSpectrum) {
  const auto root = temp_dir("inflora");
  const auto a = retain::load_task(make_task(root, "colors", {"red", "blue", "green"}, 2));
  const auto tok = tiny_tokenizer();
  for (const std::string spectrum : {"inputs", "covariance"}) {
    auto run = make_run({a}, at::kDouble, tok);
    retain::InfLoraSettings s;
    s.lora.r = 4;
    s.spectrum = spectrum;
    retain::InfLoRA method(s);
    retain::TaskContext ctx{run, 0};
    method.on_task_start(ctx);
    // Layer 0's inputs do not depend on any adapter: capture them again independently.
    const auto covs = retain::inflora_input_covariances(run.model, run.train_data[0], "task0", 3, at::kCPU);
    for (auto& [name, linear] : run.model->linear_layers()) {
      auto adapter = std::dynamic_pointer_cast<retain::LoraAdapterImpl>(linear->adapter("task0"));
      if (!adapter) continue;
      EXPECT_FALSE(adapter->lora_A.requires_grad()) << name;
      EXPECT_EQ(max_abs(adapter->lora_B), 0.0) << name;
      at::Tensor c = covs.at(name);
      if (spectrum == "covariance") c = at::matmul(c, c);
      const auto v = explicit_top_eigenvectors(c, at::zeros({c.size(0), 0}, kF64), 4);
      const auto got = adapter->lora_A.detach();
      // Same float64 inputs up to capture order; eigengaps of real covariances are not controlled,
      // but the top 4 of these 64-dimensional inputs are well separated (1e-8 passes with margin).
      EXPECT_LT(max_abs(at::matmul(got.t(), got) - projector_of_columns(v)), 1e-8) << spectrum << " " << name;
    }
    EXPECT_EQ(method.trainable(ctx).size(), 4u);
  }
}

// InfLoRA that records each task's adapters right after on_task_start (before any step).
class Spy : public retain::InfLoRA {
 public:
  using InfLoRA::InfLoRA;
  void on_task_start(retain::TaskContext& ctx) override {
    InfLoRA::on_task_start(ctx);
    a_at_start[ctx.task_index] = snapshot(lora_As(ctx.run.model, ctx.task_index));
    b_at_start[ctx.task_index] = snapshot(lora_Bs(ctx.run.model, ctx.task_index));
  }
  static std::vector<at::Tensor> lora_As(retain::CausalLM& model, int64_t t) { return part(model, t, true); }
  static std::vector<at::Tensor> lora_Bs(retain::CausalLM& model, int64_t t) { return part(model, t, false); }
  std::map<int64_t, std::vector<at::Tensor>> a_at_start, b_at_start;

 private:
  static std::vector<at::Tensor> part(retain::CausalLM& model, int64_t t, bool a) {
    std::vector<at::Tensor> out;
    for (auto& [name, linear] : model->linear_layers())
      if (auto ad = std::dynamic_pointer_cast<retain::LoraAdapterImpl>(linear->adapter(adapter_name(t))))
        out.push_back(a ? ad->lora_A : ad->lora_B);
    return out;
  }
};

std::vector<at::Tensor> base_of(retain::CausalLM& model) {
  std::vector<at::Tensor> v;
  for (auto& [n, p] : model->base_parameters()) v.push_back(p);
  return snapshot(v);
}

TEST(InfLora, TwoTasksKeepTheOldAdapterAndProjectTheNewAOutOfTheOldSubspace) {
  const auto root = temp_dir("inflora");
  const auto a = retain::load_task(make_task(root, "colors", {"red", "blue", "green"}, 2));
  const auto b = retain::load_task(make_task(root, "animals", {"cat", "dog", "bird"}, 2));
  const auto tok = tiny_tokenizer();
  auto run = make_run({a, b}, at::kDouble, tok);
  const auto base = base_of(run.model);
  retain::InfLoraSettings settings;
  settings.lora.r = 4;
  Spy method(settings);
  retain::OptimizerSettings s;
  s.lr = 1e-2;
  s.epochs = 2;
  s.batch_size = 2;

  retain::TaskContext first{run, 0};
  retain::train_task(method, first, s);
  // Float64 model: A is stored in float64, so its rows are orthonormal to round-off (1e-12).
  // (A float32 model casts A afterwards: then ~1e-7.)
  for (const auto& a0 : method.a_at_start.at(0)) EXPECT_LT(max_abs(at::matmul(a0, a0.t()) - at::eye(4, kF64)), 1e-12);
  EXPECT_TRUE(bitwise_equal(snapshot(Spy::lora_As(run.model, 0)), method.a_at_start.at(0)));
  const auto b0 = snapshot(Spy::lora_Bs(run.model, 0));
  for (size_t i = 0; i < b0.size(); ++i) {
    EXPECT_EQ(max_abs(method.b_at_start.at(0)[i]), 0.0);
    EXPECT_GT(max_abs(b0[i]), 0.0) << "B of layer " << i << " did not train";
  }
  EXPECT_EQ(method.tasks_done(), 1);
  ASSERT_EQ(method.bases().size(), 4u);
  const auto bases0 = method.bases();
  // The basis meets ε_1 = 0.95 with the fewest directions, on the inputs under the trained model.
  const auto after0 = retain::inflora_input_covariances(run.model, run.train_data[0], "task0", 8, at::kCPU);
  for (const auto& [name, m] : bases0) {
    ASSERT_GT(m.size(1), 0) << name;
    EXPECT_LT(max_abs(at::matmul(m.t(), m) - at::eye(m.size(1), kF64)), 1e-12) << name;
    EXPECT_GE(energy_fraction(after0.at(name), m), 0.95) << name;
    EXPECT_LT(energy_fraction(after0.at(name), m.narrow(1, 0, m.size(1) - 1)), 0.95) << name;
  }

  retain::TaskContext second{run, 1};
  retain::train_task(method, second, s);
  EXPECT_TRUE(bitwise_equal(snapshot(Spy::lora_As(run.model, 0)), method.a_at_start.at(0)));
  EXPECT_TRUE(bitwise_equal(snapshot(Spy::lora_Bs(run.model, 0)), b0));
  EXPECT_TRUE(bitwise_equal(snapshot(Spy::lora_As(run.model, 1)), method.a_at_start.at(1)));
  EXPECT_FALSE(bitwise_equal(snapshot(Spy::lora_Bs(run.model, 1)), method.b_at_start.at(1)));
  EXPECT_TRUE(bitwise_equal(base_of(run.model), base));

  size_t i = 0;
  for (auto& [name, linear] : run.model->linear_layers()) {
    if (!linear->adapter("task1")) continue;
    const auto& a1 = method.a_at_start.at(1)[i++];
    const auto& m0 = bases0.at(name);
    // ‖A_1 M_0‖: both float64 and A_1 built in M_0's complement (QR): round-off only.
    EXPECT_LT(max_abs(at::matmul(a1, m0)), 1e-12) << name;
    EXPECT_LT(max_abs(at::matmul(a1, a1.t()) - at::eye(4, kF64)), 1e-12) << name;
    // The old basis is kept bit for bit; the last task's ε = 1 grows it.
    const auto& m1 = method.bases().at(name);
    EXPECT_TRUE(at::equal(m1.narrow(1, 0, m0.size(1)), m0)) << name;
    EXPECT_GE(m1.size(1), m0.size(1)) << name;
    EXPECT_LT(max_abs(at::matmul(m1.t(), m1) - at::eye(m1.size(1), kF64)), 1e-12) << name;
    // Layer 0's inputs do not depend on adapters: task 0's inputs reach A_1 only through their
    // energy outside span(M_0), which is at most (1 − 0.95) of the total.
    if (name.rfind("model.layers.0.", 0) == 0) {
      const auto& c0 = after0.at(name);
      const double through = at::matmul(a1, at::matmul(c0, a1.t())).trace().item<double>();
      EXPECT_LE(through, 0.05 * c0.trace().item<double>() * (1 + 1e-12)) << name;
    }
  }
  EXPECT_EQ(i, 4u);
}

std::vector<at::Tensor> logits_on(retain::RunContext& run, int64_t task) {
  torch::NoGradGuard no_grad;
  const auto& ex = run.train_data[task];
  std::vector<int64_t> indices(ex.size());
  for (size_t k = 0; k < ex.size(); ++k) indices[k] = static_cast<int64_t>(k);
  const auto batch = retain::collate(ex, indices, run.model->config.pad_token_id.value_or(0));
  retain::ForwardInput input;
  input.input_ids = batch.input_ids;
  input.attention_mask = batch.attention_mask;
  return {run.model->forward(input)};
}

TEST(InfLora, StateRoundTripRebuildsTheMethodOnAFreshModel) {
  const auto root = temp_dir("inflora");
  const auto a = retain::load_task(make_task(root, "colors", {"red", "blue"}, 2));
  const auto b = retain::load_task(make_task(root, "animals", {"cat", "dog"}, 2));
  const auto tok = tiny_tokenizer();
  retain::InfLoraSettings settings;
  settings.lora.r = 4;
  retain::OptimizerSettings s;
  s.lr = 1e-2;
  s.epochs = 2;
  s.batch_size = 2;

  auto run = make_run({a, b}, at::kFloat, tok);
  const auto base_names = retain::model_state_names(run.model);
  retain::InfLoRA method(settings);
  retain::TaskContext first{run, 0};
  retain::train_task(method, first, s);
  // Through the resume file, as the runner stores it.
  retain::ResumePoint point;
  point.model = retain::model_state(run.model, base_names, false);
  point.method = method.state(run);
  retain::write_resume_point(root / "task.safetensors", point);
  const auto back = retain::read_resume_point(root / "task.safetensors");

  auto fresh = make_run({a, b}, at::kFloat, tok);
  retain::InfLoRA again(settings);
  again.on_run_start(fresh);
  again.load_state(fresh, 1, back.method);
  retain::load_model_state(fresh.model, back.model, "test");
  EXPECT_EQ(again.tasks_done(), 1);
  ASSERT_EQ(again.bases().size(), method.bases().size());
  for (const auto& [name, m] : method.bases()) EXPECT_TRUE(at::equal(again.bases().at(name), m)) << name;
  EXPECT_TRUE(bitwise_equal(logits_on(fresh, 0), logits_on(run, 0)));
  EXPECT_TRUE(bitwise_equal(logits_on(fresh, 1), logits_on(run, 1)));

  // The next task starts identically: same A_1 in every layer.
  retain::TaskContext next{run, 1}, next_fresh{fresh, 1};
  method.on_task_start(next);
  again.on_task_start(next_fresh);
  EXPECT_TRUE(bitwise_equal(snapshot(Spy::lora_As(fresh.model, 1)), snapshot(Spy::lora_As(run.model, 1))));

  auto other = make_run({a, b}, at::kFloat, tok);
  retain::InfLoRA wrong(settings);
  EXPECT_MSG(error_of([&] { wrong.load_state(other, 2, back.method); }), "holds 1 tasks");
}

TEST(InfLora, RunsTwoTasksThroughTheRunnerAndSavesAdaptersAndBases) {
  const auto root = temp_dir("inflora");
  auto tasks = two_toy_tasks(root, 1);
  auto config = toy_run_config();
  config.run.save_checkpoints = true;
  config.set("method.inflora.r=4");
  const auto results = retain::run_method("inflora", kTinyModel, tasks, config, root / "out");
  const auto back = retain::read_results_json(root / "out" / "inflora" / "results.json");
  EXPECT_EQ(back.matrix.scores.size(), 3u);
  EXPECT_EQ(back.config["method"]["inflora"]["threshold_start"], 0.95);
  // Only B trains: (q out 64 + v out 32) × r 4 × 2 layers.
  EXPECT_EQ(back.trainable_params, (64 + 32) * 4 * 2);
  const auto last = root / "out" / "inflora" / "checkpoints" / "task_2";
  auto model = retain::load_model(kTinyModel);
  EXPECT_EQ(retain::load_peft_adapter(model, last / "task0", "a"), 4);
  EXPECT_EQ(retain::load_peft_adapter(model, last / "task1", "b"), 4);
  const auto bases = retain::safetensors::File::open(last / "inflora.safetensors");
  EXPECT_TRUE(bases.contains("basis.model.layers.1.self_attn.v_proj"));
  EXPECT_EQ(bases.info("basis.model.layers.1.self_attn.v_proj").shape.at(0), 64);
}

TEST(InfLora, SettingsAreReadAndValidated) {
  const auto resolved = retain::method_settings("inflora", nullptr);
  EXPECT_EQ(resolved["r"], 8);
  EXPECT_EQ(resolved["alpha"], 32.0);
  EXPECT_EQ(resolved["target_modules"].get<std::vector<std::string>>(), (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(resolved["samples"], 256);
  EXPECT_EQ(resolved["threshold_start"], 0.95);
  EXPECT_EQ(resolved["threshold_end"], 1.0);
  EXPECT_EQ(resolved["spectrum"], "inputs");
  auto error = [](const retain::json& j) { return error_of([&] { retain::make_method("inflora", j); }); };
  EXPECT_MSG(error({{"threshold_end", 0.9}}), "method.inflora.threshold_end");
  EXPECT_MSG(error({{"threshold_start", 0.0}}), "threshold_start");
  EXPECT_MSG(error({{"spectrum", "svd"}}), "\"svd\"");
  EXPECT_MSG(error({{"samples", -1}}), "samples");
  EXPECT_MSG(error({{"r", 0}}), "method.inflora.r");
  EXPECT_MSG(error({{"treshold_start", 0.9}}), "threshold_start");
  EXPECT_EQ(error({{"r", 4}, {"spectrum", "covariance"}, {"samples", 0}}), "");
}

}  // namespace
