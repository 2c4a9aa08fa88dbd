#include "retain/core/toml.h"

#include "retain/core/error.h"
#include "retain/core/files.h"

#include <sstream>
#include <toml++/toml.h>

namespace retain {

json parse_toml(const std::string& text, const std::string& origin) {
  toml::table table;
  try {
    table = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    fail("config", "{}:{}:{}: malformed TOML ({})", origin, e.source().begin.line, e.source().begin.column,
         std::string(e.description()));
  }
  std::ostringstream out;
  out << toml::json_formatter{table};
  return parse_json(out.str(), origin, "config");
}

json read_toml_file(const std::filesystem::path& path) { return parse_toml(read_file(path, "config"), path.string()); }

}  // namespace retain
