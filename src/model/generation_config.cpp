#include "retain/model/generation_config.h"

#include "retain/core/error.h"
#include "retain/core/json.h"

#include <algorithm>
#include <optional>

namespace retain {

namespace {

/// `key` of generation_config.json: absent, null, an integer or a list of integers.
std::vector<int64_t> token_ids(const json& config, const std::string& key, const std::string& where) {
  if (!config.contains(key) || config[key].is_null()) return {};
  const json& value = config[key];
  if (value.is_array()) {
    std::vector<int64_t> ids;
    for (size_t i = 0; i < value.size(); ++i) {
      RETAIN_CHECK(value[i].is_number_integer(), "generate", "{}: \"{}\"[{}] is {}, expected a token id", where, key, i,
                   value[i].dump());
      ids.push_back(value[i].get<int64_t>());
    }
    return ids;
  }
  return {json_get<int64_t>(config, key, where, "generate")};
}

}  // namespace

GenerationDefaults read_generation_defaults(const std::filesystem::path& model_dir, const ModelConfig& config) {
  GenerationDefaults d;
  d.eos_token_ids = config.eos_token_ids;
  std::optional<int64_t> pad = config.pad_token_id;
  const auto path = model_dir / "generation_config.json";
  if (std::filesystem::exists(path)) {
    const json generation_config = read_json_file(path, "generate");
    const std::string where = path.string();
    for (int64_t id : token_ids(generation_config, "eos_token_id", where))
      if (std::find(d.eos_token_ids.begin(), d.eos_token_ids.end(), id) == d.eos_token_ids.end())
        d.eos_token_ids.push_back(id);
    const auto pads = token_ids(generation_config, "pad_token_id", where);
    if (!pads.empty()) pad = pads.front();
  }
  d.pad_token_id = pad.value_or(d.eos_token_ids.empty() ? 0 : d.eos_token_ids.front());
  return d;
}

}  // namespace retain
