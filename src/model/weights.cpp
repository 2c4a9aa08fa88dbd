#include "retain/model/weights.h"

#include "retain/core/error.h"
#include "retain/core/json.h"

namespace retain {

namespace {
constexpr const char* kComponent = "weights";
}

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c) {
  // One table for the whole LLaMA family; the architecture flags of ModelConfig switch entries on.
  const int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const int64_t ff = c.intermediate_size;
  std::vector<ExpectedTensor> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, "vocab_size × hidden_size"});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "input_layernorm.weight", {h}, "hidden_size"});
    out.push_back({p + "self_attn.q_proj.weight", {q, h}, "num_attention_heads·head_dim × hidden_size"});
    out.push_back({p + "self_attn.k_proj.weight", {kv, h}, "num_key_value_heads·head_dim × hidden_size"});
    out.push_back({p + "self_attn.v_proj.weight", {kv, h}, "num_key_value_heads·head_dim × hidden_size"});
    if (c.qkv_bias) {
      out.push_back({p + "self_attn.q_proj.bias", {q}, "num_attention_heads·head_dim"});
      out.push_back({p + "self_attn.k_proj.bias", {kv}, "num_key_value_heads·head_dim"});
      out.push_back({p + "self_attn.v_proj.bias", {kv}, "num_key_value_heads·head_dim"});
    }
    out.push_back({p + "self_attn.o_proj.weight", {h, q}, "hidden_size × num_attention_heads·head_dim"});
    if (c.o_bias) out.push_back({p + "self_attn.o_proj.bias", {h}, "hidden_size"});
    if (c.qk_norm) {
      out.push_back({p + "self_attn.q_norm.weight", {c.head_dim}, "head_dim"});
      out.push_back({p + "self_attn.k_norm.weight", {c.head_dim}, "head_dim"});
    }
    out.push_back({p + "post_attention_layernorm.weight", {h}, "hidden_size"});
    out.push_back({p + "mlp.gate_proj.weight", {ff, h}, "intermediate_size × hidden_size"});
    out.push_back({p + "mlp.up_proj.weight", {ff, h}, "intermediate_size × hidden_size"});
    out.push_back({p + "mlp.down_proj.weight", {h, ff}, "hidden_size × intermediate_size"});
    if (c.mlp_bias) {
      out.push_back({p + "mlp.gate_proj.bias", {ff}, "intermediate_size"});
      out.push_back({p + "mlp.up_proj.bias", {ff}, "intermediate_size"});
      out.push_back({p + "mlp.down_proj.bias", {h}, "hidden_size"});
    }
  }
  out.push_back({"model.norm.weight", {h}, "hidden_size"});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}, "vocab_size × hidden_size"});
  return out;
}

bool is_ignorable_tensor(const std::string& name) {
  // Older checkpoints stored the rotary inverse frequencies; transformers recomputes and ignores them.
  const std::string suffix = "rotary_emb.inv_freq";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

WeightFiles WeightFiles::open(const std::filesystem::path& dir) {
  WeightFiles w;
  w.dir_ = dir;
  const auto single = dir / "model.safetensors";
  const auto index_path = dir / "model.safetensors.index.json";
  if (std::filesystem::exists(index_path)) {
    const json index = read_json_file(index_path, kComponent);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      fail(kComponent, "{}: expected an object with a \"weight_map\" object", index_path.string());
    std::map<std::string, const safetensors::File*> by_file;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it->is_string()) fail(kComponent, "{}: weight_map[\"{}\"] must be a file name", index_path.string(), it.key());
      const std::string file = it->get<std::string>();
      if (!by_file.count(file)) {
        const auto path = dir / file;
        if (!std::filesystem::exists(path))
          fail(kComponent, "{}: shard {} listed for tensor '{}' does not exist", index_path.string(), path.string(),
               it.key());
        w.files_.push_back(std::make_unique<safetensors::File>(safetensors::File::open(path)));
        by_file[file] = w.files_.back().get();
      }
      const safetensors::File* f = by_file[file];
      if (!f->contains(it.key()))
        fail(kComponent, "{}: tensor '{}' is listed in {} but that file does not hold it", index_path.string(), it.key(),
             f->path().string());
      w.index_[it.key()] = f;
    }
    for (const auto& f : w.files_)
      for (const auto& t : f->tensors())
        if (!w.index_.count(t.name))
          fail(kComponent, "{}: tensor '{}' is not listed in {}", f->path().string(), t.name, index_path.string());
  } else if (std::filesystem::exists(single)) {
    w.files_.push_back(std::make_unique<safetensors::File>(safetensors::File::open(single)));
    for (const auto& t : w.files_.back()->tensors()) w.index_[t.name] = w.files_.back().get();
  } else {
    fail(kComponent, "{}: no model.safetensors or model.safetensors.index.json (retain reads safetensors only)",
         dir.string());
  }
  return w;
}

const safetensors::File& WeightFiles::file_of(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(kComponent, "{}: no tensor '{}'", describe(), name);
  return *it->second;
}

std::string WeightFiles::describe() const {
  if (files_.size() == 1) return files_.front()->path().string();
  return dir_.string() + " (" + std::to_string(files_.size()) + " shards)";
}

}  // namespace retain
