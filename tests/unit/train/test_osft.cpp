// OSFT (methods.md §3) on small matrices and the tiny Llama fixture. Oracles: the projections equal
// the explicit float64 formulas with m×m and n×n projector matrices; after a task of real training
// (AdamW, weight decay) the change of every target matrix is orthogonal to its frozen singular
// subspace of the task's start, taken from a float64 SVD here (and seqft's change is not, so the
// check can fail); layer importance equals cosines computed here from the model's modules; frozen
// rank 0 is seqft bit for bit; the rank rules equal their closed forms.
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/model/loader.h"
#include "retain/train/methods/baselines.h"
#include "retain/train/methods/osft.h"
#include "retain/train/registry.h"
#include "retain/train/runner.h"
#include "retain/train/trainer.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <set>

namespace {

using namespace retain::testing;

using retain::OsftProjection;

// ‖a − b‖ / ‖scale‖: an error relative to the input's size (the expected value may be zero).
double error_vs(const at::Tensor& a, const at::Tensor& b, const at::Tensor& scale) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>() / scale.to(at::kDouble).norm().item<double>();
}

struct Frozen {
  at::Tensor U, V;  // (m, k), (n, k), float64
};

// U_h, V_h of W's float64 SVD.
Frozen frozen_bases(const at::Tensor& W, int64_t k) {
  auto [U, S, Vh] = at::linalg_svd(W.to(at::kDouble), /*full_matrices=*/false);
  return {U.narrow(1, 0, k), Vh.narrow(0, 0, k).t()};
}

// The explicit projections, with the m×m and n×n projectors formed.
at::Tensor explicit_strict(const at::Tensor& G, const Frozen& f) {
  const auto PU = at::eye(G.size(0), at::kDouble) - f.U.matmul(f.U.t());
  const auto PV = at::eye(G.size(1), at::kDouble) - f.V.matmul(f.V.t());
  return PU.matmul(G.to(at::kDouble)).matmul(PV);
}
at::Tensor explicit_block(const at::Tensor& G, const Frozen& f) {
  const auto g = G.to(at::kDouble);
  return g - f.U.matmul(f.U.t()).matmul(g).matmul(f.V).matmul(f.V.t());
}

TEST(OsftProjection, StrictAndBlockEqualTheExplicitFloat64Projections) {
  torch::manual_seed(11);
  for (const auto& [m, n] : std::vector<std::pair<int64_t, int64_t>>{{12, 12}, {20, 8}, {8, 20}}) {
    const auto W = torch::randn({m, n}, at::kDouble);
    const auto G = torch::randn({m, n}, at::kDouble);
    const int64_t d = std::min(m, n);
    for (int64_t k : {int64_t{0}, int64_t{1}, d / 2, d - 1, d}) {
      SCOPED_TRACE(fmt::format("{}x{} k={}", m, n, k));
      const Frozen f = frozen_bases(W, k);
      const auto strict = explicit_strict(G, f), block = explicit_block(G, f);
      // float64 throughout; the products are only associated differently: 1e-12 of ‖G‖.
      EXPECT_LT(error_vs(retain::project_strict(G, f.U, f.V), strict, G), 1e-12);
      EXPECT_LT(error_vs(retain::project_block(G, f.U, f.V), block, G), 1e-12);
      auto in_place = G.clone();
      retain::project_strict_(in_place, f.U, f.V);
      EXPECT_LT(error_vs(in_place, strict, G), 1e-12);
      in_place = G.clone();
      retain::project_block_(in_place, f.U, f.V);
      EXPECT_LT(error_vs(in_place, block, G), 1e-12);
      // The projector object computes its own SVD and may keep complements instead: the bases of a
      // float64 SVD agree to ~1e-15 / (singular gap), gaps of these Gaussian matrices ≥ 1e-3.
      for (const auto mode : {OsftProjection::strict, OsftProjection::block}) {
        const retain::SubspaceProjector p(W, k, mode, at::kDouble);
        auto scratch = at::empty({std::max<int64_t>(1, p.scratch_elements())}, at::kDouble);
        auto g = G.clone();
        p.apply_(g, scratch);
        EXPECT_LT(error_vs(g, mode == OsftProjection::strict ? strict : block, G), 1e-10);
        auto twice = g.clone();
        p.apply_(twice, scratch);  // a projection: idempotent
        EXPECT_LT(error_vs(twice, g, G), 1e-10);
      }
    }
  }
}

