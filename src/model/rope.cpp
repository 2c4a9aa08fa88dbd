#include "retain/model/rope.h"

#include <cmath>

namespace retain {

at::Tensor rope_inverse_frequencies(const RopeConfig& rope, int64_t head_dim) {
  // transformers: 1 / theta^(arange(0, dim, 2) / dim), in float32.
  auto exponent = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  auto inv_freq = 1.0 / at::pow(rope.theta, exponent);
  if (rope.type == "linear") return inv_freq / rope.factor;
  if (rope.type == "llama3") {
    // Llama 3.1: keep high frequencies, divide low ones by `factor`, interpolate in between.
    const double old_len = static_cast<double>(rope.original_max_position_embeddings);
    const double low_wavelen = old_len / rope.low_freq_factor;
    const double high_wavelen = old_len / rope.high_freq_factor;
    auto wavelen = 2 * M_PI / inv_freq;
    auto scaled = at::where(wavelen > low_wavelen, inv_freq / rope.factor, inv_freq);
    auto smooth = (old_len / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
    auto is_medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    return at::where(is_medium, smoothed, scaled);
  }
  return inv_freq;
}

RotaryEmbeddingImpl::RotaryEmbeddingImpl(const RopeConfig& rope, int64_t head_dim) {
  inv_freq = rope_inverse_frequencies(rope, head_dim);
}

std::pair<at::Tensor, at::Tensor> RotaryEmbeddingImpl::forward(const at::Tensor& position_ids, at::ScalarType dtype) {
  auto freqs = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq.to(position_ids.device()).view({1, 1, -1});  // (B, T, D/2)
  auto emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  auto rotated = at::cat({-x2, x1}, -1);
  auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // (B, 1, T, D)
  return x * c + rotated * s;
}

}  // namespace retain
