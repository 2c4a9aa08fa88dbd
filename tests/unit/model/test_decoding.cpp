// Rotary embeddings, KV-cache decoding, left padding and generation on tiny random models.
//
// Oracles: closed forms for the rope frequencies (computed here in double, independently of the
// library); invariants of rotations (norm per coordinate pair, inverse rotation, dependence of
// q·k on m − n only); and self-consistency of the model: the full-sequence forward pass is the
// reference for cached decoding, a sequence alone is the reference for the same sequence inside a
// left-padded batch, and generating each prompt alone is the reference for batched generation.
//
// Tolerances: the model runs in float64, where cached/padded/full passes differ only by the order
// of floating-point sums (different matmul shapes and masking), ~1e-15 relative per op; 1e-10
// leaves room for 2 layers of that and still catches any real difference (a wrong position, mask or
// cache slot changes logits at the 1e-2 level).
#include "model_test_util.h"
#include "retain/model/generation.h"
#include "retain/model/rope.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace retain::testing;
using retain::json;
using retain::KVCache;
using retain::ModelConfig;

// ---- rope frequencies ---------------------------------------------------------------------------

// 1 / theta^(2i/d) in double.
std::vector<double> default_frequencies(double theta, int64_t d) {
  std::vector<double> out;
  for (int64_t i = 0; i < d / 2; ++i)
    out.push_back(1.0 / std::pow(theta, 2.0 * static_cast<double>(i) / static_cast<double>(d)));
  return out;
}

// Largest elementwise relative difference.
double max_relative(const at::Tensor& got, const std::vector<double>& expected) {
  EXPECT_EQ(got.numel(), static_cast<int64_t>(expected.size()));
  auto g = got.to(at::kDouble).contiguous();
  double worst = 0;
  for (size_t i = 0; i < expected.size(); ++i)
    worst = std::max(worst, std::abs(g[static_cast<int64_t>(i)].item<double>() - expected[i]) / std::abs(expected[i]));
  return worst;
}

// Tolerance 1e-6: transformers (and retain) compute the frequencies in float32. The exponent 2i/d is
// rounded (relative 6e-8) and then multiplied by ln(theta) ≤ 14 inside pow, plus a few ulp for pow
// and the division: a few 1e-7 relative at worst.
constexpr double kFloat32Rope = 1e-6;

TEST(Rope, DefaultFrequenciesAreTheClosedForm) {
  for (int64_t d : {8, 16, 48, 64, 128})
    for (double theta : {10000.0, 500000.0, 1e6}) {
      retain::RopeConfig rope;
      rope.theta = theta;
      const auto got = retain::rope_inverse_frequencies(rope, d);
      EXPECT_EQ(got.scalar_type(), at::kFloat);
      EXPECT_LT(max_relative(got, default_frequencies(theta, d)), kFloat32Rope) << "d " << d << " theta " << theta;
    }
}

TEST(Rope, LinearIsDefaultDividedByFactor) {
  retain::RopeConfig rope;
  rope.type = "linear";
  rope.theta = 10000;
  rope.factor = 4.0;
  auto expected = default_frequencies(10000, 64);
  for (auto& f : expected) f /= 4.0;
  EXPECT_LT(max_relative(retain::rope_inverse_frequencies(rope, 64), expected), kFloat32Rope);
}

TEST(Rope, Llama3FollowsTheLlama31Rule) {
  // Llama 3.1's published values. Wavelengths 2π/ω run from 2π to ~2e6, so all three regimes occur.
  retain::RopeConfig rope;
  rope.type = "llama3";
  rope.theta = 500000;
  rope.factor = 8;
  rope.low_freq_factor = 1;
  rope.high_freq_factor = 4;
  rope.original_max_position_embeddings = 8192;
  const double low_wavelen = 8192 / 1.0, high_wavelen = 8192 / 4.0;
  std::vector<double> expected;
  int high = 0, low = 0, medium = 0;
  for (double w : default_frequencies(rope.theta, 64)) {
    const double wavelen = 2 * M_PI / w;
    if (wavelen < high_wavelen) {  // high frequency: unchanged
      expected.push_back(w);
      ++high;
    } else if (wavelen > low_wavelen) {  // low frequency: divided by factor
      expected.push_back(w / rope.factor);
      ++low;
    } else {  // in between: interpolate between w / factor and w
      const double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
      expected.push_back((1 - smooth) * w / rope.factor + smooth * w);
      ++medium;
    }
  }
  ASSERT_GT(high, 0);
  ASSERT_GT(low, 0);
  ASSERT_GT(medium, 0);
  EXPECT_LT(max_relative(retain::rope_inverse_frequencies(rope, 64), expected), kFloat32Rope);
}

