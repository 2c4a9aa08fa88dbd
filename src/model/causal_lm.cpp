#include "retain/model/causal_lm.h"

#include "retain/core/error.h"
#include "retain/core/torch_compat.h"

#include <limits>

namespace retain {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  // As transformers: normalise in float32 (float64 stays float64), scale in the input dtype.
  const auto dtype = x.scalar_type();
  auto h = dtype == at::kDouble ? x : x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(dtype);
}

AttentionImpl::AttentionImpl(const ModelConfig& c, int64_t index)
    : layer_index(index), num_heads(c.num_attention_heads), num_kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  q_proj = register_module("q_proj", AdaptedLinear(c.hidden_size, num_heads * head_dim, c.qkv_bias));
  k_proj = register_module("k_proj", AdaptedLinear(c.hidden_size, num_kv_heads * head_dim, c.qkv_bias));
  v_proj = register_module("v_proj", AdaptedLinear(c.hidden_size, num_kv_heads * head_dim, c.qkv_bias));
  o_proj = register_module("o_proj", AdaptedLinear(num_heads * head_dim, c.hidden_size, c.o_bias));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(head_dim, c.rms_norm_eps));
    k_norm = register_module("k_norm", RMSNorm(head_dim, c.rms_norm_eps));
  }
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                  const at::Tensor& mask, bool causal, KVCache* cache) {
  const int64_t b = x.size(0), t = x.size(1);
  auto q = q_proj(x).view({b, t, num_heads, head_dim});        // (B, T, H, D)
  auto k = k_proj(x).view({b, t, num_kv_heads, head_dim});     // (B, T, Hkv, D)
  auto v = v_proj(x).view({b, t, num_kv_heads, head_dim}).transpose(1, 2);
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  q = apply_rotary(q.transpose(1, 2), cos, sin);  // (B, H, T, D)
  k = apply_rotary(k.transpose(1, 2), cos, sin);
  if (cache) std::tie(k, v) = cache->append(layer_index, k, v);
  if (num_kv_heads != num_heads) {  // grouped-query attention: head h reads kv head h / (H / Hkv)
    const int64_t rep = num_heads / num_kv_heads, tk = k.size(2);
    k = k.unsqueeze(2).expand({b, num_kv_heads, rep, tk, head_dim}).reshape({b, num_heads, tk, head_dim});
    v = v.unsqueeze(2).expand({b, num_kv_heads, rep, tk, head_dim}).reshape({b, num_heads, tk, head_dim});
  }
  auto out = compat::scaled_dot_product_attention(q, k, v, mask, causal);  // (B, H, T, D)
  return o_proj(out.transpose(1, 2).reshape({b, t, num_heads * head_dim}));
}

