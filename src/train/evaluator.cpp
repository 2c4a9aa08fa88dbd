#include "retain/train/evaluator.h"

#include "retain/core/error.h"
#include "retain/data/prompt.h"
#include "retain/eval/results.h"
#include "retain/eval/scoring.h"
#include "retain/model/generation.h"
#include "retain/train/batch_forward.h"
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

// The answer positions of each row: position p predicts token p + 1, so a row's scored positions are
// those p with labels[p + 1] != kIgnoreIndex. Padded to the row with the most (index 0, weight 0).
struct AnswerPositions {
  at::Tensor positions;  // (R, K) int64
  at::Tensor targets;    // (R, K) int64: the token each position must predict (0 on padding)
  at::Tensor weights;    // (R, K) float: 1 on real answer positions
};

AnswerPositions answer_positions(const Batch& batch) {
  const auto labels = batch.labels.narrow(1, 1, batch.labels.size(1) - 1).contiguous();  // (R, T − 1)
  const int64_t rows = labels.size(0), width = labels.size(1);
  const auto* l = labels.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> pos(rows);
  int64_t k = 1;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t p = 0; p < width; ++p)
      if (l[r * width + p] != kIgnoreIndex) pos[r].push_back(p);
    k = std::max<int64_t>(k, static_cast<int64_t>(pos[r].size()));
  }
  AnswerPositions a;
  a.positions = at::zeros({rows, k}, at::kLong);
  a.targets = at::zeros({rows, k}, at::kLong);
  a.weights = at::zeros({rows, k}, at::kFloat);
  auto* pp = a.positions.data_ptr<int64_t>();
  auto* tp = a.targets.data_ptr<int64_t>();
  auto* wp = a.weights.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (size_t i = 0; i < pos[r].size(); ++i) {
      pp[r * k + static_cast<int64_t>(i)] = pos[r][i];
      tp[r * k + static_cast<int64_t>(i)] = l[r * width + pos[r][i]];
      wp[r * k + static_cast<int64_t>(i)] = 1;
    }
  return a;
}

}  // namespace

at::Tensor rank_label_scores(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                             const std::vector<Example>& examples, const TokenizeOptions& tokenize, int64_t batch_size) {
  RETAIN_CHECK(task.type == TaskType::Classification && !task.labels.empty(), "eval",
               "task \"{}\": rank scoring needs a classification task with labels", task.name);
  RETAIN_CHECK(batch_size >= 1, "eval", "eval.batch_size must be at least 1, got {}", batch_size);
  const auto device = model->model->embed_tokens->weight.device();
  const int64_t pad = model->config.pad_token_id.value_or(0);
  const int64_t labels = static_cast<int64_t>(task.labels.size()), n = static_cast<int64_t>(examples.size());
  torch::NoGradGuard no_grad;
  // The prompt does not depend on the label, nor the target on the example: each is encoded once.
  std::vector<std::vector<int64_t>> targets;
  for (const auto& label : task.labels) targets.push_back(tokenizer.encode(format_target(task, {"", label}), false));
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < n; first += batch_size) {
    const int64_t count = std::min(batch_size, n - first);
    std::vector<TokenizedExample> rows;  // example-major: rows [e·L, (e + 1)·L) are example e's labels
    for (int64_t e = first; e < first + count; ++e) {
      const std::string prompt = format_prompt(task, examples[e]);
      const auto prefix = tokenize.add_special_tokens ? special_prefix(tokenizer, prompt) : std::vector<int64_t>{};
      const auto body = tokenizer.encode(prompt, false);
      for (int64_t l = 0; l < labels; ++l) rows.push_back(assemble_example(prefix, body, targets[l], tokenize));
    }
    std::vector<int64_t> order(rows.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
    const Batch batch = collate(rows, order, pad);
    const AnswerPositions answers = answer_positions(batch);
    ForwardInput in = forward_input(batch, device);
    // A routed model (asr, seta) routes on the prompt alone: every candidate row gets the prompt's route.
    in.route_mask = in.attention_mask * batch.labels.to(device).eq(kIgnoreIndex);
    const auto hidden = model->hidden_states(in);  // (R, T, H)
    const auto positions = answers.positions.to(device);
    const auto at_answers = hidden.gather(1, positions.unsqueeze(-1).expand({-1, -1, hidden.size(-1)}));  // (R, K, H)
    auto logits = model->logits(at_answers);  // (R, K, V), at least float32 for the softmax
    if (logits.scalar_type() != at::kDouble) logits = logits.to(at::kFloat);
    const auto logp = at::log_softmax(logits, -1);
    const auto picked = logp.gather(-1, answers.targets.to(device).unsqueeze(-1)).squeeze(-1);          // (R, K)
    parts.push_back((picked * answers.weights.to(device)).sum(-1).view({count, labels}).to(at::kDouble));
  }
  return at::cat(parts).to(at::kCPU);  // one device → host copy per call
}

namespace {

// Rank scoring: the label with the highest summed log-likelihood (the first on ties).
std::vector<std::string> rank_answers(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                                      const std::vector<Example>& examples, const TokenizeOptions& tokenize,
                                      const EvalSettings& s) {
  const auto scores = rank_label_scores(model, tokenizer, task, examples, tokenize, s.batch_size).contiguous();
  const int64_t labels = scores.size(1);
  const auto* p = scores.data_ptr<double>();
  std::vector<std::string> answers;
  for (int64_t e = 0; e < scores.size(0); ++e) {
    const auto* row = p + e * labels;
    answers.push_back(task.labels[std::max_element(row, row + labels) - row]);
  }
  return answers;
}

}  // namespace

void EvalSettings::validate() const {
  RETAIN_CHECK(scoring == "generate" || scoring == "rank", "config", "eval.scoring = \"{}\" is not known: expected generate | rank",
               scoring);
  RETAIN_CHECK(batch_size >= 1, "config", "eval.batch_size must be at least 1, got {}", batch_size);
  RETAIN_CHECK(max_new_tokens >= 1, "config", "eval.max_new_tokens must be at least 1, got {}", max_new_tokens);
  RETAIN_CHECK(max_examples >= 0, "config", "eval.max_examples must be >= 0 (0: all), got {}", max_examples);
  RETAIN_CHECK(!general_text.empty(), "config", "eval.general_text must name a file, or be auto | off");
  RETAIN_CHECK(general_tokens >= 1, "config", "eval.general_tokens must be at least 1, got {}", general_tokens);
  RETAIN_CHECK(dev_share > 0 && dev_share < 1, "config", "eval.dev_share must be in (0, 1), got {}", dev_share);
}

TaskEvaluation evaluate_task(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                             const TokenizeOptions& tokenize, const EvalSettings& s) {
  return evaluate_examples(model, tokenizer, task, scored_examples(task, s), tokenize, s);
}

TaskEvaluation evaluate_examples(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                                 const std::vector<Example>& examples, const TokenizeOptions& tokenize,
                                 const EvalSettings& s) {
  RETAIN_CHECK(s.batch_size >= 1, "eval", "eval.batch_size must be at least 1, got {}", s.batch_size);
  RETAIN_CHECK(!examples.empty(), "eval", "task \"{}\": no examples to score", task.name);
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
