#include "retain/suite/sources/dictd.h"

#include "base64_digit.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/suite/sources/r_lazyload.h"
#include "retain/suite/text_clean.h"

#include <cctype>
#include <map>
#include <sstream>

namespace retain::suite {

namespace fs = std::filesystem;

int64_t dictd_number(const std::string& digits) {
  if (digits.empty()) fail("data", "an empty dictd number (expected base64 digits A-Z a-z 0-9 + /)");
  int64_t value = 0;
  for (const char c : digits) {
    const int d = base64_digit(c);
    if (d < 0) fail("data", "\"{}\" is not a dictd base64 number (digits A-Z a-z 0-9 + /)", digits);
    if (value > (INT64_MAX - d) / 64) fail("data", "dictd number \"{}\" overflows 64 bits", digits);
    value = value * 64 + d;
  }
  return value;
}

std::vector<DictEntry> read_dictd(const fs::path& stem) {
  const fs::path index = stem.string() + ".index", dict = stem.string() + ".dict.dz";
  const std::string text = inflate_zlib(read_file(dict, "data"), dict.string());
  std::istringstream lines(read_file(index, "data"));
  std::map<std::pair<int64_t, int64_t>, std::string> entries;
  std::string line;
  size_t line_number = 0;
  while (std::getline(lines, line)) {
    ++line_number;
    if (line.empty()) continue;
    const size_t t1 = line.find('\t'), t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string::npos)
      fail("data", "{}:{}: expected HEADWORD<TAB>OFFSET<TAB>LENGTH", index.string(), line_number);
    const std::string head = line.substr(0, t1);
    if (head.rfind("00-database", 0) == 0 || head.rfind("00database", 0) == 0) continue;
    size_t t3 = line.find('\t', t2 + 1);
    int64_t offset = 0, length = 0;
    try {
      offset = dictd_number(line.substr(t1 + 1, t2 - t1 - 1));
      length = dictd_number(line.substr(t2 + 1, t3 == std::string::npos ? t3 : t3 - t2 - 1));
    } catch (const Error& e) {
      fail("data", "{}:{}: entry \"{}\": {}", index.string(), line_number, head, e.message());
    }
    if (offset > static_cast<int64_t>(text.size()) || length > static_cast<int64_t>(text.size()) - offset)
      fail("data", "{}:{}: entry \"{}\" at {}+{} runs past the end of {} ({} bytes)", index.string(), line_number, head,
           offset, length, dict.string(), text.size());
    entries.emplace(std::make_pair(offset, length), head);
  }
  std::vector<DictEntry> out;
  out.reserve(entries.size());
  for (const auto& [key, head] : entries)
    out.push_back({head, to_valid_utf8(text.substr(static_cast<size_t>(key.first), static_cast<size_t>(key.second))), key.first});
  return out;
}

namespace {

// Removes the text between each `open` and the next `close` (inclusive).
std::string remove_spans(const std::string& text, char open, char close) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == open) {
      const size_t end = text.find(close, i + 1);
      if (end != std::string::npos && end - i < 200) {
        i = end + 1;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

}  // namespace

std::string gcide_plain_text(const std::string& entry) {
  std::istringstream lines(entry);
  std::string line, kept;
  while (std::getline(lines, line)) {
    std::string t = normalize_whitespace(line);
    if (!t.empty() && t.front() == '[' && t.back() == ']') continue;  // [1913 Webster], [PJC], ...
    kept += line + "\n";
  }
  // Pronunciations: \Ab"a*ca\ and the "([a^]b"[.a]*k[.a])" that follows.
  std::string out;
  size_t i = 0;
  while (i < kept.size()) {
    if (kept[i] == '\\') {
      const size_t end = kept.find('\\', i + 1);
      if (end != std::string::npos && end - i < 120) {
        i = end + 1;
        continue;
      }
    }
    if (kept[i] == '(' && i + 1 < kept.size() && kept[i + 1] == '[') {
      const size_t end = kept.find(')', i);
      if (end != std::string::npos && end - i < 120) {
        i = end + 1;
        continue;
      }
    }
    out += kept[i++];
  }
  std::string cleaned;
  for (const char c : out)
    if (c != '{' && c != '}') cleaned += c;
  cleaned = remove_spans(cleaned, '<', '>');
  return normalize_whitespace(cleaned);
}

std::vector<std::string> gcide_field_labels(const std::string& entry) {
  std::vector<std::string> labels;
  size_t pos = 0;
  while ((pos = entry.find('(', pos)) != std::string::npos) {
    const size_t end = entry.find(')', pos);
    if (end == std::string::npos) break;
    const std::string inner = entry.substr(pos + 1, end - pos - 1);
    // "(Zool.)", "(Naut.)": one capitalised word ending in '.'.
    if (inner.size() >= 3 && inner.size() <= 12 && inner.back() == '.' && std::isupper(static_cast<unsigned char>(inner[0]))) {
      bool word = true;
      for (size_t k = 1; k + 1 < inner.size(); ++k) word = word && std::islower(static_cast<unsigned char>(inner[k]));
      if (word) labels.push_back(inner.substr(0, inner.size() - 1));
    }
    pos = end + 1;
  }
  return labels;
}

std::pair<std::string, std::string> foldoc_category_and_text(const DictEntry& entry) {
  std::string body = entry.text;
  const size_t first_newline = body.find('\n');
  body = first_newline == std::string::npos ? "" : body.substr(first_newline + 1);
  std::string category;
  const size_t open = body.find('<');
  if (open != std::string::npos) {
    const size_t close = body.find('>', open);
    if (close != std::string::npos && close - open < 40) {
      const std::string inner = body.substr(open + 1, close - open - 1);
      bool tag = !inner.empty();
      for (const char c : inner) tag = tag && ((c >= 'a' && c <= 'z') || c == ' ' || c == ',' || c == '-');
      if (tag) category = inner.substr(0, inner.find(','));
    }
  }
  // Drop "(YYYY-MM-DD)" date lines and the category tags.
  std::istringstream lines(body);
  std::string line, kept;
  while (std::getline(lines, line)) {
    const std::string t = normalize_whitespace(line);
    if (t.size() == 12 && t.front() == '(' && t.back() == ')' && t[5] == '-') continue;
    kept += line + "\n";
  }
  kept = remove_spans(kept, '<', '>');
  std::string cleaned;
  for (const char c : kept)
    if (c != '{' && c != '}') cleaned += c;
  return {category, normalize_whitespace(cleaned)};
}

}  // namespace retain::suite