// ---- apply_rotary -------------------------------------------------------------------------------

// cos/sin (1, T, D) in double for angles (T, D/2), duplicated over the two halves as HF does.
std::pair<at::Tensor, at::Tensor> cos_sin(const at::Tensor& angles) {
  auto emb = at::cat({angles, angles}, -1).unsqueeze(0);
  return {emb.cos(), emb.sin()};
}

TEST(Rope, ApplyRotaryRotatesEachHalfSplitPair) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const int64_t h = 3, t = 5, d = 16, half = d / 2;
  auto x = at::randn({2, h, t, d}, gen, at::kDouble);
  auto angles = at::randn({t, half}, gen, at::kDouble) * 10;
  auto [c, s] = cos_sin(angles);
  c = c.expand({2, t, d});
  s = s.expand({2, t, d});
  auto y = retain::apply_rotary(x, c, s);
  // Closed form: (x_i, x_{i+D/2}) is rotated by angle_i.
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  auto ca = angles.cos().view({1, 1, t, half}), sa = angles.sin().view({1, 1, t, half});
  auto expected = at::cat({x1 * ca - x2 * sa, x2 * ca + x1 * sa}, -1);
  // 1e-14: a handful of float64 operations on O(1) values.
  EXPECT_LT(relative_error(y, expected), 1e-14);
  // Invariants: the norm of every pair is kept; rotating back by −angle restores x.
  auto pair_norm = [&](const at::Tensor& v) { return v.narrow(-1, 0, half).pow(2) + v.narrow(-1, half, half).pow(2); };
  EXPECT_LT(relative_error(pair_norm(y), pair_norm(x)), 1e-14);
  EXPECT_LT(relative_error(retain::apply_rotary(y, c, -s), x), 1e-14);
}

TEST(Rope, QueryKeyProductDependsOnlyOnTheRelativePosition) {
  retain::RopeConfig rope;
  rope.theta = 10000;
  retain::RotaryEmbedding rotary(rope, 16);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  auto q = at::randn({1, 1, 1, 16}, gen, at::kDouble), k = at::randn({1, 1, 1, 16}, gen, at::kDouble);
  auto rotated_dot = [&](int64_t m, int64_t n) {
    auto [cm, sm] = rotary->forward(at::full({1, 1}, m, at::kLong), at::kDouble);
    auto [cn, sn] = rotary->forward(at::full({1, 1}, n, at::kLong), at::kDouble);
    return (retain::apply_rotary(q, cm, sm) * retain::apply_rotary(k, cn, sn)).sum().item<double>();
  };
  const double scale = q.norm().item<double>() * k.norm().item<double>();
  // The angles m·ω are formed in float32 (as transformers does): absolute angle error ≲ 50·2⁻²⁴ ≈ 3e-6,
  // so products agree to ~1e-5 of |q||k|.
  const double base = rotated_dot(3, 0);
  for (auto [m, n] : {std::pair<int64_t, int64_t>{10, 7}, {50, 47}, {0, -3}})
    EXPECT_NEAR(rotated_dot(m, n), base, 1e-5 * scale) << m << ", " << n;
  // ...and it does depend on m − n (else the check above would be vacuous).
  EXPECT_GT(std::abs(rotated_dot(4, 0) - base), 1e-3 * scale);
  // Position 0 is the identity.
  auto [c0, s0] = rotary->forward(at::zeros({1, 1}, at::kLong), at::kDouble);
  EXPECT_TRUE(retain::apply_rotary(q, c0, s0).equal(q));
}