TEST(OsftProjection, StrictProjectorKeepsTheCheaperSideAndWorksInFloat32) {
  torch::manual_seed(12);
  const auto W = torch::randn({40, 24});
  const auto G = torch::randn({40, 24});
  // k = 20 of 24: the short side (24) keeps its 4-column complement; the long side (40) the 20 frozen.
  const retain::SubspaceProjector p(W, 20, OsftProjection::strict, at::kFloat);
  EXPECT_FALSE(p.left_is_complement());
  EXPECT_EQ(p.left_columns(), 20);
  EXPECT_TRUE(p.right_is_complement());
  EXPECT_EQ(p.right_columns(), 4);
  // k = 22 of 24: now 40 − 22 = 18 < 22, so the long side keeps the complement from the full U.
  const retain::SubspaceProjector q(W, 22, OsftProjection::strict, at::kFloat);
  EXPECT_TRUE(q.left_is_complement());
  EXPECT_EQ(q.left_columns(), 18);
  for (const auto* proj : {&p, &q}) {
    auto scratch = at::empty({proj->scratch_elements()});
    auto g = G.clone();
    proj->apply_(g, scratch);
    // float32 SVD and products against the float64 formula: 1e-4 of ‖G‖ (float32 ε ≈ 6e-8 times the
    // sizes and 1/(singular gap) of a 40×24 Gaussian matrix leave ≥ 10× margin).
    EXPECT_LT(error_vs(g, explicit_strict(G, frozen_bases(W, proj->rank())), G), 1e-4);
  }
}

TEST(OsftProjection, RankRulesFollowTheirClosedForms) {
  // Importance: r = clamp(mrr + I (trr − mrr), 0, 1), k = ⌊r d⌋.
  EXPECT_EQ(retain::importance_rank(1.0, 0.1, 0.8, 64), 51);    // ⌊0.8 · 64⌋ = ⌊51.2⌋
  EXPECT_EQ(retain::importance_rank(0.0, 0.1, 0.8, 100), 10);   // mrr alone
  EXPECT_EQ(retain::importance_rank(0.5, 0.1, 0.8, 100), 45);   // 0.1 + 0.35
  EXPECT_EQ(retain::importance_rank(2.0, 0.1, 0.8, 100), 100);  // 1.5 clamped to 1
  EXPECT_EQ(retain::importance_rank(-1.0, 0.1, 0.8, 100), 0);   // −0.6 clamped to 0
  EXPECT_EQ(retain::importance_rank(0.0, 0.29, 0.8, 100), 29);  // 0.29 · 100 = 28.999… in binary
  EXPECT_EQ(retain::fixed_rank(0.5, 63), 31);
  EXPECT_EQ(retain::fixed_rank(0.0, 63), 0);
  EXPECT_EQ(retain::fixed_rank(1.0, 63), 63);
  EXPECT_EQ(retain::fixed_rank(0.29, 100), 29);
  // Progressive: ⌊t d / T⌋ for task t (0-based) of T.
  EXPECT_EQ(retain::progressive_rank(0, 4, 64), 0);
  EXPECT_EQ(retain::progressive_rank(1, 4, 64), 16);
  EXPECT_EQ(retain::progressive_rank(3, 4, 10), 7);
  EXPECT_THROW(retain::progressive_rank(4, 4, 10), std::exception);
  // Normalisation divides by the mean.
  const auto n = retain::normalise_importance({{"a", 1.0}, {"b", 3.0}});
  EXPECT_DOUBLE_EQ(n.at("a"), 0.5);
  EXPECT_DOUBLE_EQ(n.at("b"), 1.5);
  EXPECT_THROW(retain::normalise_importance({{"a", 1.0}, {"b", -3.0}}), std::exception);
}

