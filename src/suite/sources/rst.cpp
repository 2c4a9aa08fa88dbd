#include "retain/suite/sources/rst.h"

#include "retain/suite/text_clean.h"

#include <cctype>
#include <sstream>

namespace retain::suite {

namespace {

size_t indent_of(const std::string& line) {
  size_t width = 0;
  for (char c : line) {
    if (c == ' ') ++width;
    else if (c == '\t') width = (width / 8 + 1) * 8;
    else break;
  }
  return width;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t") == std::string::npos; }

// A section adornment or transition: one punctuation character repeated, at least three times.
bool is_adornment(const std::string& t) {
  if (t.size() < 3 || std::isalnum(static_cast<unsigned char>(t[0])) || std::isspace(static_cast<unsigned char>(t[0])) ||
      static_cast<unsigned char>(t[0]) >= 0x80)
    return false;
  return t.find_first_not_of(t[0]) == std::string::npos;
}

// A simple-table border: runs of '=' (or '-') separated by spaces, at least two runs.
bool is_table_border(const std::string& t) {
  if (t.empty() || (t[0] != '=' && t[0] != '-')) return false;
  if (t.find_first_not_of(std::string(1, t[0]) + " ") != std::string::npos) return false;
  return t.find(' ') != std::string::npos;
}

// Length of a list marker at the start of `t` ("- ", "* ", "+ ", "#. ", "12. ", "3) ", "(a) "), else 0.
size_t list_marker(const std::string& t) {
  if (t.size() >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+' || t[0] == '#') && t[1] == ' ') return 2;
  if (t.size() >= 3 && t[0] == '#' && t[1] == '.' && t[2] == ' ') return 3;
  size_t i = t[0] == '(' ? 1 : 0, digits = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || (digits == 0 && std::isalpha(static_cast<unsigned char>(t[i])) && i + 1 < t.size() && (t[i + 1] == '.' || t[i + 1] == ')')))) {
    ++i;
    ++digits;
    if (digits > 3) return 0;
  }
  if (digits == 0 || i + 1 >= t.size()) return 0;
  if ((t[i] == '.' || t[i] == ')') && t[i + 1] == ' ') return i + 2;
  return 0;
}

// ":name:" field-list line.
bool is_field(const std::string& t) {
  if (t.size() < 3 || t[0] != ':') return false;
  const size_t end = t.find(':', 1);
  return end != std::string::npos && end > 1 && (end + 1 == t.size() || t[end + 1] == ' ') &&
         t.find('`') == std::string::npos;
}

// ".. name::" directives whose body is code, data or markup rather than text: their bodies are left
// out. Other directives (note, warning, function, method, class, versionadded, …) keep their body as
// text; comments (".. " without "::"), targets and substitution definitions are left out whole.
bool body_is_code(const std::string& name) {
  for (const char* code : {"code-block", "code", "sourcecode", "literalinclude", "highlight", "doctest", "testcode",
                           "testoutput", "testsetup", "testcleanup", "math", "csv-table", "list-table", "table",
                           "image", "figure", "raw", "toctree", "include", "autosummary", "automodule", "autoclass",
                           "autofunction", "graphviz", "kernel-doc", "kernel-feat", "kernel-abi", "productionlist",
                           "index", "parsed-literal", "only", "ifconfig", "plot", "ipython", "jupyter-execute",
                           "prompt", "tabularcolumns", "cssclass", "contents", "sectnum", "program", "option",
                           "envvar", "cmdoption", "flat-table", "c:macro", "c:function", "c:type", "c:struct",
                           "c:member", "c:var"})
    if (name == code) return true;
  return false;
}

// The directive name of a ".. name:: …" line ("" for a comment, target or substitution definition).
std::string directive_name(const std::string& t) {
  const size_t colons = t.find("::");
  if (colons == std::string::npos || t.rfind(".. |", 0) == 0 || t.rfind(".. _", 0) == 0) return "";
  const std::string name = t.substr(3, colons - 3);
  if (name.empty() || name.find(' ') != std::string::npos) return "";
  return name;
}

}  // namespace

std::string strip_rst_inline(const std::string& p) {
  std::string out;
  out.reserve(p.size());
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '`') {
      const bool dbl = i + 1 < p.size() && p[i + 1] == '`';
      const std::string close = dbl ? "``" : "`";
      const size_t start = i + close.size();
      const size_t end = p.find(close, start);
      if (end == std::string::npos) {  // unbalanced: drop the backquote
        i += close.size();
        continue;
      }
      std::string inner = p.substr(start, end - start);
      if (!dbl) {
        const size_t lt = inner.rfind(" <");
        if (lt != std::string::npos && !inner.empty() && inner.back() == '>') inner = inner.substr(0, lt);
        if (!inner.empty() && inner.front() == '~') inner = inner.substr(1);
      }
      out += inner;
      i = end + close.size();
      while (i < p.size() && p[i] == '_') ++i;  // `ref`_ and `anonymous`__
      continue;
    }
    if (c == ':' && (out.empty() || out.back() == ' ' || out.back() == '(')) {  // :role:`…` → `…`
      size_t j = i + 1;
      while (j < p.size() && (std::isalnum(static_cast<unsigned char>(p[j])) || p[j] == ':' || p[j] == '-' || p[j] == '_' || p[j] == '+'))
        ++j;
      if (j > i + 1 && j < p.size() && p[j] == '`' && p[j - 1] == ':') {
        i = j;
        continue;
      }
    }
    if (c == '*') {  // *emphasis*, **strong**
      ++i;
      continue;
    }
    if (c == '[' && i + 1 < p.size()) {  // footnote and citation references: [1]_ [#]_ [#note]_
      const size_t end = p.find("]_", i);
      if (end != std::string::npos && end - i <= 20 && p.find(' ', i) > end) {
        i = end + 2;
        if (!out.empty() && out.back() == ' ') out.pop_back();
        continue;
      }
    }
    out += c;
    ++i;
  }
  return out;
}

