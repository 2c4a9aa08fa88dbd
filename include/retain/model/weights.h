// retain/model/weights.h — the tensor-name table of each architecture, and a model folder's weights.
//
// One table per architecture gives every tensor a Hugging Face checkpoint must hold, with its shape
// computed from the config; the loader checks the files against it, strictly.
#pragma once

#include "retain/io/safetensors.h"
#include "retain/model/config.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace retain {

/// A tensor the checkpoint must hold: HF name and shape (and why, for error messages).
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string meaning;  // e.g. "vocab_size × hidden_size"
};

/// Every tensor of the architecture, in a stable order. Tied models have no lm_head.weight.
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config);

/// Whether a leftover tensor name is one Hugging Face itself ignores (e.g. rotary_emb.inv_freq).
bool is_ignorable_tensor(const std::string& name);

/// The safetensors files of a model folder: `model.safetensors`, or the shards listed by
/// `model.safetensors.index.json` (every shard must exist, every tensor must be where the index says).
class WeightFiles {
 public:
  static WeightFiles open(const std::filesystem::path& model_dir);
  /// All tensor names and the file that holds each.
  const std::map<std::string, const safetensors::File*>& index() const { return index_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const safetensors::File& file_of(const std::string& name) const;
  /// Description for errors: "DIR/model.safetensors" or "DIR (12 shards)".
  std::string describe() const;

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<safetensors::File>> files_;
  std::map<std::string, const safetensors::File*> index_;
};

}  // namespace retain
