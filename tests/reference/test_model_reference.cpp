// Logits and greedy generation of tiny Hugging Face models (Llama GQA + llama3 rope, sharded Llama
// in the transformers-4 config dialect with linear rope, Qwen2 bf16 with biases and tied head, Qwen3
// fp16 with q/k norm and explicit head_dim, Mistral with a sliding window shorter than the inputs)
// against float64 references computed by transformers (tests/reference/make_fixtures.py).
//
// Tolerances: float32 compute, relative L2 error < 1e-4 (the bound; measured ~1e-7, float32
// rounding through 2 layers). float64 compute < 1e-5: transformers' own "float64" reference runs
// RMSNorm and the rotary angles in float32, so it is itself only float32-accurate there.
#include "common/toy_run.h"
#include "retain/io/safetensors.h"
#include "retain/model/generation.h"
#include "retain/model/loader.h"
#include "retain/model/lora.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;

struct Case {
  std::string model;
  std::string adapter;  // "" = none
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.model << (c.adapter.empty() ? "" : " + " + c.adapter); }

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.model + (info.param.adapter.empty() ? "" : "_" + info.param.adapter);
}

class ModelReference : public ::testing::TestWithParam<Case> {
 protected:
  retain::CausalLM load(at::ScalarType dtype, at::Device device) {
    auto model = retain::load_model(fixtures() / "models" / GetParam().model, {dtype, device});
    if (!GetParam().adapter.empty()) {
      EXPECT_GT(retain::load_peft_adapter(model, fixtures() / "adapters" / GetParam().adapter), 0);
    }
    return model;
  }
  retain::safetensors::File reference() {
    const auto& p = GetParam();
    return retain::safetensors::File::open(p.adapter.empty() ? fixtures() / "models" / (p.model + ".reference.safetensors")
                                                             : fixtures() / "adapters" / (p.adapter + ".reference.safetensors"));
  }
  // Max relative error over the reference inputs.
  double logits_error(at::ScalarType dtype, at::Device device) {
    auto model = load(dtype, device);
    auto ref = reference();
    torch::NoGradGuard no_grad;
    double worst = 0;
    int checked = 0;
    for (int i = 0; ref.contains("input." + std::to_string(i)); ++i, ++checked) {
      auto ids = ref.tensor("input." + std::to_string(i)).to(device).unsqueeze(0);
      auto logits = model->forward({ids, {}, {}, nullptr});
      worst = std::max(worst, relative_error(logits[0], ref.tensor("logits." + std::to_string(i))));
    }
    EXPECT_GE(checked, 4);
    return worst;
  }
};

TEST_P(ModelReference, Float32LogitsMatchTransformers) {
  const double err = logits_error(at::kFloat, at::kCPU);
  RecordProperty("relative_error", std::to_string(err));
  EXPECT_LT(err, 1e-4);
}

TEST_P(ModelReference, Float64LogitsMatchTransformers) {
  EXPECT_LT(logits_error(at::kDouble, at::kCPU), 1e-5);
}

TEST_P(ModelReference, GreedyGenerationWithLeftPaddingMatchesTransformers) {
  if (!GetParam().adapter.empty()) GTEST_SKIP() << "generation reference exists for base models only";
  auto model = load(at::kDouble, at::kCPU);
  auto ref = reference();
  auto input = ref.tensor("greedy.input"), mask = ref.tensor("greedy.attention_mask"), expected = ref.tensor("greedy.output");
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t r = 0; r < input.size(0); ++r) {
    std::vector<int64_t> p;
    for (int64_t c = 0; c < input.size(1); ++c)
      if (mask[r][c].item<int64_t>() == 1) p.push_back(input[r][c].item<int64_t>());
    prompts.push_back(p);
  }
  retain::GenerationOptions options;
  options.max_new_tokens = expected.size(1);
  auto out = retain::generate(model, prompts, options);
  ASSERT_EQ(out.size(), prompts.size());
  for (size_t r = 0; r < out.size(); ++r) {
    std::vector<int64_t> want(expected[r].data_ptr<int64_t>(), expected[r].data_ptr<int64_t>() + expected.size(1));
    EXPECT_EQ(out[r], want) << "prompt " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Tiny, ModelReference,
                         ::testing::Values(Case{"llama_gqa", ""}, Case{"llama_sharded", ""}, Case{"qwen2", ""},
                                           Case{"qwen3", ""}, Case{"mistral", ""}, Case{"llama_gqa", "lora_qv"},
                                           Case{"llama_gqa", "lora_patterns"}),
                         case_name);

}  // namespace
