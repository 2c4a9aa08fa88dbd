// retain/core/json.h — strict JSON and JSONL reading with errors that name the file, line and key.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>

namespace retain {

using json = nlohmann::json;

/// Parses a JSON file; a syntax error names the file, line and column.
json read_json_file(const std::filesystem::path& path, const std::string& component = "json");

/// Parses JSON text; `origin` names it in errors (a path, or "<string>").
json parse_json(const std::string& text, const std::string& origin, const std::string& component = "json");

/// Calls `visit(line_number, value)` for every non-blank line of a JSONL file (line numbers from 1).
/// A line that does not parse, or an exception from `visit`, is reported as "FILE:LINE: ...".
void for_each_jsonl(const std::filesystem::path& path, const std::function<void(size_t, const json&)>& visit,
                    const std::string& component = "jsonl");

/// Typed access to an object member with errors that say which key of which file was wrong.
/// `where` is a description such as "config.json".
template <typename T>
T json_get(const json& object, const std::string& key, const std::string& where, const std::string& component);

/// As json_get, with a default when the key is absent or null.
template <typename T>
T json_get_or(const json& object, const std::string& key, const T& fallback, const std::string& where,
              const std::string& component);

}  // namespace retain

#include "retain/core/json_inl.h"
