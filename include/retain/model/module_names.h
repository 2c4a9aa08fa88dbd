// retain/model/module_names.h — how methods and adapters pick modules by name, one rule for all.
//
// Module names are Hugging Face's ("model.layers.3.self_attn.q_proj", "lm_head"). A target names a
// module as PEFT's `target_modules` does: the whole name or its last dotted components.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace retain {

/// Whether `s` ends with `suffix`.
bool ends_with(const std::string& s, const std::string& suffix);

/// PEFT's rule: `target` names `module` when it equals it or is a dotted suffix of it ("q_proj" and
/// "self_attn.q_proj" name "model.layers.0.self_attn.q_proj"; "proj" does not).
bool module_matches(const std::string& module, const std::string& target);
/// module_matches for any of `targets`.
bool module_matches_any(const std::string& module, const std::vector<std::string>& targets);

/// The decoder layer i of a name holding "layers.<i>." at its start or after a dot
/// ("model.layers.3.mlp.up_proj" → 3, "base_model.model.model.layers.0.…" → 0), or −1 ("lm_head").
int64_t decoder_layer_of(const std::string& module);

}  // namespace retain
