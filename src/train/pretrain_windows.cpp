#include "retain/train/pretrain_windows.h"

#include "retain/core/error.h"
#include "retain/core/random.h"
#include "retain/core/torch_compat.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace retain {

int64_t window_count(int64_t tokens, int64_t seq_len) { return tokens <= seq_len ? 0 : (tokens - 1) / seq_len; }

std::vector<int64_t> batch_windows(int64_t step, int64_t batch_size, int64_t windows, uint64_t seed) {
  RETAIN_CHECK(windows > 0, "pretrain", "no training windows");
  std::vector<int64_t> out;
  std::vector<int64_t> order;
  int64_t epoch = -1;
  for (int64_t k = step * batch_size; k < (step + 1) * batch_size; ++k) {
    if (k / windows != epoch) {
      epoch = k / windows;
      auto rng = seeded_rng({seed, static_cast<uint64_t>(epoch)});
      order = random_permutation(windows, rng);
    }
    out.push_back(order[static_cast<size_t>(k % windows)]);
  }
  return out;
}

at::Tensor gather_windows(const std::vector<int32_t>& stream, const std::vector<int64_t>& which, int64_t seq_len) {
  at::Tensor out = at::empty({static_cast<int64_t>(which.size()), seq_len + 1}, at::kLong);
  int64_t* p = out.data_ptr<int64_t>();
  for (size_t r = 0; r < which.size(); ++r) {
    const int32_t* src = stream.data() + which[r] * seq_len;
    for (int64_t t = 0; t <= seq_len; ++t) *p++ = src[t];
  }
  return out;
}

LossSum window_loss(CausalLM& model, const at::Tensor& windows, const at::Device& device, bool autocast_bf16) {
  at::Tensor batch = windows.to(device);  // (B, T + 1)
  at::Tensor logits;
  {
    compat::AutocastGuard guard(autocast_bf16 && device.is_cuda(), at::kBFloat16);
    ForwardInput input;
    input.input_ids = batch.narrow(1, 0, batch.size(1) - 1);
    logits = model->forward(input);  // (B, T, V)
  }
  return causal_lm_loss_sum(logits, batch);
}

double heldout_loss(CausalLM& model, const std::vector<int32_t>& stream, int64_t seq_len, int64_t batch_size,
                    int64_t max_windows, const at::Device& device, bool autocast_bf16) {
  const int64_t windows = window_count(static_cast<int64_t>(stream.size()), seq_len);
  if (windows == 0) return std::nan("");
  const int64_t limit = max_windows > 0 ? std::min(windows, max_windows) : windows;
  torch::NoGradGuard no_grad;
  model->eval();
  double sum = 0;
  int64_t tokens = 0;
  for (int64_t begin = 0; begin < limit; begin += batch_size) {
    std::vector<int64_t> index;
    for (int64_t w = begin; w < std::min(limit, begin + batch_size); ++w) index.push_back(w);
    const LossSum loss = window_loss(model, gather_windows(stream, index, seq_len), device, autocast_bf16);
    sum += loss.sum.item<double>();
    tokens += loss.tokens;
  }
  model->train();
  return sum / static_cast<double>(tokens);
}

}  // namespace retain