struct TwoTasks {
  fs::path root = temp_dir("osft");
  retain::Task a = retain::load_task(make_task(root, "colors", {"red", "blue", "green"}, 2));
  retain::Task b = retain::load_task(make_task(root, "animals", {"cat", "dog"}, 3));
  retain::Tokenizer tok = tiny_tokenizer();
};

std::map<std::string, at::Tensor> weights(retain::CausalLM& model) {
  std::map<std::string, at::Tensor> out;
  for (auto& [name, p] : model->base_parameters()) out[name] = p.detach().clone();
  return out;
}

retain::OptimizerSettings optimizer() {
  retain::OptimizerSettings o;
  o.lr = 1e-2;
  o.weight_decay = 0.1;  // decay pulls W along its own (frozen) directions: only re-projection stops it
  o.epochs = 2;
  o.batch_size = 2;
  return o;
}

struct Leak {
  double rows = 0, cols = 0, block = 0;  // ‖U_hᵀΔW‖, ‖ΔW V_h‖, ‖U_hᵀΔW V_h‖ over ‖ΔW‖, worst matrix
  int64_t matrices = 0;                  // that trained under a constraint
  int64_t complements = 0;               // of those, projected through a complement basis on a side
};

// How far ΔW = after − before reaches into the frozen subspace of `before`, per rank. U_h and V_h
// come from the float32 SVD of `before`, the decomposition the method itself computes: the frozen
// subspace is only defined to float32 precision, ε·‖W‖ / (σ_k − σ_k+1), which for close singular
// values exceeds 1e-5 against a float64 SVD. (The projector itself is checked in float64 above.)
// Fully frozen matrices (k = min(m, n); with `block` only square ones) must not change at all.
Leak leak(const std::map<std::string, at::Tensor>& before, retain::CausalLM& model,
          const std::map<std::string, int64_t>& ranks, OsftProjection mode) {
  Leak out;
  auto now = weights(model);
  for (const auto& [name, k] : ranks) {
    const auto& W0 = before.at(name);
    const auto dW = now.at(name).to(at::kDouble) - W0.to(at::kDouble);
    const double norm = dW.norm().item<double>();
    if (k == 0) continue;
    if (k == std::min(W0.size(0), W0.size(1)) && (mode == OsftProjection::strict || W0.size(0) == W0.size(1))) {
      EXPECT_EQ(norm, 0.0) << name << " is fully frozen";
      continue;
    }
    EXPECT_GT(norm, 0) << name << " did not train";
    auto [U, S, Vh] = at::linalg_svd(W0.to(at::kFloat), /*full_matrices=*/false);
    const auto Uh = U.narrow(1, 0, k).to(at::kDouble), Vh_ = Vh.narrow(0, 0, k).t().to(at::kDouble);
    out.rows = std::max(out.rows, Uh.t().matmul(dW).norm().item<double>() / norm);
    out.cols = std::max(out.cols, dW.matmul(Vh_).norm().item<double>() / norm);
    out.block = std::max(out.block, Uh.t().matmul(dW).matmul(Vh_).norm().item<double>() / norm);
    const retain::SubspaceProjector p(W0, k, mode, at::kFloat);
    out.complements += p.left_is_complement() || p.right_is_complement();
    ++out.matrices;
  }
  return out;
}

TEST(OSFT, UpdatesStayOrthogonalToTheFrozenSubspaceThroughAdamWAndWeightDecay) {
  TwoTasks f;
  for (const std::string projection : {"strict", "block"})
    for (const std::string rule : {"importance", "fixed"}) {
      SCOPED_TRACE(projection + " " + rule);
      auto run = make_run({f.a, f.b}, at::kFloat, f.tok);
      retain::OsftSettings s;
      s.projection = projection;
      s.rank_rule = *retain::settings::value_named<retain::RankRule>(rule);
      s.ratio = 0.8;  // k = 51 of 64: complements on both sides, from the full U for gate/up (96 × 64)
      retain::OSFT method(s);
      const auto mode = retain::parse_osft_projection(projection);
      for (int64_t t = 0; t < 2; ++t) {
        retain::TaskContext ctx{run, t};
        const auto before = weights(run.model);
        retain::train_task(method, ctx, optimizer());
        const Leak l = leak(before, run.model, method.ranks(), mode);
        EXPECT_GE(l.matrices, 7) << "task " << t;  // at least one layer's 7 matrices train under constraint
        if (rule == "fixed" && mode == OsftProjection::strict) {
          EXPECT_EQ(l.complements, l.matrices);
        }
        // float32 training: each re-projection leaves ~1e-7 relative residue; 1e-5 leaves ≥ 10× margin.
        if (mode == OsftProjection::strict) {
          EXPECT_LE(l.rows, 1e-5) << "task " << t;
          EXPECT_LE(l.cols, 1e-5) << "task " << t;
        } else {
          EXPECT_LE(l.block, 1e-5) << "task " << t;
          EXPECT_GT(l.rows, 1e-2) << "block leaves the frozen rows free outside the frozen block";
        }
      }
    }
}

