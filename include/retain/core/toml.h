// retain/core/toml.h — TOML configuration files, read into JSON (one value model for all settings).
#pragma once

#include "retain/core/json.h"

#include <filesystem>
#include <string>

namespace retain {

/// Parses a TOML file into a JSON object (tables → objects, arrays → arrays; dates become strings).
/// A syntax error names the file, line and column.
json read_toml_file(const std::filesystem::path& path);
/// Same for TOML text; `origin` names it in errors.
json parse_toml(const std::string& text, const std::string& origin);

}  // namespace retain
