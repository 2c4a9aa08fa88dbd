#include "retain/model/generation.h"

#include "retain/core/error.h"

#include <algorithm>

namespace retain {

at::Tensor choose_next_tokens(const at::Tensor& logits, const GenerationOptions& o, at::Generator& generator) {
  if (!o.do_sample) return logits.argmax(-1);
  auto scores = logits.to(at::kFloat).to(at::kCPU) / std::max(o.temperature, 1e-6);
  const int64_t vocab = scores.size(-1);
  if (o.top_k > 0 && o.top_k < vocab) {
    auto kth = std::get<0>(scores.topk(o.top_k, -1)).narrow(-1, o.top_k - 1, 1);
    scores = scores.masked_fill(scores < kth, -std::numeric_limits<float>::infinity());
  }
  auto probs = at::softmax(scores, -1);
  if (o.top_p < 1.0) {
    // Nucleus: keep the smallest set of most likely tokens whose mass reaches top_p (at least one).
    auto [sorted, order] = probs.sort(-1, /*descending=*/true);
    auto mass_before = sorted.cumsum(-1) - sorted;
    auto drop_sorted = mass_before >= o.top_p;
    auto drop = at::zeros_like(drop_sorted).scatter(-1, order, drop_sorted);
    probs = probs.masked_fill(drop, 0.0);
    probs = probs / probs.sum(-1, true);
  }
  return at::multinomial(probs, 1, /*replacement=*/false, generator).squeeze(-1).to(logits.device());
}

std::vector<std::vector<int64_t>> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerationOptions& o) {
  RETAIN_CHECK(!prompts.empty(), "generate", "no prompts given");
  RETAIN_CHECK(o.max_new_tokens >= 0, "generate", "max_new_tokens must be >= 0, got {}", o.max_new_tokens);
  const auto& config = model->config;
  torch::NoGradGuard no_grad;
  model->eval();
  const auto weight = model->model->embed_tokens->weight;
  const auto device = weight.device();
  const int64_t batch = static_cast<int64_t>(prompts.size());
  int64_t width = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    RETAIN_CHECK(!prompts[i].empty(), "generate", "prompt {} is empty", i);
    for (auto id : prompts[i])
      RETAIN_CHECK(id >= 0 && id < config.vocab_size, "generate", "prompt {}: token id {} is outside the vocabulary [0, {})",
                   i, id, config.vocab_size);
    width = std::max<int64_t>(width, static_cast<int64_t>(prompts[i].size()));
  }
  const int64_t capacity = width + std::max<int64_t>(o.max_new_tokens, 1);

  // Left padding: every prompt ends at column width - 1.
  auto ids = at::full({batch, width}, o.pad_token_id, at::kLong);
  auto mask = at::zeros({batch, capacity}, at::kLong);
  for (int64_t r = 0; r < batch; ++r) {
    const auto& p = prompts[r];
    const int64_t offset = width - static_cast<int64_t>(p.size());
    std::copy(p.begin(), p.end(), ids[r].data_ptr<int64_t>() + offset);
    mask[r].narrow(0, offset, static_cast<int64_t>(p.size())).fill_(1);
  }
  ids = ids.to(device);
  mask = mask.to(device);

  KVCache cache(config.num_hidden_layers, batch, config.num_key_value_heads, capacity, config.head_dim, weight.options());
  auto generator = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  std::vector<std::vector<int64_t>> out(batch);
  std::vector<bool> finished(batch, false);
  at::Tensor logits = model->forward({ids, mask.narrow(1, 0, width), {}, &cache}).select(1, -1);
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    auto next = choose_next_tokens(logits, o, generator).to(at::kCPU);
    auto* next_ptr = next.data_ptr<int64_t>();
    bool all_done = true;
    for (int64_t r = 0; r < batch; ++r) {
      if (finished[r]) {
        next_ptr[r] = o.pad_token_id;
        continue;
      }
      out[r].push_back(next_ptr[r]);
      if (std::find(o.eos_token_ids.begin(), o.eos_token_ids.end(), next_ptr[r]) != o.eos_token_ids.end())
        finished[r] = true;
      all_done = all_done && finished[r];
    }
    if (all_done || step + 1 == o.max_new_tokens) break;
    mask.select(1, width + step).fill_(1);
    logits = model->forward({next.to(device).view({batch, 1}), mask.narrow(1, 0, width + step + 1), {}, &cache}).select(1, -1);
  }
  return out;
}

}  // namespace retain