// ---- tiny models --------------------------------------------------------------------------------

json tiny_json(const std::string& model_type = "llama") {
  // initializer_range 0.3 (not the usual 0.02) so that attention is far from uniform and logits are
  // spread: a wrong mask or position then shows at the 1e-2 level.
  return {{"model_type", model_type},
          {"vocab_size", 64},
          {"hidden_size", 32},
          {"intermediate_size", 48},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"rms_norm_eps", 1e-6},
          {"max_position_embeddings", 128},
          {"initializer_range", 0.3},
          {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 10000.0}}}};
}

retain::CausalLM tiny_model(const json& j, uint64_t seed = 1) {
  retain::CausalLM model(ModelConfig::from_json(j, "tiny"));
  retain::init_weights(model, seed);
  model->to(at::kDouble);
  model->eval();
  return model;
}

json mistral_window(int64_t window) {
  auto j = tiny_json("mistral");
  j["sliding_window"] = window;
  return j;
}

at::Tensor random_ids(int64_t b, int64_t t, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(1, 64, {b, t}, gen, at::kLong);  // 0 is kept for padding
}

KVCache make_cache(retain::CausalLM& m, int64_t batch, int64_t capacity) {
  const auto& c = m->config;
  return KVCache(c.num_hidden_layers, batch, c.num_key_value_heads, capacity, c.head_dim,
                 at::TensorOptions().dtype(at::kDouble));
}

constexpr double kFloat64Reassociation = 1e-10;

struct DecodeCase {
  const char* name;
  json config;
  std::vector<int64_t> chunks;  // prefill length, then the sizes of later steps
};

void PrintTo(const DecodeCase& c, std::ostream* os) { *os << c.name; }

class CachedDecoding : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(CachedDecoding, EqualsTheFullForwardPass) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model(GetParam().config);
  int64_t total = 0;
  for (auto c : GetParam().chunks) total += c;
  auto ids = random_ids(2, total, 3);
  auto full = forward(model, ids);
  auto cache = make_cache(model, 2, total);
  std::vector<at::Tensor> parts;
  int64_t pos = 0;
  for (auto c : GetParam().chunks) {
    parts.push_back(forward(model, ids.narrow(1, pos, c), {}, {}, &cache));
    pos += c;
    EXPECT_EQ(cache.length, pos);
  }
  EXPECT_LT(relative_error(at::cat(parts, 1), full), kFloat64Reassociation);
}

