// General ability kept (train/general_text.h): the held-out general text's language-modelling loss
// in every row of a run. Oracles: window arithmetic counted by hand; the loss equals the mean
// cross-entropy of a direct forward over the same ids (float64, 1e-12); row 0 equals the base
// model's loss for every method; seqft changes it and inclora, whose adapters stay, changes it too,
// while a method whose deployed model is the base (none trained: lr tiny) leaves it.
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/model/loader.h"
#include "retain/train/general_text.h"
#include "retain/train/loss.h"
#include "retain/train/runner.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;

TEST(GeneralText, DocumentsAreReadStrictlyAndResolvedFromTheSetting) {
  const auto root = temp_dir("general_text");
  retain::write_file_atomic(root / "docs.jsonl", "{\"text\": \"one two\"}\n\n{\"text\": \"three\"}\n");
  EXPECT_EQ(retain::read_general_documents(root / "docs.jsonl"), (std::vector<std::string>{"one two", "three"}));
  retain::write_file_atomic(root / "docs.txt", "first line\n  \nsecond line\n");
  EXPECT_EQ(retain::read_general_documents(root / "docs.txt"), (std::vector<std::string>{"first line", "second line"}));
  retain::write_file_atomic(root / "bad.jsonl", "{\"text\": \"fine\"}\n{\"body\": 3}\n");
  const auto e = error_of([&] { retain::read_general_documents(root / "bad.jsonl"); });
  EXPECT_MSG(e, "bad.jsonl:2");
  retain::write_file_atomic(root / "empty.txt", "\n\n");
  EXPECT_MSG(error_of([&] { retain::read_general_documents(root / "empty.txt"); }), "holds no document");
  EXPECT_FALSE(retain::resolve_general_text("off", root));
  EXPECT_FALSE(retain::resolve_general_text("auto", root));  // no general_text.jsonl in root
  retain::write_file_atomic(root / "general_text.jsonl", "{\"text\": \"x\"}\n");
  EXPECT_EQ(*retain::resolve_general_text("auto", root), root / "general_text.jsonl");
  EXPECT_MSG(error_of([&] { retain::resolve_general_text((root / "missing.txt").string(), root); }), "no such file");
}

TEST(GeneralText, WindowsOverlapByOneAndStopAtTheTokenBudget) {
  const auto tok = tiny_tokenizer();
  const std::vector<std::string> docs = {"the quick brown fox jumps over the lazy dog", "a second document", "third"};
  const auto all = retain::prepare_general_text(tok, docs, 2, 4, 1000);
  // The stream: each document as prefix + ids + eos.
  std::vector<int64_t> stream;
  for (const auto& d : docs) {
    const auto prefix = retain::special_prefix(tok, d);
    stream.insert(stream.end(), prefix.begin(), prefix.end());
    const auto ids = tok.encode(d, false);
    stream.insert(stream.end(), ids.begin(), ids.end());
    stream.push_back(2);
  }
  EXPECT_EQ(all.tokens, static_cast<int64_t>(stream.size()) - 1);  // every id but the first is predicted once
  EXPECT_EQ(all.documents, 3);
  std::vector<int64_t> joined = all.windows.front();
  for (size_t w = 1; w < all.windows.size(); ++w) {
    EXPECT_EQ(all.windows[w].front(), all.windows[w - 1].back());  // overlap by one id
    joined.insert(joined.end(), all.windows[w].begin() + 1, all.windows[w].end());
    if (w + 1 < all.windows.size()) {
      EXPECT_EQ(all.windows[w].size(), 5u);
    }
  }
  EXPECT_EQ(joined, stream);
  const auto few = retain::prepare_general_text(tok, docs, 2, 4, 6);
  EXPECT_EQ(few.tokens, 6);
  ASSERT_EQ(few.windows.size(), 2u);
  EXPECT_EQ(few.windows[1].size(), 3u);
}

TEST(GeneralText, LossIsTheMeanCrossEntropyOfEveryPredictedToken) {
  const auto tok = tiny_tokenizer();
  auto model = retain::load_model(kTinyModel, {at::kDouble, at::kCPU});
  const auto text = retain::prepare_general_text(tok, {"the quick brown fox", "jumps over the lazy dog again"}, 2, 5, 100);
  double sum = 0;
  int64_t count = 0;
  torch::NoGradGuard no_grad;
  for (const auto& w : text.windows) {
    retain::ForwardInput in;
    in.input_ids = at::tensor(w, at::kLong).unsqueeze(0);
    const auto logp = at::log_softmax(model->forward(in), -1);
    for (size_t p = 0; p + 1 < w.size(); ++p, ++count) sum -= logp[0][static_cast<int64_t>(p)][w[p + 1]].item<double>();
  }
  ASSERT_EQ(count, text.tokens);
  for (int64_t batch : {1, 3}) EXPECT_NEAR(retain::general_text_loss(model, text, batch), sum / count, 1e-12 * sum);
}

TEST(GeneralText, EveryRowOfARunMeasuresIt) {
  const auto root = temp_dir("general_run");
  const auto tasks = two_toy_tasks(root, 2);
  retain::write_file_atomic(root / "general.txt", "the quick brown fox jumps over the lazy dog\nanother line of text\n");
  auto c = toy_run_config();
  c.optim.lr = 2e-2;
  c.eval.general_text = (root / "general.txt").string();
  const auto tok = tiny_tokenizer();
  auto base = retain::load_model(kTinyModel);
  const auto text = retain::prepare_general_text(tok, retain::read_general_documents(root / "general.txt"),
                                                 base->config.eos_token_ids.front(),
                                                 std::min(c.run.max_length, base->config.max_position_embeddings) - 1,
                                                 c.eval.general_tokens);
  const double base_loss = retain::general_text_loss(base, text, 4);
  for (const std::string method : {"seqft", "inclora"}) {
    const auto r = retain::run_method(method, kTinyModel, tasks, c, root / "out");
    ASSERT_TRUE(r.general_loss) << method;
    ASSERT_EQ(r.general_loss->size(), 3u);
    EXPECT_NEAR(r.general_loss->front(), base_loss, 1e-5 * base_loss) << method;
    EXPECT_GT(std::abs(r.general_loss->back() - base_loss), 1e-4) << method << ": training changed nothing";
    const auto back = retain::read_results_json(root / "out" / method / "results.json");
    EXPECT_EQ(*back.general_loss, *r.general_loss);
    EXPECT_EQ(back.config["general_text"]["tokens"].get<int64_t>(), text.tokens);
  }
  c.eval.general_text = "off";
  EXPECT_FALSE(retain::run_method("seqft", kTinyModel, tasks, c, root / "off").general_loss);
}

}  // namespace
