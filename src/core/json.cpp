#include "retain/core/json.h"

#include "retain/core/files.h"

#include <fstream>

namespace retain {

namespace detail {
const char* json_type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}
}  // namespace detail

namespace {
// Line and column of a byte offset, for parse errors.
std::pair<size_t, size_t> line_column(const std::string& text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}
}  // namespace

json parse_json(const std::string& text, const std::string& origin, const std::string& component) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    auto [line, column] = line_column(text, e.byte == 0 ? 0 : e.byte - 1);
    std::string what = e.what();
    auto pos = what.find("parse error");
    if (pos != std::string::npos) what = what.substr(pos);
    fail(component, "{}:{}:{}: malformed JSON ({})", origin, line, column, what);
  } catch (const json::exception& e) {  // e.g. out_of_range 406: a number too large for a double (1e3050)
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    fail(component, "{}: malformed JSON ({})", origin, what);
  }
}

json read_json_file(const std::filesystem::path& path, const std::string& component) {
  return parse_json(read_file(path, component), path.string(), component);
}

void for_each_jsonl(const std::filesystem::path& path, const std::function<void(size_t, const json&)>& visit,
                    const std::string& component) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(component, "cannot read {}", path.string());
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    json value;
    try {
      value = json::parse(line);
    } catch (const json::exception& e) {  // parse_error, and out_of_range for a number past a double
      fail(component, "{}:{}: malformed JSON line ({})", path.string(), number, e.what());
    }
    try {
      visit(number, value);
    } catch (const Error& e) {
      fail(e.component(), "{}:{}: {}", path.string(), number, e.message());
    } catch (const std::exception& e) {
      fail(component, "{}:{}: {}", path.string(), number, e.what());
    }
  }
}

}  // namespace retain
