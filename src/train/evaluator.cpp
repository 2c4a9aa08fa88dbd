#include "retain/train/evaluator.h"

#include "retain/core/error.h"
#include "retain/data/prompt.h"
#include "retain/eval/results.h"
#include "retain/eval/scoring.h"
#include "retain/model/generation.h"
#include "retain/train/loss.h"

namespace retain {

namespace {

std::vector<Example> scored_examples(const Task& task, const EvalSettings& s) {
  std::vector<Example> out = task.test;
  if (s.max_examples > 0 && static_cast<int64_t>(out.size()) > s.max_examples) out.resize(s.max_examples);
  RETAIN_CHECK(!out.empty(), "eval", "task \"{}\" has an empty test split", task.name);
  return out;
}

std::vector<std::string> generate_answers(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                                          const std::vector<Example>& examples, const TokenizeOptions& tokenize,
                                          const EvalSettings& s) {
  GenerationOptions g;
  g.max_new_tokens = s.max_new_tokens;
  g.eos_token_ids = model->config.eos_token_ids;
  if (tokenize.eos_token_id && std::find(g.eos_token_ids.begin(), g.eos_token_ids.end(), *tokenize.eos_token_id) ==
                                   g.eos_token_ids.end())
    g.eos_token_ids.push_back(*tokenize.eos_token_id);
  g.pad_token_id = model->config.pad_token_id.value_or(0);
  std::vector<std::string> answers;
  for (size_t first = 0; first < examples.size(); first += static_cast<size_t>(s.batch_size)) {
    const size_t last = std::min(examples.size(), first + static_cast<size_t>(s.batch_size));
    std::vector<std::vector<int64_t>> prompts;
    for (size_t i = first; i < last; ++i)
      prompts.push_back(tokenize_prompt(tokenizer, format_prompt(task, examples[i]), tokenize));
    for (const auto& ids : generate(model, prompts, g))
      answers.push_back(first_answer_line(tokenizer.decode(ids, /*skip_special_tokens=*/true)));
  }
  return answers;
}

// Rank scoring: summed log-likelihood of each label's target tokens (and eos) after the prompt.
std::vector<std::string> rank_answers(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                                      const std::vector<Example>& examples, const TokenizeOptions& tokenize,
                                      const EvalSettings& s) {
  RETAIN_CHECK(task.type == TaskType::Classification && !task.labels.empty(), "eval",
               "task \"{}\": rank scoring needs a classification task with labels", task.name);
  const auto device = model->model->embed_tokens->weight.device();
  const int64_t pad = model->config.pad_token_id.value_or(0);
  torch::NoGradGuard no_grad;
  std::vector<std::string> answers;
  for (const auto& example : examples) {
    std::vector<TokenizedExample> candidates;
    for (const auto& label : task.labels) {
      Example as_label{example.input, label};
      candidates.push_back(tokenize_example(tokenizer, format_prompt(task, as_label), format_target(task, as_label), tokenize));
    }
    std::vector<double> scores;
    for (size_t first = 0; first < candidates.size(); first += static_cast<size_t>(s.batch_size)) {
      std::vector<int64_t> rows;
      for (size_t i = first; i < std::min(candidates.size(), first + static_cast<size_t>(s.batch_size)); ++i)
        rows.push_back(static_cast<int64_t>(i));
      Batch batch = collate(candidates, rows, pad);
      ForwardInput in;
      in.input_ids = batch.input_ids.to(device);
      in.attention_mask = batch.attention_mask.to(device);
      // A routed model (asr) routes on the prompt alone: every candidate row gets the prompt's route.
      in.route_mask = in.attention_mask * batch.labels.to(device).eq(kIgnoreIndex);
      auto logp = at::log_softmax(model->forward(in).to(at::kFloat), -1);  // (B, T, V)
      auto labels = batch.labels.to(device).narrow(1, 1, batch.labels.size(1) - 1);
      auto mask = labels.ne(kIgnoreIndex);
      auto picked = logp.narrow(1, 0, logp.size(1) - 1).gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1);
      auto row_scores = (picked * mask).sum(-1).to(at::kCPU);
      for (int64_t r = 0; r < row_scores.size(0); ++r) scores.push_back(row_scores[r].item<double>());
    }
    const auto best = std::max_element(scores.begin(), scores.end()) - scores.begin();
    answers.push_back(task.labels[best]);
  }
  return answers;
}

}  // namespace

TaskEvaluation evaluate_task(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                             const TokenizeOptions& tokenize, const EvalSettings& s) {
  RETAIN_CHECK(s.batch_size >= 1, "eval", "eval.batch_size must be at least 1, got {}", s.batch_size);
  const auto examples = scored_examples(task, s);
  const Scoring scoring = parse_scoring(s.scoring);
  model->eval();
  TaskEvaluation result;
  result.predictions = scoring == Scoring::Rank ? rank_answers(model, tokenizer, task, examples, tokenize, s)
                                                : generate_answers(model, tokenizer, task, examples, tokenize, s);
  std::vector<std::string> references;
  for (const auto& e : examples) references.push_back(e.output);
  result.score = mean_score(parse_metric(task.metric), result.predictions, references);
  return result;
}

}  // namespace retain
