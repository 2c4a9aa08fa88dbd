#include "retain/train/evaluator.h"

#include "retain/core/error.h"
#include "retain/core/fault_injection.h"
#include "retain/data/prompt.h"
#include "retain/eval/results.h"
#include "retain/eval/scoring.h"
#include "retain/model/generation.h"

#include <algorithm>

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
    fault_point("eval");
  }
  return answers;
}

}  // namespace

at::Tensor rank_label_scores(CausalLM& model, const Tokenizer& tokenizer, const Task& task,
                             const std::vector<Example>& examples, const TokenizeOptions& tokenize, int64_t batch_size) {
  RETAIN_CHECK(task.type == TaskType::Classification && !task.labels.empty(), "eval",
               "task \"{}\": rank scoring needs a classification task with labels", task.name);
  RETAIN_CHECK(batch_size >= 1, "eval", "eval.batch_size must be at least 1, got {}", batch_size);
  const auto& config = model->config;
  const auto options = model->model->embed_tokens->weight.options();
  const auto device = options.device();
  const int64_t pad = config.pad_token_id.value_or(0);
  const int64_t labels = static_cast<int64_t>(task.labels.size()), n = static_cast<int64_t>(examples.size());
  torch::NoGradGuard no_grad;
  // The prompt does not depend on the label, nor the target on the example: each is encoded once.
  std::vector<std::vector<int64_t>> targets;
  for (const auto& label : task.labels) targets.push_back(tokenizer.encode(format_target(task, {"", label}), false));
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < n; first += batch_size) {
    const int64_t count = std::min(batch_size, n - first);
    // rows[l][e]: example e's candidate row for label l, exactly as training assembles it.
    std::vector<std::vector<TokenizedExample>> rows(labels);
    for (int64_t e = first; e < first + count; ++e) {
      const std::string prompt = format_prompt(task, examples[e]);
      const auto prefix = tokenize.add_special_tokens ? special_prefix(tokenizer, prompt) : std::vector<int64_t>{};
      const auto body = tokenizer.encode(prompt, false);
      for (int64_t l = 0; l < labels; ++l) {
        rows[l].push_back(assemble_example(prefix, body, targets[l], tokenize));
        RETAIN_CHECK(rows[l].back().prompt_length >= 1, "eval",
                     "task \"{}\": test example {} has an empty prompt (no prompt token and no special prefix) to "
                     "score labels after", task.name, e);
      }
    }
    // A row's prompt part depends on its label only through truncation (a longer answer leaves less
    // room), and truncation keeps the special prefix and the end of the prompt: two rows of one
    // example hold the same prompt exactly when they keep the same number of its tokens. Labels whose
    // prompt lengths agree on every example of the batch share one prefill, so without truncation
    // the batch's prompts run once and each label adds its answer tokens alone.
    std::vector<std::vector<int64_t>> groups, group_lengths;
    for (int64_t l = 0; l < labels; ++l) {
      std::vector<int64_t> lengths;
      for (const auto& r : rows[l]) lengths.push_back(r.prompt_length);
      const auto it = std::find(group_lengths.begin(), group_lengths.end(), lengths);
      if (it == group_lengths.end()) {
        groups.push_back({l});
        group_lengths.push_back(std::move(lengths));
      } else {
        groups[static_cast<size_t>(it - group_lengths.begin())].push_back(l);
      }
    }
    auto scores = at::zeros({count, labels}, options.dtype(at::kDouble));
    for (const auto& group : groups) {
      // Prefill: the prompts left-padded, into a cache with room for the group's longest answer.
      int64_t width = 0, longest = 1;
      for (int64_t e = 0; e < count; ++e) width = std::max(width, rows[group.front()][e].prompt_length);
      for (int64_t l : group)
        for (int64_t e = 0; e < count; ++e) {
          const auto& r = rows[l][e];
          longest = std::max<int64_t>(longest, static_cast<int64_t>(r.ids.size()) - r.prompt_length);
        }
      auto ids = at::full({count, width}, pad, at::kLong);
      auto mask = at::zeros({count, width + longest - 1}, at::kLong);
      auto* ip = ids.data_ptr<int64_t>();
      auto* mp = mask.data_ptr<int64_t>();
      for (int64_t e = 0; e < count; ++e) {
        const auto& r = rows[group.front()][e];
        const int64_t offset = width - r.prompt_length;
        std::copy(r.ids.begin(), r.ids.begin() + r.prompt_length, ip + e * width + offset);
        std::fill(mp + e * mask.size(1) + offset, mp + e * mask.size(1) + width, 1);
      }
      mask = mask.to(device);
      KVCache cache(config.num_hidden_layers, count, config.num_key_value_heads, width + longest - 1, config.head_dim,
                    options);
      // A routed model (asr, seta) routes in this prefill, on the prompt alone; the answer tokens
      // below are decode steps and keep each row's route.
      auto last = model->logits(model->hidden_states({ids.to(device), mask.narrow(1, 0, width), {}, &cache}).select(1, -1));
      if (last.scalar_type() != at::kDouble) last = last.to(at::kFloat);
      const auto first_logp = at::log_softmax(last, -1);  // (count, V): predicts each answer's first token
      for (int64_t l : group) {
        // The answer (target + eos) is the same for every example: truncation cuts it only when it
        // leaves no room for one prompt token, and then to the same length for every prompt.
        const auto& r0 = rows[l][0];
        const std::vector<int64_t> answer(r0.ids.begin() + r0.prompt_length, r0.ids.end());
        for (int64_t e = 1; e < count; ++e) {
          const auto& r = rows[l][e];
          RETAIN_CHECK(std::equal(answer.begin(), answer.end(), r.ids.begin() + r.prompt_length, r.ids.end()), "eval",
                       "task \"{}\": label \"{}\" is truncated differently in two examples (internal)", task.name,
                       task.labels[l]);
        }
        const int64_t a = static_cast<int64_t>(answer.size());
        auto answer_ids = at::tensor(answer, at::kLong).to(device);
        auto score = first_logp.select(1, answer[0]).to(at::kDouble);
        if (a > 1) {
          cache.length = width;  // back to the prompts: the previous label's answer is overwritten
          mask.narrow(1, width, a - 1).fill_(1);
          const auto input = answer_ids.narrow(0, 0, a - 1).unsqueeze(0).expand({count, a - 1}).contiguous();
          auto logits = model->logits(model->hidden_states({input, mask.narrow(1, 0, width + a - 1), {}, &cache}));
          if (logits.scalar_type() != at::kDouble) logits = logits.to(at::kFloat);
          const auto next = answer_ids.narrow(0, 1, a - 1).view({1, a - 1, 1}).expand({count, a - 1, 1});
          score = score + at::log_softmax(logits, -1).gather(-1, next).squeeze(-1).to(at::kDouble).sum(-1);
        }
        scores.select(1, l).copy_(score);
      }
    }
    parts.push_back(scores);
    fault_point("eval");  // tests: killed mid-evaluation (core/fault_injection.h)
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
