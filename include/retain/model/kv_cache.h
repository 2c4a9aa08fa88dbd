// retain/model/kv_cache.h — preallocated key/value cache for incremental decoding.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace retain {

/// Keys and values of every layer, preallocated to `capacity` positions: (B, H_kv, capacity, D).
/// `length` positions are filled; a forward pass with T new tokens writes [length, length + T) in
/// every layer and the model advances `length` once all layers are done.
struct KVCache {
  KVCache(int64_t layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim,
          const at::TensorOptions& options);
  std::vector<at::Tensor> keys, values;
  int64_t length = 0;
  int64_t capacity = 0;
  /// Writes k, v (B, H_kv, T, D) of `layer` at [length, length + T) and returns the filled views.
  std::pair<at::Tensor, at::Tensor> append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
};

}  // namespace retain
