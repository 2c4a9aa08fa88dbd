#include "retain/core/toml.h"

#include "retain/core/error.h"
#include "retain/core/files.h"

#include <cstring>
#include <sstream>
#include <toml++/toml.h>

namespace retain {

namespace {

// TOML allows non-ASCII characters only inside strings and comments, and a string starts only where
// a key or value does. Anything else is refused here, before toml++ sees it: toml++ 3.3 (Debian 12) reaches __builtin_unreachable() in
// is_non_ascii_horizontal_whitespace for U+00A1..U+0499 outside a string (found by fuzz/toml.cpp),
// which is undefined behaviour rather than a parse error.
void check_ascii_outside_strings(const std::string& text, const std::string& origin) {
  enum { outside, comment, basic, literal, ml_basic, ml_literal } state = outside;
  size_t line = 1, column = 1;
  char previous = '\n';  // the last character outside strings and comments that is not a space or tab
  const auto starts = [&](size_t i, const char* token) { return text.compare(i, std::strlen(token), token) == 0; };
  for (size_t i = 0; i < text.size(); ++i, ++column) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      column = 0;
      if (state == comment || state == basic || state == literal) state = outside;  // (unterminated: toml++ says so)
      if (state == outside) previous = '\n';
      continue;
    }
    switch (state) {
      case outside:
        if (static_cast<unsigned char>(c) >= 0x80)
          fail("config", "{}:{}:{}: a non-ASCII character outside a string or comment (TOML allows them only there; "
               "quote the key or value)", origin, line, column);
        if ((c == '"' || c == '\'') && (previous == '\0' || std::strchr("=[,{.\n", previous) == nullptr))
          // A string starts only where a key or value does; a quote inside a bare token (0e'x') is
          // malformed, and toml++ would read on as a bare token (past what this scan calls a string).
          fail("config", "{}:{}:{}: malformed TOML (a quote inside a bare key or value)", origin, line, column);
        if (c != ' ' && c != '\t' && c != '\r') previous = c;
        if (c == '#') state = comment;
        else if (starts(i, "\"\"\"")) state = ml_basic, i += 2, column += 2;
        else if (starts(i, "'''")) state = ml_literal, i += 2, column += 2;
        else if (c == '"') state = basic;
        else if (c == '\'') state = literal;
        break;
      case comment: break;
      case basic:
        if (c == '\\') ++i, ++column;
        else if (c == '"') state = outside, previous = '"';
        break;
      case literal:
        if (c == '\'') state = outside, previous = '\'';
        break;
      case ml_basic:
        if (c == '\\') ++i, ++column;
        else if (starts(i, "\"\"\"")) state = outside, i += 2, column += 2, previous = '"';
        break;
      case ml_literal:
        if (starts(i, "'''")) state = outside, i += 2, column += 2, previous = '\'';
        break;
    }
  }
}

}  // namespace

json parse_toml(const std::string& text, const std::string& origin) {
  check_ascii_outside_strings(text, origin);
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
