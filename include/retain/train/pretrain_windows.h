// retain/train/pretrain_windows.h — a packed token stream cut into training windows, their order,
// and their loss.
//
// A split's stream of N tokens gives (N − 1) / T windows of T + 1 tokens, window i starting at token
// i·T: inputs are its first T tokens, targets its last T, so every token but the first is predicted
// exactly once (the last partial window is dropped). Window order: a fresh random_permutation
// (core/random.h) per epoch from seeded_rng({seed, epoch}), so the batch of a step is a function of
// the step alone and a resumed run sees the same data.
#pragma once

#include "retain/model/causal_lm.h"
#include "retain/train/loss.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace retain {

/// Number of windows of seq_len + 1 tokens with stride seq_len in a stream of `tokens` tokens.
int64_t window_count(int64_t tokens, int64_t seq_len);

/// Window indices of optimizer step `step`: windows k = step·batch_size … (step + 1)·batch_size − 1
/// of the concatenated epochs, window k being entry k mod `windows` of epoch k / windows's order.
std::vector<int64_t> batch_windows(int64_t step, int64_t batch_size, int64_t windows, uint64_t seed);

/// The windows `which` of `stream`: (B, T + 1) int64 on the CPU.
at::Tensor gather_windows(const std::vector<int32_t>& stream, const std::vector<int64_t>& which, int64_t seq_len);

/// Summed next-token cross-entropy of (B, T + 1) windows (causal_lm_loss_sum over the inputs'
/// logits), the forward pass under bf16 autocast when `autocast_bf16` and the device is CUDA.
LossSum window_loss(CausalLM& model, const at::Tensor& windows, const at::Device& device, bool autocast_bf16);

/// Mean loss per token over the first `max_windows` windows of `stream` (0: all), in batches of
/// `batch_size`, without gradients; NaN when the stream has no window.
double heldout_loss(CausalLM& model, const std::vector<int32_t>& stream, int64_t seq_len, int64_t batch_size,
                    int64_t max_windows, const at::Device& device, bool autocast_bf16);

}  // namespace retain
