// CUDA: the fixtures' models on the GPU against transformers' float64 logits, in float32 and bfloat16,
// and left-padded batches through the fused attention path. Skips cleanly without CUDA.
//
// Tolerances. float32: 1e-4 relative L2, as on the CPU (libtorch leaves TF32 off for float32
// matmuls by default). bfloat16 keeps 8 significant bits (unit roundoff 2^-9 ≈ 2e-3) and every
// weight, activation and product rounds, so the error is 1e-2-ish and depends on the model; the
// oracle is transformers itself: tests/fixtures/hf_bf16_error.json holds transformers' own bf16
// error against the same float64 reference on the GPU (tests/reference/hf_bf16_error.py), and
// retain must stay within 1.5× of it (rounding order differs, so equality is not expected).
#include "common/toy_run.h"
#include "retain/core/torch_compat.h"
#include "retain/io/safetensors.h"
#include "retain/model/loader.h"
#include "retain/model/lora.h"

#include "retain/core/json.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;

class Cuda : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!retain::compat::cuda_available()) GTEST_SKIP() << "CUDA not available";
  }
};

double logits_error(const std::string& name, at::ScalarType dtype) {
  const bool adapter = name.rfind("lora", 0) == 0;
  auto model = retain::load_model(fixtures() / "models" / (adapter ? "llama_gqa" : name), {dtype, at::Device("cuda")});
  if (adapter) retain::load_peft_adapter(model, fixtures() / "adapters" / name);
  auto ref = retain::safetensors::File::open(fixtures() / (adapter ? "adapters" : "models") / (name + ".reference.safetensors"));
  torch::NoGradGuard no_grad;
  double worst = 0;
  for (int i = 0; ref.contains("input." + std::to_string(i)); ++i) {
    auto ids = ref.tensor("input." + std::to_string(i)).to(at::Device("cuda")).unsqueeze(0);
    worst = std::max(worst, relative_error(model->forward({ids, {}, {}, nullptr})[0], ref.tensor("logits." + std::to_string(i))));
  }
  return worst;
}

TEST_P(Cuda, Float32AndBfloat16LogitsMatchTransformers) {
  const double fp32 = logits_error(GetParam(), at::kFloat);
  const double bf16 = logits_error(GetParam(), at::kBFloat16);
  std::cout << "[ cuda ] " << GetParam() << ": relative error float32 " << fp32 << ", bfloat16 " << bf16 << std::endl;
  EXPECT_LT(fp32, 1e-4);
  const auto hf = retain::read_json_file(fixtures() / "hf_bf16_error.json");
  ASSERT_TRUE(hf.contains(GetParam())) << "hf_bf16_error.json has no entry for " << GetParam();
  const double bound = 1.5 * hf[GetParam()].get<double>();
  std::cout << "[ cuda ] " << GetParam() << ": transformers bfloat16 " << hf[GetParam()].get<double>() << std::endl;
  EXPECT_LT(bf16, bound);
}

TEST_P(Cuda, LeftPaddedBatchEqualsEachSequenceAlone) {
  if (GetParam().rfind("lora", 0) == 0) GTEST_SKIP() << "base models only";
  auto model = retain::load_model(fixtures() / "models" / GetParam(), {at::kFloat, at::Device("cuda")});
  auto ref = retain::safetensors::File::open(fixtures() / "models" / (GetParam() + ".reference.safetensors"));
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> seqs;
  int64_t width = 0;
  for (int i = 0; ref.contains("input." + std::to_string(i)); ++i) {
    seqs.push_back(ref.tensor("input." + std::to_string(i)));
    width = std::max(width, seqs.back().size(0));
  }
  const int64_t batch = static_cast<int64_t>(seqs.size());
  auto ids = at::zeros({batch, width}, at::kLong), mask = at::zeros({batch, width}, at::kLong);
  for (int64_t r = 0; r < batch; ++r) {
    const int64_t n = seqs[r].size(0);
    ids[r].narrow(0, width - n, n).copy_(seqs[r]);
    mask[r].narrow(0, width - n, n).fill_(1);
  }
  auto logits = model->forward({ids.cuda(), mask.cuda(), {}, nullptr});
  for (int64_t r = 0; r < batch; ++r) {
    const int64_t n = seqs[r].size(0);
    auto alone = model->forward({seqs[r].cuda().unsqueeze(0), {}, {}, nullptr})[0];
    EXPECT_LT(relative_error(logits[r].narrow(0, width - n, n), alone), 1e-5) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Tiny, Cuda,
                         ::testing::Values("llama_gqa", "llama_sharded", "qwen2", "qwen3", "mistral", "lora_qv",
                                           "lora_patterns"));

}  // namespace
