// Tokenization with an answer-only loss mask, padding, and the seeded length-grouping sampler, on the
// real tiny byte-level tokenizer (<|pad|> = 0, <|bos|> = 1, <|eos|> = 2; its post-processor adds
// <|bos|> … <|eos|>).
#include "common/test_support.h"
#include "retain/data/batching.h"
#include "retain/data/ignore_index.h"
#include "retain/data/prompt.h"

#include <gtest/gtest.h>

#include <random>

namespace {

constexpr int64_t kPad = 0, kBos = 1, kEos = 2;

const retain::Tokenizer& tokenizer() {
  static auto t = retain::Tokenizer::from_file(retain::testing::fixtures() / "tokenizers" / "tiny_bytelevel" /
                                               "tokenizer.json");
  return t;
}

retain::TokenizeOptions options(int64_t max_length = 1024) {
  retain::TokenizeOptions o;
  o.max_length = max_length;
  o.eos_token_id = kEos;
  return o;
}

std::vector<int64_t> concat(std::initializer_list<std::vector<int64_t>> parts) {
  std::vector<int64_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(Tokenize, SpecialPrefixIsThePostProcessorsBosOnly) {
  ASSERT_EQ(tokenizer().token_to_id("<|bos|>"), kBos);
  ASSERT_EQ(tokenizer().token_to_id("<|eos|>"), kEos);
  EXPECT_EQ(retain::special_prefix(tokenizer(), "Answer:"), (std::vector<int64_t>{kBos}));
}

TEST(Tokenize, PromptThenTargetThenEos) {
  const std::string prompt = "Task:SC\nDataset:x\nOption: negative, positive \nGreat film.\nAnswer:";
  auto example = retain::tokenize_example(tokenizer(), prompt, " positive", options());
  const auto body = tokenizer().encode(prompt, false), target = tokenizer().encode(" positive", false);
  EXPECT_EQ(example.ids, concat({{kBos}, body, target, {kEos}}));
  EXPECT_EQ(example.prompt_length, static_cast<int64_t>(1 + body.size()));
  auto no_bos = options();
  no_bos.add_special_tokens = false;
  EXPECT_EQ(retain::tokenize_example(tokenizer(), prompt, " positive", no_bos).ids, concat({body, target, {kEos}}));
}

// For byte-level BPE and the O-LoRA format, separate tokenization equals HF's joint tokenization.
TEST(Tokenize, SeparateEqualsJointForOLoRAPromptsOnByteLevelBpe) {
  auto task = retain::load_task(retain::testing::fixtures() / "data" / "sentiment");
  for (const auto& e : task.train) {
    const auto prompt = retain::format_prompt(task, e), target = retain::format_target(task, e);
    EXPECT_EQ(tokenizer().encode(prompt + target, false),
              concat({tokenizer().encode(prompt, false), tokenizer().encode(target, false)}))
        << prompt;
  }
}

TEST(Tokenize, LossMaskCoversExactlyTheTargetAndEos) {
  auto task = retain::load_task(retain::testing::fixtures() / "data" / "sentiment");
  auto examples = retain::tokenize_examples(tokenizer(), task, task.train, options());
  ASSERT_EQ(examples.size(), 4u);
  const std::vector<int64_t> rows = {1, 0, 3};
  auto batch = retain::collate(examples, rows, kPad);
  EXPECT_EQ(batch.example_indices, rows);
  ASSERT_EQ(batch.input_ids.dim(), 2);
  size_t longest = 0;
  for (auto r : rows) longest = std::max(longest, examples[r].ids.size());
  ASSERT_EQ(batch.input_ids.size(0), 3);
  ASSERT_EQ(batch.input_ids.size(1), static_cast<int64_t>(longest));
  for (int64_t r = 0; r < 3; ++r) {
    const auto& ex = examples[rows[r]];
    const std::string target = retain::format_target(task, task.train[rows[r]]);
    std::vector<int64_t> carried;
    for (int64_t t = 0; t < batch.input_ids.size(1); ++t) {
      const int64_t id = batch.input_ids[r][t].item<int64_t>(), label = batch.labels[r][t].item<int64_t>();
      const int64_t mask = batch.attention_mask[r][t].item<int64_t>();
      const bool real = t < static_cast<int64_t>(ex.ids.size());
      EXPECT_EQ(mask, real ? 1 : 0);
      EXPECT_EQ(id, real ? ex.ids[t] : kPad);
      if (real && t >= ex.prompt_length) {
        EXPECT_EQ(label, id);
        carried.push_back(label);
      } else {
        EXPECT_EQ(label, retain::kIgnoreIndex) << "row " << r << " position " << t;
      }
    }
    // What carries loss decodes to exactly " label<|eos|>".
    EXPECT_EQ(tokenizer().decode(carried), target + "<|eos|>");
    EXPECT_EQ(tokenizer().decode({ex.ids.begin() + 1, ex.ids.begin() + ex.prompt_length}),
              retain::format_prompt(task, task.train[rows[r]]));
  }
}

TEST(Tokenize, TruncationDropsPromptFromTheLeftAndKeepsTarget) {
  const std::string prompt = "one two three four five six seven eight nine ten\nAnswer:";
  const auto body = tokenizer().encode(prompt, false), target = tokenizer().encode(" positive", false);
  const int64_t max_length = 1 + 3 + static_cast<int64_t>(target.size()) + 1;  // bos, 3 prompt tokens, target, eos
  ASSERT_GT(body.size(), 3u);
  auto ex = retain::tokenize_example(tokenizer(), prompt, " positive", options(max_length));
  EXPECT_EQ(static_cast<int64_t>(ex.ids.size()), max_length);
  EXPECT_EQ(ex.prompt_length, 4);
  EXPECT_EQ(ex.ids, concat({{kBos}, {body.end() - 3, body.end()}, target, {kEos}}));

  // A target longer than the budget: one prompt token stays, the target is cut from the right.
  auto long_target = retain::tokenize_example(tokenizer(), prompt, " positive negative positive", options(4));
  const auto long_ids = tokenizer().encode(" positive negative positive", false);
  ASSERT_GE(long_ids.size(), 3u);
  EXPECT_EQ(long_target.ids, (std::vector<int64_t>{kBos, body.back(), long_ids[0], long_ids[1]}));
  EXPECT_EQ(long_target.prompt_length, 2);
}

TEST(Tokenize, PromptForGenerationKeepsItsEnd) {
  const std::string prompt = "one two three four five\nAnswer:";
  const auto body = tokenizer().encode(prompt, false);
  EXPECT_EQ(retain::tokenize_prompt(tokenizer(), prompt, options()), concat({{kBos}, body}));
  EXPECT_EQ(retain::tokenize_prompt(tokenizer(), prompt, options(3)), (std::vector<int64_t>{kBos, body[body.size() - 2], body.back()}));
}

TEST(Tokenize, BadOptions) {
  retain::TokenizeOptions no_eos;
  auto message = retain::testing::error_of([&] { retain::tokenize_example(tokenizer(), "a", "b", no_eos); });
  EXPECT_MSG(message, "[data] TokenizeOptions::eos_token_id is not set");
  message = retain::testing::error_of([&] { retain::tokenize_example(tokenizer(), "a", "b", options(2)); });
  EXPECT_MSG(message, "max_length 2 cannot hold");
  message = retain::testing::error_of([&] { retain::collate({}, {0}, kPad); });
  EXPECT_MSG(message, "example index 0 is out of range");
}

TEST(Padding, LeftAndRight) {
  const std::vector<std::vector<int64_t>> seqs = {{5, 6, 7}, {8}};
  auto left = retain::left_pad(seqs, kPad);
  EXPECT_TRUE(left.input_ids.equal(at::tensor(std::vector<int64_t>{5, 6, 7, 0, 0, 8}).view({2, 3})));
  EXPECT_TRUE(left.attention_mask.equal(at::tensor(std::vector<int64_t>{1, 1, 1, 0, 0, 1}).view({2, 3})));
  auto right = retain::right_pad(seqs, 9);
  EXPECT_TRUE(right.input_ids.equal(at::tensor(std::vector<int64_t>{5, 6, 7, 8, 9, 9}).view({2, 3})));
  EXPECT_TRUE(right.attention_mask.equal(at::tensor(std::vector<int64_t>{1, 1, 1, 1, 0, 0}).view({2, 3})));
  EXPECT_EQ(left.input_ids.scalar_type(), at::kLong);
}

// ---- sampler ----------------------------------------------------------------------------------

std::vector<int64_t> skewed_lengths(size_t n) {
  // 90% short (5–20 tokens), 10% long (200–500): a typical mix of short and long-document tasks.
  std::mt19937_64 rng(7);
  std::vector<int64_t> lengths(n);
  for (auto& l : lengths) l = (rng() % 10 == 0) ? 200 + static_cast<int64_t>(rng() % 301) : 5 + static_cast<int64_t>(rng() % 16);
  return lengths;
}

retain::BatchSamplerOptions sampler_options(uint64_t seed, bool group) {
  retain::BatchSamplerOptions o;
  o.batch_size = 8;
  o.seed = seed;
  o.group_by_length = group;
  o.window_batches = 10;
  return o;
}

TEST(BatchSampler, SameSeedSameBatchesOtherSeedOrEpochOthers) {
  const auto lengths = skewed_lengths(203);
  for (bool group : {false, true}) {
    retain::BatchSampler a(lengths, sampler_options(42, group)), b(lengths, sampler_options(42, group));
    retain::BatchSampler c(lengths, sampler_options(43, group));
    EXPECT_EQ(a.batches(0), b.batches(0));
    EXPECT_EQ(a.batches(5), b.batches(5));
    EXPECT_NE(a.batches(0), c.batches(0));
    EXPECT_NE(a.batches(0), a.batches(1));
  }
}

TEST(BatchSampler, EveryExampleExactlyOncePerEpoch) {
  const auto lengths = skewed_lengths(203);  // not a multiple of 8: one smaller batch
  for (bool group : {false, true}) {
    retain::BatchSampler sampler(lengths, sampler_options(1, group));
    EXPECT_EQ(sampler.num_batches(), 26);
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      auto batches = sampler.batches(epoch);
      ASSERT_EQ(static_cast<int64_t>(batches.size()), sampler.num_batches());
      std::vector<int> seen(lengths.size(), 0);
      int smaller = 0;
      for (const auto& batch : batches) {
        smaller += batch.size() < 8;
        for (auto i : batch) ++seen.at(i);
      }
      EXPECT_EQ(smaller, 1);
      for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << "example " << i << " epoch " << epoch;
    }
  }
}

TEST(BatchSampler, DropLastAndNoShuffle) {
  std::vector<int64_t> lengths(10, 1);
  auto o = sampler_options(0, false);
  o.batch_size = 4;
  o.shuffle = false;
  retain::BatchSampler ordered(lengths, o);
  EXPECT_EQ(ordered.batches(3), (std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}));
  o.drop_last = true;
  retain::BatchSampler dropping(lengths, o);
  EXPECT_EQ(dropping.num_batches(), 2);
  EXPECT_EQ(dropping.batches(0), (std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  o.batch_size = 0;
  auto message = retain::testing::error_of([&] { retain::BatchSampler(lengths, o); });
  EXPECT_MSG(message, "batch_size must be at least 1");
}

// mt19937_64, seed_seq and our Fisher–Yates are specified exactly by the C++ standard, so these batches
// must come out on every platform and library. Oracle: tests/fixtures/data/sampler_pin.py, the same
// algorithms written independently in Python from the standard's text. A change here would also break
// resuming runs started with an earlier build.
TEST(BatchSampler, BatchesArePinned) {
  std::vector<int64_t> lengths(10, 1);
  auto o = sampler_options(1234, false);
  o.batch_size = 3;
  retain::BatchSampler sampler(lengths, o);
  const auto batches = sampler.batches(0);
  std::string text;
  for (const auto& b : batches) {
    for (auto i : b) text += std::to_string(i) + ",";
    text += ";";
  }
  EXPECT_EQ(text, "3,1,6,;5,8,4,;7,0,2,;9,;");
}

TEST(BatchSampler, LengthGroupingCutsPadding) {
  const auto lengths = skewed_lengths(2000);
  const double grouped = retain::padding_fraction(retain::BatchSampler(lengths, sampler_options(3, true)).batches(0), lengths);
  const double random = retain::padding_fraction(retain::BatchSampler(lengths, sampler_options(3, false)).batches(0), lengths);
  // With 10% long examples most random batches of 8 hold one, so most of a random batch is padding.
  EXPECT_GT(random, 0.5);
  // Grouped batches still pad short examples (5–20 tokens) to their batch's longest: about 1/3 padding.
  EXPECT_LT(grouped, random / 2) << "grouped " << grouped << " random " << random;
}

TEST(BatchSampler, PaddingFractionByHand) {
  EXPECT_DOUBLE_EQ(retain::padding_fraction({{0, 1}}, {2, 4}), 0.25);          // 1 − 6 / (2 × 4)
  EXPECT_DOUBLE_EQ(retain::padding_fraction({{0}, {1}}, {2, 4}), 0.0);
  EXPECT_DOUBLE_EQ(retain::padding_fraction({{0, 1, 2}}, {1, 1, 4}), 0.5);      // 1 − 6 / 12
}

}  // namespace