MLPImpl::MLPImpl(const ModelConfig& c) {
  gate_proj = register_module("gate_proj", AdaptedLinear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  up_proj = register_module("up_proj", AdaptedLinear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  down_proj = register_module("down_proj", AdaptedLinear(c.intermediate_size, c.hidden_size, c.mlp_bias));
}

at::Tensor MLPImpl::forward(const at::Tensor& x) { return down_proj(at::silu(gate_proj(x)) * up_proj(x)); }

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, int64_t index) {
  self_attn = register_module("self_attn", Attention(c, index));
  mlp = register_module("mlp", MLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                     const at::Tensor& mask, bool causal, KVCache* cache) {
  auto h = x + self_attn->forward(input_layernorm(x), cos, sin, mask, causal, cache);
  return h + mlp(post_attention_layernorm(h));
}

DecoderModelImpl::DecoderModelImpl(const ModelConfig& c) : config(c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layer_list.push_back(DecoderLayer(c, i));
    layers->push_back(layer_list.back());
  }
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  rotary = RotaryEmbedding(c.rope, c.head_dim);  // no parameters: not registered
}

namespace {

// Additive attention mask (B, 1, T, T_total) for queries at positions [past, past + T): causal,
// within `window` (0 = unlimited) and only onto keys whose attention_mask is 1. A query may always
// see itself, so rows of padding never become all -inf (their outputs are unused).
at::Tensor build_mask(const at::Tensor& attention_mask, int64_t batch, int64_t t, int64_t past, int64_t window,
                      const at::TensorOptions& options) {
  const int64_t total = past + t;
  auto device = options.device();
  auto qpos = at::arange(past, total, at::TensorOptions().dtype(at::kLong).device(device)).view({t, 1});
  auto kpos = at::arange(0, total, at::TensorOptions().dtype(at::kLong).device(device)).view({1, total});
  auto allowed = kpos.le(qpos);
  if (window > 0) allowed = allowed.logical_and(kpos.gt(qpos - window));
  auto allowed_b = allowed.unsqueeze(0).expand({batch, t, total});
  if (attention_mask.defined()) {
    allowed_b = allowed_b.logical_and(attention_mask.to(device).to(at::kBool).unsqueeze(1));
    allowed_b = allowed_b.logical_or(kpos.eq(qpos).unsqueeze(0));
  }
  auto mask = at::zeros({batch, 1, t, total}, options);
  return mask.masked_fill(allowed_b.logical_not().unsqueeze(1), -std::numeric_limits<double>::infinity());
}

}  // namespace

at::Tensor DecoderModelImpl::forward(const ForwardInput& in, int64_t begin, int64_t end, at::Tensor hidden) {
  const int64_t n = config.num_hidden_layers;
  if (end < 0) end = n;
  RETAIN_CHECK(0 <= begin && begin <= end && end <= n, "model", "layer range [{}, {}) is outside [0, {})", begin, end, n);
  RETAIN_CHECK(in.input_ids.dim() == 2, "model", "input_ids must be (batch, tokens), got {} dims", in.input_ids.dim());
  const int64_t b = in.input_ids.size(0), t = in.input_ids.size(1);
  const int64_t past = in.cache ? in.cache->length : 0;
  if (!hidden.defined()) hidden = embed_tokens(in.input_ids);
  const auto options = hidden.options();

  at::Tensor attention_mask = in.attention_mask;
  if (attention_mask.defined()) {
    RETAIN_CHECK(attention_mask.size(0) == b && attention_mask.size(1) == past + t, "model",
                 "attention_mask must be (batch, past + tokens) = ({}, {}), got [{}, {}]", b, past + t,
                 attention_mask.size(0), attention_mask.size(1));
    if (attention_mask.to(at::kBool).all().item<bool>()) attention_mask = at::Tensor();
  }
  at::Tensor position_ids = in.position_ids;
  if (!position_ids.defined()) {
    if (attention_mask.defined()) {
      auto m = attention_mask.to(at::kLong).to(hidden.device());
      position_ids = (m.cumsum(-1) - 1).masked_fill(m.eq(0), 1).narrow(1, past, t);
    } else {
      position_ids = at::arange(past, past + t, options.dtype(at::kLong)).unsqueeze(0).expand({b, t});
    }
  }
  auto [cos, sin] = rotary->forward(position_ids.to(hidden.device()), hidden.scalar_type());

  // One mask per distinct window width; none at all where plain causal attention is exact.
  std::map<int64_t, std::pair<at::Tensor, bool>> masks;
  auto mask_for = [&](int64_t window) -> const std::pair<at::Tensor, bool>& {
    auto it = masks.find(window);
    if (it != masks.end()) return it->second;
    const bool window_binds = window > 0 && past + t > window;
    std::pair<at::Tensor, bool> m;
    if (!attention_mask.defined() && !window_binds && (past == 0 || t == 1)) {
      m = {at::Tensor(), past == 0 && t > 1};
    } else {
      m = {build_mask(attention_mask, b, t, past, window, options), false};
    }
    return masks.emplace(window, m).first->second;
  };

  for (int64_t i = begin; i < end; ++i) {
    const auto& [mask, causal] = mask_for(config.sliding_window[i]);
    at::Tensor out = layer_list[i]->forward(hidden, cos, sin, mask, causal, in.cache);
    if (in.on_layer) in.on_layer(i, hidden, out);
    hidden = std::move(out);
  }
  if (end == n) {
    if (in.cache) in.cache->length += t;
    hidden = norm(hidden);
  }
  return hidden;
}

CausalLMImpl::CausalLMImpl(const ModelConfig& c) : config(c) {
  model = register_module("model", DecoderModel(c));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", AdaptedLinear(c.hidden_size, c.vocab_size, false));
}

at::Tensor CausalLMImpl::logits(const at::Tensor& hidden) {
  return lm_head ? lm_head(hidden) : at::linear(hidden, model->embed_tokens->weight);
}

at::Tensor CausalLMImpl::forward(const ForwardInput& input) { return logits(hidden_states(input)); }

at::Tensor CausalLMImpl::hidden_states(const ForwardInput& input) {
  const bool prefill = !input.cache || input.cache->length == 0;
  if (!router || !prefill) return model->forward(input);
  // Routed prefill: the shallow layers once, the router, then the deep layers with each sample's adapter.
  const int64_t split = router->layer();
  RETAIN_CHECK(0 <= split && split < config.num_hidden_layers, "model", "the router splits after layer {}, outside [0, {})",
               split, config.num_hidden_layers);
  auto hidden = model->forward(input, 0, split);
  at::Tensor mask = input.route_mask.defined() ? input.route_mask : input.attention_mask;
  if (!mask.defined()) mask = at::ones({hidden.size(0), hidden.size(1)}, at::kLong);
  RETAIN_CHECK(mask.dim() == 2 && mask.size(0) == hidden.size(0) && mask.size(1) == hidden.size(1), "model",
               "the routing mask must be (batch, tokens) = ({}, {}), got [{}]", hidden.size(0), hidden.size(1),
               fmt::join(mask.sizes(), ", "));
  router->route(hidden, mask.to(hidden.device()));
  return model->forward(input, split, -1, hidden);
}

std::vector<std::pair<std::string, AdaptedLinear>> CausalLMImpl::linear_layers() {
  std::vector<std::pair<std::string, AdaptedLinear>> out;
  for (const auto& item : named_modules("", /*include_self=*/false)) {
    if (auto linear = std::dynamic_pointer_cast<AdaptedLinearImpl>(item.value()))
      out.emplace_back(item.key(), AdaptedLinear(linear));
  }
  return out;
}

int64_t CausalLMImpl::merge_adapters() {
  int64_t changed = 0;
  for (auto& [name, linear] : linear_layers()) {
    if (linear->adapters().empty()) continue;
    linear->merge_adapters();
    ++changed;
  }
  return changed;
}

std::vector<std::pair<std::string, at::Tensor>> CausalLMImpl::base_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : named_parameters(/*recurse=*/true))
    if (item.key().find(".adapters.") == std::string::npos) out.emplace_back(item.key(), item.value());
  return out;
}

void init_weights(CausalLM& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double std = model->config.initializer_range;
  for (auto& [name, p] : model->base_parameters()) {
    const bool is_norm = name.size() >= 11 && name.find("norm.weight") == name.size() - 11;
    if (is_norm) {
      p.fill_(1.0);
    } else if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
      p.zero_();
    } else {
      auto values = at::empty(p.sizes(), at::TensorOptions().dtype(at::kFloat));
      values.normal_(0.0, std, generator);
      p.copy_(values);
    }
  }
}

}  // namespace retain