TEST(OSFT, BfloatBasesProjectFloatParametersThroughTheScratchBuffer) {
  TwoTasks f;
  auto run = make_run({f.a}, at::kFloat, f.tok);
  retain::OsftSettings s;
  s.rank_rule = retain::RankRule::Fixed;
  s.basis_dtype = "bfloat16";
  retain::OSFT method(s);
  retain::TaskContext ctx{run, 0};
  const auto before = weights(run.model);
  retain::train_task(method, ctx, optimizer());
  const Leak l = leak(before, run.model, method.ranks(), OsftProjection::strict);
  EXPECT_EQ(l.matrices, 14);
  // bfloat16 bases are orthonormal only to its ε = 2⁻⁸ ≈ 4e-3, and each projected step is rounded to
  // it: a few 1e-3 of the update leak; 3e-2 bounds that, far below seqft's ~0.8 (next test).
  EXPECT_LE(l.rows, 3e-2);
  EXPECT_LE(l.cols, 3e-2);
}

TEST(OSFT, SeqftUpdatesDoReachIntoTheFrozenSubspace) {
  // The control of the invariant test: the same training without projection leaks far above 1e-5.
  TwoTasks f;
  auto run = make_run({f.a, f.b}, at::kFloat, f.tok);
  retain::OsftSettings s;
  s.rank_rule = retain::RankRule::Fixed;  // half of every rank frozen: no matrix is fully frozen
  retain::OSFT probe(s);
  retain::TaskContext ctx{run, 0};
  probe.on_task_start(ctx);
  const auto ranks = probe.ranks();
  probe.on_task_end(ctx);
  retain::SeqFT seqft;
  const auto before = weights(run.model);
  retain::train_task(seqft, ctx, optimizer());
  const Leak l = leak(before, run.model, ranks, OsftProjection::strict);
  EXPECT_GT(l.rows, 0.1);
  EXPECT_GT(l.cols, 0.1);
}

TEST(OSFT, FrozenRankZeroIsSeqftBitForBit) {
  TwoTasks f;
  auto a = make_run({f.a, f.b}, at::kFloat, f.tok);
  auto b = make_run({f.a, f.b}, at::kFloat, f.tok);
  retain::OsftSettings s;
  s.rank_rule = retain::RankRule::Fixed;
  s.ratio = 0;
  retain::OSFT osft(s);
  retain::SeqFT seqft;
  for (int64_t t = 0; t < 2; ++t) {
    retain::TaskContext ca{a, t}, cb{b, t};
    retain::train_task(osft, ca, optimizer());
    retain::train_task(seqft, cb, optimizer());
  }
  for (const auto& [name, k] : osft.ranks()) EXPECT_EQ(k, 0) << name;
  auto base = make_run({f.a}, at::kFloat, f.tok);
  const auto wa = weights(a.model), wb = weights(b.model), w0 = weights(base.model);
  for (const auto& [name, w] : wa) {
    EXPECT_TRUE(at::equal(w, wb.at(name))) << name;
    EXPECT_FALSE(at::equal(w, w0.at(name))) << name << " did not train";
  }
}

