#include "retain/suite/text_clean.h"

#include <cctype>

namespace retain::suite {

namespace {

// Windows-1252 0x80..0x9F; 0 where undefined (those bytes are dropped).
constexpr uint16_t kCp1252[32] = {0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
                                  0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
                                  0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length of a valid UTF-8 sequence at text[i], or 0.
size_t valid_sequence(const std::string& text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

bool word_char(unsigned char c) { return std::isalnum(c) || c == '-' || c == '+' || c == '.' || c == '_'; }

}  // namespace

std::string to_valid_utf8(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t n = valid_sequence(text, i);
    if (n == 1) {
      if (c >= 0x20 || c == '\t' || c == '\n') out += static_cast<char>(c);
      else if (c == '\r') out += '\n';
      ++i;
    } else if (n > 1) {
      out.append(text, i, n);
      i += n;
    } else {
      if (c >= 0xA0) append_utf8(out, c);
      else if (c >= 0x80 && kCp1252[c - 0x80]) append_utf8(out, kCp1252[c - 0x80]);
      ++i;
    }
  }
  return out;
}

std::string normalize_whitespace(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const bool nbsp = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0xA0;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || nbsp) {
      pending_space = !out.empty();
      if (nbsp) ++i;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += static_cast<char>(c);
  }
  return out;
}

std::string truncate_at_word(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  size_t cut = text.rfind(' ', max_chars);
  if (cut == std::string::npos || cut == 0) {
    cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  }
  std::string out = text.substr(0, cut);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string remove_words(const std::string& text, const std::vector<std::string>& words) {
  std::string out = text;
  for (const auto& word : words) {
    if (word.empty()) continue;
    std::string result;
    size_t i = 0;
    while (i < out.size()) {
      bool match = i + word.size() <= out.size();
      for (size_t k = 0; match && k < word.size(); ++k)
        match = std::tolower(static_cast<unsigned char>(out[i + k])) == std::tolower(static_cast<unsigned char>(word[k]));
      if (match) {
        const bool left_ok = i == 0 || !word_char(static_cast<unsigned char>(out[i - 1]));
        const size_t end = i + word.size();
        // A trailing '.', '-' or '+' followed by a non-word character is punctuation, not part of the name.
        bool right_ok = end == out.size() || !word_char(static_cast<unsigned char>(out[end]));
        if (!right_ok && (out[end] == '.' || out[end] == '-' || out[end] == ',') &&
            (end + 1 == out.size() || !std::isalnum(static_cast<unsigned char>(out[end + 1]))))
          right_ok = true;
        if (left_ok && right_ok) {
          i = end;
          continue;
        }
      }
      result += out[i++];
    }
    out = std::move(result);
  }
  return normalize_whitespace(out);
}

std::vector<std::string> overlap_tokens(const std::string& text) {
  std::vector<std::string> tokens;
  std::string current;
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c >= 0x80) {
      current += static_cast<char>(std::tolower(c));
    } else if (!current.empty()) {
      tokens.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

size_t count_words(const std::string& text) {
  size_t words = 0;
  bool in_word = false;
  for (const char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

uint64_t stable_hash(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

uint64_t stable_hash(std::initializer_list<std::string> parts) {
  std::string joined;
  for (const auto& part : parts) {
    joined += part;
    joined += '\x1f';
  }
  return stable_hash(joined);
}

}  // namespace retain::suite
