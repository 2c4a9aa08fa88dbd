#include "retain/suite/prose_filter.h"

#include <cctype>
#include <sstream>

namespace retain::suite {

namespace {

bool is_letter(unsigned char c) { return std::isalpha(c) || c >= 0x80; }  // UTF-8 letters count

// A word token: optional opening ( [ " ' “ ‘, letters with ' ’ - inside, optional closing punctuation.
bool is_word_token(const std::string& token) {
  size_t i = 0, n = token.size();
  while (i < n && (token[i] == '(' || token[i] == '[' || token[i] == '"' || token[i] == '\'')) ++i;
  if (i < n && static_cast<unsigned char>(token[i]) == 0xE2) i += 3;  // “ ‘ (three bytes)
  size_t letters = 0;
  while (i < n) {
    const unsigned char c = token[i];
    if (is_letter(c)) {
      ++letters;
      ++i;
    } else if ((c == '\'' || c == '-') && letters > 0 && i + 1 < n && is_letter(token[i + 1])) {
      ++i;
    } else {
      break;
    }
  }
  if (letters == 0) return false;
  for (; i < n; ++i) {
    const char c = token[i];
    if (!(c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == ')' || c == ']' ||
          c == '"' || c == '\'' || static_cast<unsigned char>(c) >= 0x80))
      return false;
  }
  return true;
}

}  // namespace

bool is_prose(const std::string& paragraph) {
  for (const char* marker : {"{", "}", "=>", "->", "::", "==", "#include", "();"})
    if (paragraph.find(marker) != std::string::npos) return false;
  for (size_t i = paragraph.find('$'); i != std::string::npos; i = paragraph.find('$', i + 1))
    if (i + 1 < paragraph.size() && (std::isalpha(static_cast<unsigned char>(paragraph[i + 1])) || paragraph[i + 1] == '_'))
      return false;
  std::istringstream in(paragraph);
  std::string token;
  size_t tokens = 0, words = 0;
  while (in >> token) {
    ++tokens;
    if (is_word_token(token)) ++words;
  }
  return tokens >= kMinProseWords && static_cast<double>(words) >= kProseWordShare * static_cast<double>(tokens);
}

}  // namespace retain::suite