std::vector<std::string> rst_paragraphs(const std::string& text) {
  std::vector<std::string> paragraphs;
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
    }
  }
  std::string current;
  size_t current_indent = 0;
  bool skipping = false;  // inside a directive, comment, field body or literal block
  size_t skip_indent = 0;
  bool in_table = false;
  bool in_directive_head = false;  // just after a text directive's line: its ":option:" lines follow

  const auto flush = [&] {
    if (current.empty()) return;
    std::string p = current;
    current.clear();
    bool literal_follows = false;
    if (p.size() >= 2 && p.compare(p.size() - 2, 2, "::") == 0) {
      literal_follows = true;
      p.pop_back();
      if (p.size() >= 2 && p[p.size() - 2] == ' ') p.erase(p.size() - 2);  // "text ::" → "text"
    }
    p = normalize_whitespace(strip_rst_inline(p));
    if (!p.empty()) paragraphs.push_back(p);
    if (literal_follows) {
      skipping = true;
      skip_indent = current_indent;
    }
  };

  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string& line = lines[n];
    if (skipping) {
      if (is_blank(line) || indent_of(line) > skip_indent) continue;
      skipping = false;
    }
    if (is_blank(line)) {
      flush();
      continue;
    }
    const size_t indent = indent_of(line);
    const std::string t = trim(line);
    if (in_table) {
      if (is_table_border(t) && (n + 1 == lines.size() || is_blank(lines[n + 1]))) in_table = false;
      continue;
    }
    if (t.rfind("..", 0) == 0 && (t.size() == 2 || t[2] == ' ')) {  // comment, directive, target
      flush();
      const std::string name = directive_name(t);
      if (name.empty() || body_is_code(name)) {
        skipping = true;
        skip_indent = indent;
      } else {
        in_directive_head = true;  // the body is text; skip the directive's own option lines first
      }
      continue;
    }
    if (in_directive_head) {
      in_directive_head = false;
      if (t[0] == ':' && is_field(t)) {
        in_directive_head = true;
        continue;
      }
    }
    if (is_table_border(t)) {
      flush();
      in_table = true;
      continue;
    }
    if (is_adornment(t)) {  // the paragraph so far was a title (or this is a transition)
      current.clear();
      continue;
    }
    if (t[0] == '|' || t.rfind("+-", 0) == 0 || t.rfind("+=", 0) == 0) {  // grid tables, line blocks
      flush();
      continue;
    }
    if (is_field(t)) {
      flush();
      skipping = true;
      skip_indent = indent;
      continue;
    }
    if (const size_t marker = list_marker(t); marker > 0) {
      flush();
      current_indent = indent;
      current = t.substr(marker);
      continue;
    }
    if (current.empty()) {
      current_indent = indent;
      current = t;
    } else {
      current += ' ';
      current += t;
    }
  }
  flush();
  return paragraphs;
}

}  // namespace retain::suite