TEST(OSFT, RanksFollowTheRuleForEveryTargetMatrix) {
  TwoTasks f;
  auto run = make_run({f.a, f.b, f.a}, at::kFloat, f.tok);
  std::map<std::string, int64_t> min_dim;
  for (auto& [name, p] : run.model->base_parameters())
    if (p.dim() == 2 && name.find(".layers.") != std::string::npos) min_dim[name] = std::min(p.size(0), p.size(1));
  ASSERT_EQ(min_dim.size(), 14u);

  retain::OsftSettings s;
  s.rank_rule = retain::RankRule::Fixed;
  s.ratio = 0.5;
  retain::OSFT fixed(s);
  retain::TaskContext first{run, 0}, last{run, 2};
  fixed.on_task_start(first);
  EXPECT_EQ(fixed.ranks().size(), 14u);
  for (const auto& [name, k] : fixed.ranks()) EXPECT_EQ(k, min_dim.at(name) / 2) << name;

  s.rank_rule = retain::RankRule::Progressive;
  retain::OSFT progressive(s);
  progressive.on_task_start(last);  // task 3 of 3 freezes 2/3
  for (const auto& [name, k] : progressive.ranks()) EXPECT_EQ(k, 2 * min_dim.at(name) / 3) << name;

  retain::OSFT importance({});
  importance.on_task_start(first);
  double mean = 0;
  for (const auto& [name, k] : importance.ranks()) {
    const double I = importance.importance().at(name);
    mean += I;
    EXPECT_EQ(k, retain::importance_rank(I, 0.1, 0.8, min_dim.at(name))) << name;
    EXPECT_EQ(importance.projector(name).rank(), k);
  }
  EXPECT_NEAR(mean / 14, 1.0, 1e-12);  // normalised by the mean
  importance.on_task_end(first);
  EXPECT_THROW(importance.projector(importance.ranks().begin()->first), std::exception);
}

// cos(a, b) per token (last dimension), summed, float64.
double cosine_sum(const at::Tensor& a, const at::Tensor& b) {
  return ((a * b).sum(-1) / (a.square().sum(-1).sqrt() * b.square().sum(-1).sqrt())).sum().item<double>();
}

