#include "retain/model/kv_cache.h"

#include "retain/core/error.h"

namespace retain {

KVCache::KVCache(int64_t layers, int64_t batch, int64_t kv_heads, int64_t cap, int64_t head_dim,
                 const at::TensorOptions& options)
    : capacity(cap) {
  for (int64_t i = 0; i < layers; ++i) {
    keys.push_back(at::zeros({batch, kv_heads, cap, head_dim}, options));
    values.push_back(at::zeros({batch, kv_heads, cap, head_dim}, options));
  }
}

std::pair<at::Tensor, at::Tensor> KVCache::append(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  const int64_t t = k.size(2);
  RETAIN_CHECK(length + t <= capacity, "kv_cache", "cache of {} positions cannot take {} more after {}", capacity, t, length);
  keys[layer].narrow(2, length, t).copy_(k);
  values[layer].narrow(2, length, t).copy_(v);
  return {keys[layer].narrow(2, 0, length + t), values[layer].narrow(2, 0, length + t)};
}

}  // namespace retain
