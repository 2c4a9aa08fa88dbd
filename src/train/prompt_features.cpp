#include "retain/train/prompt_features.h"

#include "retain/dist/shard.h"

#include "retain/core/error.h"
#include "retain/data/prompt.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>

namespace retain {

int64_t resolve_feature_layers(int64_t feature_layers, int64_t n_layers) {
  return std::min(feature_layers, n_layers / 2);
}

at::Tensor pool_features(RMSNorm& norm, const at::Tensor& hidden, const at::Tensor& mask) {
  auto h = norm(hidden).to(at::kFloat);
  auto m = mask.to(h.device(), at::kFloat).unsqueeze(-1);
  return (h * m).sum(1) / m.sum(1).clamp_min(1.0);
}

at::Tensor pooled_features(CausalLM& model, const at::Tensor& hidden, const at::Tensor& mask) {
  return pool_features(model->model->norm, hidden, mask);
}

at::Tensor prompt_features(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts, int64_t layers,
                           int64_t batch_size) {
  RETAIN_CHECK(batch_size >= 1, "features", "feature batch size must be at least 1, got {}", batch_size);
  torch::NoGradGuard no_grad;
  const auto device = model->model->embed_tokens->weight.device();
  const int64_t n = static_cast<int64_t>(prompts.size());
  auto out = at::empty({n, model->config.hidden_size}, at::TensorOptions().dtype(at::kFloat).device(device));
  // Longest first, so that each batch pads little.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return prompts[a].size() > prompts[b].size(); });
  const int64_t pad = model->config.pad_token_id.value_or(0);
  for (int64_t first = 0; first < n; first += batch_size) {
    const int64_t last = std::min(n, first + batch_size);
    std::vector<std::vector<int64_t>> rows;
    for (int64_t i = first; i < last; ++i) {
      RETAIN_CHECK(!prompts[order[i]].empty(), "features", "prompt {} is empty", order[i]);
      rows.push_back(prompts[order[i]]);
    }
    const auto padded = right_pad(rows, pad);
    ForwardInput in;
    in.input_ids = padded.input_ids.to(device);
    in.attention_mask = padded.attention_mask.to(device);
    auto hidden = model->model->forward(in, 0, layers);
    auto index = at::tensor(std::vector<int64_t>(order.begin() + first, order.begin() + last), at::kLong).to(device);
    out.index_copy_(0, index, pooled_features(model, hidden, in.attention_mask));
  }
  return out;
}

std::vector<std::vector<int64_t>> prompts_of(const std::vector<TokenizedExample>& examples) {
  std::vector<std::vector<int64_t>> out;
  out.reserve(examples.size());
  for (const auto& e : examples) out.emplace_back(e.ids.begin(), e.ids.begin() + e.prompt_length);
  return out;
}

std::vector<std::vector<int64_t>> test_prompts(const RunContext& run, const Task& task) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& e : task.test) out.push_back(tokenize_prompt(*run.tokenizer, format_prompt(task, e), run.tokenize));
  return out;
}

at::Tensor prompt_features(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts, int64_t layers,
                           int64_t batch_size, const DistContext& dist) {
  if (!dist.distributed()) return prompt_features(model, prompts, layers, batch_size);
  RETAIN_CHECK(batch_size >= 1, "features", "feature batch size must be at least 1, got {}", batch_size);
  // The batches one process would make (longest first, then cut every batch_size), shared out whole:
  // each prompt is pooled in the same padded batch as alone, so the rows are bitwise the same.
  const int64_t n = static_cast<int64_t>(prompts.size());
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return prompts[a].size() > prompts[b].size(); });
  std::vector<int64_t> batch_starts;
  for (int64_t first = 0; first < n; first += batch_size) batch_starts.push_back(first);
  const auto mine = shard_of(batch_starts, dist.rank(), dist.world_size());
  std::vector<std::vector<int64_t>> part;  // already longest first: the stable sort inside keeps it
  if (!mine.empty())
    for (int64_t i = mine.front(); i < std::min(n, mine.back() + batch_size); ++i) part.push_back(prompts[order[i]]);
  at::Tensor local = part.empty() ? at::empty({0, model->config.hidden_size},
                                              model->model->embed_tokens->weight.options().dtype(at::kFloat))
                                  : prompt_features(model, part, layers, batch_size);
  const at::Tensor sorted = dist.all_gather_rows(local, "prompt features");  // rows in `order`
  at::Tensor out = at::empty_like(sorted);
  out.index_copy_(0, at::tensor(order, at::kLong).to(sorted.device()), sorted);
  return out;
}

}  // namespace retain