TEST(OSFT, LayerImportanceEqualsCosinesComputedFromTheModulesDirectly) {
  TwoTasks f;
  auto run = make_run({f.a}, at::kDouble, f.tok);
  auto& model = run.model;
  auto& dm = model->model;
  const int64_t L = dm->config.num_hidden_layers;
  // The final norm only enters the oracle below (the last block's output is read through it); with
  // unit weights it scales each token by a positive number, which no cosine sees.
  {
    torch::NoGradGuard g;
    dm->norm->weight.fill_(1.0);
  }
  const std::vector<retain::TokenizedExample> examples(run.train_data[0].begin(), run.train_data[0].begin() + 3);
  const auto modules =
      retain::osft_target_modules(model, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"});
  ASSERT_EQ(modules.size(), 14u);

  // name → sum of cosines over all tokens, for each scope.
  std::map<std::string, double> block_scope, matrix_scope, truncate_scope;
  int64_t tokens = 0;
  torch::NoGradGuard no_grad;
  for (const auto& ex : examples) {
    retain::ForwardInput in;
    in.input_ids = at::tensor(ex.ids, at::kLong).unsqueeze(0);
    const int64_t T = in.input_ids.size(1);
    tokens += T;
    auto [cos, sin] = dm->rotary->forward(at::arange(T, at::kLong).unsqueeze(0), at::kDouble);
    for (int64_t i = 0; i < L; ++i) {
      auto& layer = dm->layer_list[i];
      const auto h_in = dm->forward(in, 0, i);
      const auto h_out = dm->forward(in, 0, i + 1);  // through the unit final norm when i + 1 = L
      const double block = cosine_sum(h_in, h_out);
      const auto a1 = layer->input_layernorm(h_in);
      // o_proj's input: the attention output, read by swapping o_proj's weight for the identity.
      auto& o = layer->self_attn->o_proj;
      const auto Wo = o->weight.clone();
      o->weight.copy_(at::eye(Wo.size(0), at::kDouble));
      const auto z = layer->self_attn->forward(a1, cos, sin, at::Tensor(), T > 1, nullptr);
      o->weight.copy_(Wo);
      const auto h_mid = h_in + layer->self_attn->forward(a1, cos, sin, at::Tensor(), T > 1, nullptr);
      const auto a2 = layer->post_attention_layernorm(h_mid);
      auto& mlp = layer->mlp;
      const auto a3 = at::silu(mlp->gate_proj(a2)) * mlp->up_proj(a2);
      const std::string p = "model.layers." + std::to_string(i) + ".";
      // cos of x and W x on their first min(m, n) coordinates (all of them for a square W).
      auto cut = [](const at::Tensor& x, const at::Tensor& W) {
        const auto y = x.matmul(W.t());
        const int64_t d = std::min(x.size(-1), y.size(-1));
        return cosine_sum(x.narrow(-1, 0, d), y.narrow(-1, 0, d));
      };
      const std::map<std::string, double> own = {
          {"self_attn.q_proj", cut(a1, layer->self_attn->q_proj->weight)},  // 64 × 64: square
          {"self_attn.k_proj", cut(a1, layer->self_attn->k_proj->weight)},
          {"self_attn.v_proj", cut(a1, layer->self_attn->v_proj->weight)},
          {"self_attn.o_proj", cut(z, Wo)},  // 64 × 64: square
          {"mlp.gate_proj", cut(a2, mlp->gate_proj->weight)},
          {"mlp.up_proj", cut(a2, mlp->up_proj->weight)},
          {"mlp.down_proj", cut(a3, mlp->down_proj->weight)}};
      for (const auto& [name, value] : own) {
        const bool square = name == "self_attn.q_proj" || name == "self_attn.o_proj";
        block_scope[p + name] += block;
        matrix_scope[p + name] += square ? value : block;
        truncate_scope[p + name] += value;
      }
    }
  }
  retain::ForwardInput probe;
  probe.input_ids = at::tensor(examples[0].ids, at::kLong).unsqueeze(0);
  const auto logits_before = model->forward(probe);
  const std::vector<std::pair<retain::ImportanceScope, const std::map<std::string, double>*>> scopes = {
      {retain::ImportanceScope::block, &block_scope},
      {retain::ImportanceScope::matrix, &matrix_scope},
      {retain::ImportanceScope::truncate, &truncate_scope}};
  for (const auto& [scope, expected] : scopes) {
    SCOPED_TRACE(static_cast<int>(scope));
    const auto got = retain::osft_importance(model, modules, examples, at::kCPU, scope);
    ASSERT_EQ(got.size(), expected->size());
    for (const auto& [name, sum] : *expected) {
      // float64 both ways, summed in different orders: 1e-12.
      EXPECT_NEAR(got.at(name), sum / static_cast<double>(tokens), 1e-12) << name;
    }
  }
  // The probes are gone and the model computes what it did before.
  for (auto& [name, linear] : model->linear_layers()) EXPECT_TRUE(linear->adapters().empty()) << name;
  EXPECT_TRUE(at::equal(model->forward(probe), logits_before));
}

TEST(OSFT, NonTargetParametersTrainOrStayFrozen) {
  TwoTasks f;
  for (const std::string mode : {"train", "freeze"}) {
    SCOPED_TRACE(mode);
    auto run = make_run({f.a}, at::kFloat, f.tok);
    retain::OsftSettings s;
    s.non_target = mode;
    s.targets = {"q_proj", "down_proj"};
    s.rank_rule = retain::RankRule::Fixed;
    retain::OSFT method(s);
    retain::TaskContext ctx{run, 0};
    const auto before = weights(run.model);
    retain::train_task(method, ctx, optimizer());
    EXPECT_EQ(method.ranks().size(), 4u);
    for (const auto& [name, w] : weights(run.model)) {
      const bool target = method.ranks().count(name) > 0;
      const bool changed = !at::equal(w, before.at(name));
      EXPECT_EQ(changed, target || mode == "train") << name;
    }
  }
}

TEST(OSFT, StateRoundTripReproducesTheNextTaskBitForBit) {
  TwoTasks f;
  auto a = make_run({f.a, f.b}, at::kFloat, f.tok);
  retain::OSFT original({});
  retain::TaskContext a0{a, 0}, a1{a, 1};
  retain::train_task(original, a0, optimizer());
  const auto state = original.state(a);

  // A fresh model and method, given what the runner restores: the parameters and the state.
  auto b = make_run({f.a, f.b}, at::kFloat, f.tok);
  retain::OSFT resumed(retain::OsftSettings{});
  resumed.load_state(b, 1, state);
  {
    torch::NoGradGuard g;
    const auto trained = weights(a.model);
    for (auto& [name, p] : b.model->base_parameters()) p.copy_(trained.at(name));
  }
  EXPECT_EQ(resumed.ranks(), original.ranks());
  EXPECT_EQ(resumed.tasks_started(), 1);

  retain::TaskContext b1{b, 1};
  retain::train_task(original, a1, optimizer());
  retain::train_task(resumed, b1, optimizer());
  EXPECT_EQ(resumed.ranks(), original.ranks());
  EXPECT_EQ(resumed.tasks_started(), 2);
  const auto wa = weights(a.model), wb = weights(b.model);
  for (const auto& [name, w] : wa) EXPECT_TRUE(at::equal(w, wb.at(name))) << name;
}

TEST(OSFT, CheckpointsHoldTheRanksUnderHuggingFaceTensorNames) {
  const auto root = temp_dir("osft_runner");
  auto tasks = two_toy_tasks(root, 1);
  auto config = toy_run_config();
  config.run.save_checkpoints = true;
  config.set("method.osft.rank_rule=progressive");
  retain::run_method("osft", kTinyModel, tasks, config, root / "out");
  for (int k = 1; k <= 2; ++k) {
    const auto dir = root / "out" / "osft" / "checkpoints" / ("task_" + std::to_string(k));
    auto model = retain::load_model(dir);  // a full model folder: strict loading of every tensor
    std::map<std::string, at::Tensor> tensors;
    for (auto& [name, p] : model->base_parameters()) tensors[name] = p;
    const auto ranks = retain::read_json_file(dir / "osft_ranks.json");
    EXPECT_EQ(ranks.size(), 14u);
    for (const auto& [name, r] : ranks.items()) {
      ASSERT_TRUE(tensors.count(name)) << name << " is not a tensor of model.safetensors";
      const auto& W = tensors.at(name);
      EXPECT_EQ(r.get<int64_t>(), retain::progressive_rank(k - 1, 2, std::min(W.size(0), W.size(1)))) << name;
    }
    EXPECT_TRUE(ranks.contains("model.layers.0.self_attn.q_proj.weight"));
  }
}

TEST(OSFT, SettingsAreValidatedWithTheKeyNamed) {
  auto error = [](const retain::json& settings) { return error_of([&] { retain::make_method("osft", settings); }); };
  EXPECT_MSG(error({{"rank_rule", "adaptive"}}), "method.osft.rank_rule");
  EXPECT_MSG(error({{"projection", "loose"}}), "method.osft.projection");
  EXPECT_MSG(error({{"non_target", "drop"}}), "method.osft.non_target");
  EXPECT_MSG(error({{"trr", 1.5}}), "method.osft.trr");
  EXPECT_MSG(error({{"basis_dtype", "half"}}), "method.osft.basis_dtype");
  EXPECT_MSG(error({{"importance_scope", "x"}}), "method.osft.importance_scope");
  EXPECT_MSG(error({{"targets", retain::json::array()}}), "method.osft.targets");
  const auto resolved = retain::method_settings("osft", nullptr);
  EXPECT_EQ(resolved["projection"], "strict");
  EXPECT_EQ(resolved["rank_rule"], "importance");
  EXPECT_EQ(resolved["targets"].size(), 7u);
  TwoTasks f;
  auto run = make_run({f.a}, at::kFloat, f.tok);
  retain::OsftSettings s;
  s.targets = {"no_such_proj"};
  retain::OSFT method(s);
  retain::TaskContext ctx{run, 0};
  EXPECT_MSG(error_of([&] { method.on_task_start(ctx); }), "no_such_proj");
}

}  // namespace
