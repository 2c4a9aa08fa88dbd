// The base models retain ships (models/retain-tiny, models/retain-small; docs/models.md): each loads
// with the architecture its PROVENANCE.md states, its tokenizer round-trips text, and it still
// predicts its own held-out general text about as well as when it was pretrained. The loss bound
// catches corrupted or mismatched weights: a model that lost its training scores near ln(vocab)
// (9.0 for 8,192 tokens, 9.7 for 16,384). On the first 4,096 tokens of their general_text.jsonl the
// shipped models score 3.92 (tiny: Austen paragraphs) and 3.32 (small); the bound is 4.5.
#include "retain/io/safetensors.h"
#include "retain/model/loader.h"
#include "retain/tokenizer/tokenizer.h"
#include "retain/train/general_text.h"

#include "common/test_support.h"

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

struct Shipped {
  const char* folder;
  int64_t parameters;
  int64_t vocab;
  int64_t layers;
  int64_t hidden;
  at::ScalarType stored;
};

class ShippedModel : public ::testing::TestWithParam<Shipped> {};

TEST_P(ShippedModel, LoadsTokenizesAndPredictsItsHeldOutText) {
  const Shipped s = GetParam();
  const fs::path dir = retain::testing::source_dir() / "models" / s.folder;
  retain::CausalLM model = retain::load_model(dir);
  const auto& config = model->config;
  EXPECT_EQ(config.vocab_size, s.vocab);
  EXPECT_EQ(config.num_hidden_layers, s.layers);
  EXPECT_EQ(config.hidden_size, s.hidden);
  int64_t parameters = 0;
  for (const auto& p : model->parameters()) parameters += p.numel();
  EXPECT_EQ(parameters, s.parameters);
  const auto file = retain::safetensors::File::open(dir / "model.safetensors");
  for (const auto& info : file.tensors()) EXPECT_EQ(info.dtype, s.stored) << info.name;

  const auto tokenizer = retain::Tokenizer::from_file(dir / "tokenizer.json");
  EXPECT_EQ(tokenizer.vocab_size(), s.vocab);
  const std::string text = "The package provides a library for reading compressed files — naïve café.";
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, false), true), text);

  const auto documents = retain::read_general_documents(dir / "general_text.jsonl");
  const auto windows = retain::prepare_general_text(tokenizer, documents, config.eos_token_ids.at(0), 256, 4096);
  model->eval();
  const double loss = retain::general_text_loss(model, windows, 8);
  RecordProperty("general_text_loss", std::to_string(loss));
  EXPECT_GT(loss, 1.0) << s.folder;
  EXPECT_LT(loss, 4.5) << s.folder;
}

INSTANTIATE_TEST_SUITE_P(Models, ShippedModel,
                         ::testing::Values(Shipped{"retain-tiny", 3934656, 8192, 6, 192, at::kFloat},
                                           Shipped{"retain-small", 15733632, 16384, 6, 384, at::kBFloat16}),
                         [](const auto& info) { return std::string(info.param.folder == std::string("retain-tiny") ? "tiny" : "small"); });

}  // namespace
