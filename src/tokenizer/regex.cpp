#include "retain/tokenizer/regex.h"

#include "retain/core/error.h"
#include "retain/tokenizer/unicode.h"

#include <pcre2.h>

namespace retain {

namespace {
constexpr const char* kWordClass = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control})";
constexpr const char* kSpaceClass = R"(\p{White_Space})";
constexpr const char* kNotSpaceClass = R"(\P{White_Space})";

size_t unicode_step(std::string_view text, size_t pos) {
  return unicode::utf8_length(static_cast<unsigned char>(text[pos]));
}

// Thread-local match data, grown as needed (match data must not be shared between threads).
struct MatchData {
  pcre2_match_data* data = nullptr;
  ~MatchData() {
    if (data) pcre2_match_data_free(data);
  }
};
pcre2_match_data* thread_match_data() {
  thread_local MatchData holder;
  if (!holder.data) holder.data = pcre2_match_data_create(32, nullptr);
  return holder.data;
}
}  // namespace

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

std::string Regex::translate_oniguruma(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 16);
  int class_depth = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      ++i;
      bool in_class = class_depth > 0;
      switch (e) {
        case 's': out += kSpaceClass; break;
        case 'S': out += kNotSpaceClass; break;
        case 'w': out += in_class ? std::string(kWordClass) : "[" + std::string(kWordClass) + "]"; break;
        case 'W':
          if (in_class) out += "\\W";
          else out += "[^" + std::string(kWordClass) + "]";
          break;
        case 'h': out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]"; break;
        case 'H': out += in_class ? "\\H" : "[^0-9a-fA-F]"; break;
        default:
          out += '\\';
          out += e;
          // \p{..}, \x{..}: copy the braces verbatim.
          if ((e == 'p' || e == 'P' || e == 'x') && i + 1 < p.size() && p[i + 1] == '{') {
            size_t close = p.find('}', i + 1);
            if (close != std::string::npos) {
              out.append(p, i + 1, close - i);
              i = close;
            }
          }
      }
      continue;
    }
    if (c == '[') {
      // A '[' inside a class starts a nested class (Oniguruma) or a POSIX class [:alpha:].
      ++class_depth;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out += '^';
        ++i;
      }
      // A ']' right after '[' or '[^' is a literal in both engines.
      if (i + 1 < p.size() && p[i + 1] == ']') {
        out += "\\]";
        ++i;
      }
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

std::string Regex::escape(const std::string& literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-#&~").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Regex::Regex(const std::string& pattern) : pattern_(pattern), compiled_(std::make_unique<Compiled>()) {
  std::string translated = translate_oniguruma(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error_code, &error_offset, nullptr);
  if (!compiled_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    fail("tokenizer", "invalid regular expression \"{}\" (as PCRE2: \"{}\"): {} at offset {}", pattern, translated,
         reinterpret_cast<const char*>(message), static_cast<size_t>(error_offset));
  }
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if absent
}

Regex Regex::literal(const std::string& literal) { return Regex(escape(literal)); }

Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

std::vector<Regex::Span> Regex::find_all(std::string_view text) const {
  std::vector<Span> spans;
  pcre2_match_data* data = thread_match_data();
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  size_t last_end = static_cast<size_t>(-1);
  while (start <= text.size()) {
    int rc = pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      fail("tokenizer", "regular expression \"{}\" failed: {}", pattern_, reinterpret_cast<const char*>(message));
    }
    PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    size_t b = ovector[0], e = ovector[1];
    if (b == e && b == last_end) {
      // Oniguruma's iterator skips an empty match adjacent to the previous one: retry one char later.
      if (b >= text.size()) break;
      start = b + unicode_step(text, b);
      continue;
    }
    spans.push_back({b, e});
    last_end = e;
    if (e == b) {
      if (e >= text.size()) break;
      start = e + unicode_step(text, e);
    } else {
      start = e;
    }
  }
  return spans;
}

bool Regex::matches(std::string_view text) const {
  pcre2_match_data* data = thread_match_data();
  int rc = pcre2_match(compiled_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, PCRE2_NO_UTF_CHECK,
                       data, nullptr);
  return rc >= 0;
}

}  // namespace retain
