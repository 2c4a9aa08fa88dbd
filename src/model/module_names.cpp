#include "retain/model/module_names.h"

#include <cctype>

namespace retain {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool module_matches(const std::string& module, const std::string& target) {
  return !target.empty() && (module == target || ends_with(module, "." + target));
}

bool module_matches_any(const std::string& module, const std::vector<std::string>& targets) {
  for (const auto& t : targets)
    if (module_matches(module, t)) return true;
  return false;
}

int64_t decoder_layer_of(const std::string& module) {
  const std::string key = "layers.";
  for (size_t at = module.find(key); at != std::string::npos; at = module.find(key, at + 1)) {
    if (at != 0 && module[at - 1] != '.') continue;
    size_t end = at + key.size();
    while (end < module.size() && std::isdigit(static_cast<unsigned char>(module[end]))) ++end;
    if (end == at + key.size() || end >= module.size() || module[end] != '.') continue;
    return std::stoll(module.substr(at + key.size(), end - at - key.size()));
  }
  return -1;
}

}  // namespace retain
