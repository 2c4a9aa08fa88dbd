// Batched rank scoring (train/evaluator.h: the prompts run once, left-padded into a KV cache, then
// each label's answer tokens as decode steps) against the oracle it replaced: one right-padded
// forward per label candidate, the full (T, vocab) log-softmax, the answer tokens' log-probabilities
// summed. float64 on the tiny fixture model, so the two differ only by summation order and padding
// side (1e-10 relative); the answers, argmax of the scores, must then be identical. Also with prompts
// truncated (each answer length keeps a different part of the prompt, so labels need their own
// prefill) and through the routed models (ASR, SETA), where every candidate row must take its
// prompt's route.
#include "common/toy_run.h"
#include "retain/data/prompt.h"
#include "retain/train/evaluator.h"
#include "retain/train/loss.h"
#include "retain/train/methods/asr.h"
#include "retain/train/methods/seta.h"
#include "retain/train/runner.h"

#include <gtest/gtest.h>

namespace {

using namespace retain::testing;

// The scores as the evaluator computed them before batching: one candidate at a time.
at::Tensor one_by_one(retain::CausalLM& model, const retain::Tokenizer& tok, const retain::Task& task,
                      const std::vector<retain::Example>& examples, const retain::TokenizeOptions& o) {
  torch::NoGradGuard no_grad;
  auto out = at::zeros({static_cast<int64_t>(examples.size()), static_cast<int64_t>(task.labels.size())}, at::kDouble);
  for (size_t e = 0; e < examples.size(); ++e)
    for (size_t l = 0; l < task.labels.size(); ++l) {
      retain::Example as_label{examples[e].input, task.labels[l]};
      const auto ex = retain::tokenize_example(tok, retain::format_prompt(task, as_label),
                                               retain::format_target(task, as_label), o);
      const auto batch = retain::collate({ex}, {0}, 0);
      retain::ForwardInput in;
      in.input_ids = batch.input_ids;
      in.attention_mask = batch.attention_mask;
      in.route_mask = batch.attention_mask * batch.labels.eq(retain::kIgnoreIndex);
      const auto logp = at::log_softmax(model->forward(in).to(at::kDouble), -1);
      double sum = 0;
      for (int64_t p = ex.prompt_length; p < static_cast<int64_t>(ex.ids.size()); ++p)
        sum += logp[0][p - 1][ex.ids[p]].item<double>();
      out[e][l] = sum;
    }
  return out;
}

retain::Task labelled_task(const fs::path& root) {
  auto task = retain::load_task(make_task(root, "colors", {"red", "blue", "green", "dark purple"}, 1));
  task.test = {{"say red", "red"}, {"say dark purple please", "dark purple"}, {"blue", "blue"},
               {"a longer sentence that says green", "green"}, {"say", "red"}};
  return task;
}

TEST(RankScoring, BatchedScoresEqualOneForwardPerCandidate) {
  const auto root = temp_dir("rank");
  const auto task = labelled_task(root);
  const auto tok = tiny_tokenizer();
  auto run = make_run({task}, at::kDouble, tok);
  const auto reference = one_by_one(run.model, tok, task, task.test, run.tokenize);
  for (int64_t batch : {1, 2, 5, 16}) {
    SCOPED_TRACE(batch);
    const auto scores = retain::rank_label_scores(run.model, tok, task, task.test, run.tokenize, batch);
    ASSERT_EQ(scores.sizes(), reference.sizes());
    EXPECT_LT(relative_error(scores, reference), 1e-10);
    EXPECT_TRUE(at::equal(scores.argmax(1), reference.argmax(1)));
  }
  // The answers the evaluator gives are the argmax, the first label on ties.
  retain::EvalSettings s;
  s.scoring = "rank";
  s.batch_size = 2;
  const auto eval = retain::evaluate_examples(run.model, tok, task, task.test, run.tokenize, s);
  const auto best = reference.argmax(1);
  for (size_t e = 0; e < task.test.size(); ++e)
    EXPECT_EQ(eval.predictions[e], task.labels[best[e].item<int64_t>()]) << "example " << e;
}

TEST(RankScoring, ARoutedModelRoutesEveryCandidateOnItsPrompt) {
  // ASR after two tasks: batched rows of several examples (each its own route) score as alone.
  const auto root = temp_dir("rank_routed");
  const auto tasks = two_toy_tasks(root, 2);
  const auto tok = tiny_tokenizer();
  auto run = make_run(tasks, at::kDouble, tok);
  retain::AsrSettings a;
  a.expansion_dim = 64;
  a.feature_layers = 1;
  a.lora.dropout = 0;
  retain::ASR asr(a);
  asr.on_run_start(run);
  retain::OptimizerSettings o;
  o.lr = 5e-2;
  o.batch_size = 2;
  for (int64_t t = 0; t < 2; ++t) {
    retain::TaskContext ctx{run, t};
    retain::train_task(asr, ctx, o);
  }
  asr.prepare_evaluation(run, 2);
  std::vector<retain::Example> mixed = {{"say red", "red"}, {"say cat", "cat"}, {"say blue", "blue"}, {"say dog", "dog"}};
  for (const auto& task : tasks) {
    const auto reference = one_by_one(run.model, tok, task, mixed, run.tokenize);
    const auto scores = retain::rank_label_scores(run.model, tok, task, mixed, run.tokenize, 4);
    EXPECT_LT(relative_error(scores, reference), 1e-10) << task.name;
  }
}

TEST(RankScoring, TruncatedPromptsKeepEachLabelsOwnPromptPart) {
  // max_length 9: "dark purple" (3 answer tokens with eos) keeps fewer prompt tokens than "red", so
  // the batch needs one prefill per answer length; at 4 the longest answer itself is cut.
  const auto root = temp_dir("rank_truncated");
  const auto task = labelled_task(root);
  const auto tok = tiny_tokenizer();
  auto run = make_run({task}, at::kDouble, tok);
  for (int64_t max_length : {9, 5, 4}) {
    SCOPED_TRACE(max_length);
    run.tokenize.max_length = max_length;
    const auto reference = one_by_one(run.model, tok, task, task.test, run.tokenize);
    for (int64_t batch : {1, 5}) {
      const auto scores = retain::rank_label_scores(run.model, tok, task, task.test, run.tokenize, batch);
      EXPECT_LT(relative_error(scores, reference), 1e-10) << "batch " << batch;
    }
  }
}

TEST(RankScoring, SetasGateRoutesEveryCandidateOnItsPrompt) {
  const auto root = temp_dir("rank_seta");
  const auto tasks = two_toy_tasks(root, 2);
  const auto tok = tiny_tokenizer();
  auto run = make_run(tasks, at::kDouble, tok);
  retain::SetaSettings settings;
  settings.density = 0.2;
  settings.gate_steps = 50;
  settings.importance_samples = 4;
  retain::SETA seta(settings);
  seta.on_run_start(run);
  retain::OptimizerSettings o;
  o.lr = 5e-2;
  o.batch_size = 2;
  o.max_steps = 3;
  for (int64_t t = 0; t < 2; ++t) {
    retain::TaskContext ctx{run, t};
    retain::train_task(seta, ctx, o);
  }
  seta.prepare_evaluation(run, 2);
  ASSERT_NE(run.model->router, nullptr);
  std::vector<retain::Example> mixed = {{"say red", "red"}, {"say cat", "cat"}, {"say blue", "blue"}, {"say dog", "dog"}};
  for (const auto& task : tasks) {
    const auto reference = one_by_one(run.model, tok, task, mixed, run.tokenize);
    const auto scores = retain::rank_label_scores(run.model, tok, task, mixed, run.tokenize, 4);
    EXPECT_LT(relative_error(scores, reference), 1e-10) << task.name;
  }
}

}  // namespace