INSTANTIATE_TEST_SUITE_P(
    Models, CachedDecoding,
    ::testing::Values(DecodeCase{"llama_token_by_token", tiny_json(), {4, 1, 1, 1, 1, 1, 1}},
                      DecodeCase{"llama_chunks", tiny_json(), {3, 2, 4, 1}},
                      DecodeCase{"qwen3_token_by_token",
                                 [] {
                                   auto j = tiny_json("qwen3");
                                   j["head_dim"] = 16;
                                   return j;
                                 }(),
                                 {2, 1, 1, 1, 1, 1}},
                      DecodeCase{"qwen2_bias_token_by_token", tiny_json("qwen2"), {3, 1, 1, 1, 1}},
                      DecodeCase{"mistral_window3_token_by_token", mistral_window(3), {4, 1, 1, 1, 1, 1, 1, 1}},
                      DecodeCase{"mistral_window3_chunks", mistral_window(3), {2, 3, 1, 4}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SlidingWindow, BoundsTheReceptiveField) {
  // Window 3: a query sees itself and the 2 positions before it; after 2 layers, position 9 depends
  // on tokens 5..9 only. Changing token 4 leaves its logits unchanged (masked weights are exactly 0);
  // changing token 5 does not.
  torch::NoGradGuard no_grad;
  auto model = tiny_model(mistral_window(3));
  auto ids = random_ids(1, 10, 5);
  auto base = forward(model, ids).select(1, 9);
  auto far = ids.clone(), near = ids.clone();
  far[0][4] = (ids[0][4].item<int64_t>() % 63) + 1;
  near[0][5] = (ids[0][5].item<int64_t>() % 63) + 1;
  EXPECT_LT(relative_error(forward(model, far).select(1, 9), base), 1e-14);
  EXPECT_GT(relative_error(forward(model, near).select(1, 9), base), 1e-6);
  // Without the window (same weights), token 0 reaches position 9.
  auto unwindowed = tiny_model(tiny_json("mistral"));
  auto first = ids.clone();
  first[0][0] = (ids[0][0].item<int64_t>() % 63) + 1;
  EXPECT_GT(relative_error(forward(unwindowed, first).select(1, 9), forward(unwindowed, ids).select(1, 9)), 1e-6);
}

// ---- left padding -------------------------------------------------------------------------------

struct PaddingCase {
  const char* name;
  json config;
};

void PrintTo(const PaddingCase& c, std::ostream* os) { *os << c.name; }

class LeftPadding : public ::testing::TestWithParam<PaddingCase> {};

TEST_P(LeftPadding, PaddedRowsEqualEachSequenceAlone) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model(GetParam().config);
  auto short_ids = random_ids(1, 5, 21), long_ids = random_ids(1, 8, 22);
  auto ids = at::cat({at::cat({at::zeros({1, 3}, at::kLong), short_ids}, 1), long_ids}, 0);  // (2, 8)
  auto mask = at::ones({2, 8}, at::kLong);
  mask[0].narrow(0, 0, 3).fill_(0);
  auto batch = forward(model, ids, mask);
  EXPECT_LT(relative_error(batch[0].narrow(0, 3, 5), forward(model, short_ids)[0]), kFloat64Reassociation);
  EXPECT_LT(relative_error(batch[1], forward(model, long_ids)[0]), kFloat64Reassociation);
  // The mask matters: without it the padded row attends to the pad tokens and differs.
  EXPECT_GT(relative_error(forward(model, ids)[0].narrow(0, 3, 5), forward(model, short_ids)[0]), 1e-3);

  // Then decode 3 more tokens per row with the cache, extending the mask, against the full passes.
  auto extra = random_ids(2, 3, 23);
  auto cache = make_cache(model, 2, 11);
  auto full_mask = at::ones({2, 11}, at::kLong);
  full_mask[0].narrow(0, 0, 3).fill_(0);
  forward(model, ids, full_mask.narrow(1, 0, 8), {}, &cache);
  std::vector<at::Tensor> steps;
  for (int64_t s = 0; s < 3; ++s)
    steps.push_back(forward(model, extra.narrow(1, s, 1), full_mask.narrow(1, 0, 9 + s), {}, &cache));
  auto decoded = at::cat(steps, 1);  // (2, 3, V)
  auto short_full = forward(model, at::cat({short_ids, extra.narrow(0, 0, 1)}, 1));
  auto long_full = forward(model, at::cat({long_ids, extra.narrow(0, 1, 1)}, 1));
  EXPECT_LT(relative_error(decoded[0], short_full[0].narrow(0, 5, 3)), kFloat64Reassociation);
  EXPECT_LT(relative_error(decoded[1], long_full[0].narrow(0, 8, 3)), kFloat64Reassociation);
}

TEST_P(LeftPadding, ExplicitPositionIdsEqualDerivedOnes) {
  torch::NoGradGuard no_grad;
  auto model = tiny_model(GetParam().config);
  auto ids = random_ids(2, 6, 31);
  auto mask = at::ones({2, 6}, at::kLong);
  mask[0].narrow(0, 0, 2).fill_(0);
  auto positions = at::tensor({1, 1, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5}, at::kLong).view({2, 6});  // HF: padding → 1
  auto derived = forward(model, ids, mask);
  auto given = forward(model, ids, mask, positions);
  EXPECT_LT(relative_error(given.narrow(1, 2, 4), derived.narrow(1, 2, 4)), kFloat64Reassociation);
}

INSTANTIATE_TEST_SUITE_P(Models, LeftPadding,
                         ::testing::Values(PaddingCase{"llama", tiny_json()},
                                           PaddingCase{"mistral_window3", mistral_window(3)}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- generation ---------------------------------------------------------------------------------

class Generation : public ::testing::Test {
 protected:
  Generation() : model(tiny_model(tiny_json(), 9)) {}
  std::vector<std::vector<int64_t>> run(const std::vector<std::vector<int64_t>>& prompts,
                                        const retain::GenerationOptions& o) {
    return retain::generate(model, prompts, o);
  }
  retain::CausalLM model;
  const std::vector<std::vector<int64_t>> prompts = {{5, 17, 3}, {42}, {8, 9, 10, 11, 12, 13, 14}};
};

TEST_F(Generation, GreedyBatchEqualsEachPromptAlone) {
  retain::GenerationOptions o;
  o.max_new_tokens = 8;
  const auto batch = run(prompts, o);
  ASSERT_EQ(batch.size(), 3u);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(batch[i], run({prompts[i]}, o)[0]) << "prompt " << i;
    EXPECT_EQ(batch[i].size(), 8u);
  }
  // The first token is the argmax of the last position's logits of the plain forward pass.
  torch::NoGradGuard no_grad;
  auto ids = at::tensor(prompts[2], at::kLong).view({1, -1});
  EXPECT_EQ(batch[2][0], forward(model, ids)[0][-1].argmax().item<int64_t>());
}

TEST_F(Generation, SamplingIsReproducibleAndTopKOneIsGreedy) {
  retain::GenerationOptions o;
  o.max_new_tokens = 8;
  const auto greedy = run(prompts, o);
  o.do_sample = true;
  o.seed = 1234;
  const auto a = run(prompts, o), b = run(prompts, o);
  EXPECT_EQ(a, b);
  o.seed = 4321;
  // 24 draws at temperature 1 over 64 tokens: two seeds agreeing everywhere would mean the seed is ignored.
  EXPECT_NE(run(prompts, o), a);
  o.top_k = 1;
  EXPECT_EQ(run(prompts, o), greedy);
  o.top_k = 0;
  o.top_p = 1e-9;  // nucleus keeps at least the most likely token
  EXPECT_EQ(run(prompts, o), greedy);
}

TEST_F(Generation, StopsARowAfterEosAndLetsTheOthersContinue) {
  retain::GenerationOptions o;
  o.max_new_tokens = 8;
  const auto greedy = run(prompts, o);
  // Take row 0's third token as the EOS id: row 0 must end with it; every row's output must be its
  // unconstrained greedy output cut after the first EOS (rows are independent).
  const int64_t eos = greedy[0][2];
  o.eos_token_ids = {eos};
  o.pad_token_id = 0;
  const auto stopped = run(prompts, o);
  bool another_row_continues = false;
  for (size_t r = 0; r < prompts.size(); ++r) {
    std::vector<int64_t> expected;
    for (auto id : greedy[r]) {
      expected.push_back(id);
      if (id == eos) break;
    }
    EXPECT_EQ(stopped[r], expected) << "row " << r;
    another_row_continues = another_row_continues || (r > 0 && stopped[r].size() > stopped[0].size());
  }
  EXPECT_LE(stopped[0].size(), 3u);
  EXPECT_EQ(stopped[0].back(), eos);
  EXPECT_TRUE(another_row_continues) << "the test needs a row that goes on after row 0 stopped";
}

TEST_F(Generation, ZeroNewTokensGivesEmptyOutputs) {
  retain::GenerationOptions o;
  o.max_new_tokens = 0;
  for (const auto& out : run(prompts, o)) EXPECT_TRUE(out.empty());
}

TEST_F(Generation, BadPromptsAreErrorsNamingThem) {
  retain::GenerationOptions o;
  o.max_new_tokens = 2;
  auto msg = error_of([&] { run({{1, 2}, {}}, o); });
  EXPECT_MSG(msg, "prompt 1");
  EXPECT_MSG(msg, "empty");
  msg = error_of([&] { run({{1, 64}}, o); });
  EXPECT_MSG(msg, "token id 64");
  EXPECT_MSG(msg, "[0, 64)");
  msg = error_of([&] { run({{3}, {-1, 2}}, o); });
  EXPECT_MSG(msg, "prompt 1");
  EXPECT_MSG(msg, "-1");
  EXPECT_MSG(error_of([&] { run({}, o); }), "no prompts");
}

}  // namespace
