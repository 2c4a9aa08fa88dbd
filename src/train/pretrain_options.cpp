#include "retain/train/pretrain_options.h"

#include "retain/core/error.h"

#include <algorithm>

namespace retain {

namespace {
constexpr const char* kComponent = "pretrain";
}  // namespace

int64_t PretrainOptions::warmup_steps() const { return warmup < 0 ? std::min<int64_t>(100, steps / 10) : warmup; }

void PretrainOptions::validate() const {
  RETAIN_CHECK(steps >= 1, kComponent, "--steps must be at least 1, got {}", steps);
  RETAIN_CHECK(batch_size >= 1, kComponent, "--batch-size must be at least 1, got {}", batch_size);
  RETAIN_CHECK(seq_len >= 2, kComponent, "--seq-len must be at least 2, got {}", seq_len);
  RETAIN_CHECK(lr > 0, kComponent, "--lr must be > 0, got {}", lr);
  RETAIN_CHECK(warmup_steps() <= steps, kComponent, "--warmup must be in [0, --steps = {}], got {}", steps, warmup);
  RETAIN_CHECK(min_lr_ratio >= 0 && min_lr_ratio <= 1, kComponent, "--min-lr-ratio must be in [0, 1], got {}",
               min_lr_ratio);
  RETAIN_CHECK(weight_decay >= 0, kComponent, "--weight-decay must be >= 0, got {}", weight_decay);
  RETAIN_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, kComponent,
               "--beta1 and --beta2 must be in [0, 1), got {} and {}", beta1, beta2);
  RETAIN_CHECK(max_grad_norm >= 0, kComponent, "--max-grad-norm must be >= 0 (0: no clipping), got {}", max_grad_norm);
  RETAIN_CHECK(eval_fraction >= 0 && eval_fraction < 1, kComponent, "--eval-fraction must be in [0, 1), got {}",
               eval_fraction);
  RETAIN_CHECK(eval_every >= 0 && eval_batches >= 0 && checkpoint_every >= 0, kComponent,
               "--eval-every, --eval-batches and --checkpoint-every must be >= 0");
  RETAIN_CHECK(seed >= 0, kComponent, "--seed must be >= 0, got {}", seed);
}

json PretrainOptions::settings_json() const {
  PretrainOptions resolved = *this;
  resolved.warmup = warmup_steps();
  return settings::to_json(resolved);
}

const std::vector<std::string>& resume_free_settings() {
  static const std::vector<std::string> keys = {"eval_every", "eval_batches", "checkpoint_every", "device",
                                                "dtype_out"};
  return keys;
}

json resume_key(const json& options) {
  json key = options;
  for (const auto& free : resume_free_settings()) key.erase(free);
  return key;
}

}  // namespace retain
