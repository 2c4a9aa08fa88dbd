// retain/tokenizer/regex.h — the regular expressions of tokenizer.json, run by PCRE2.
//
// Hugging Face compiles `Split`/`Replace` patterns with Oniguruma (Ruby syntax). PCRE2 with UTF and
// UCP accepts the same patterns; the few classes whose meaning differs are rewritten first so that
// they mean what Oniguruma means: `\s`/`\S` become the White_Space property (PCRE2's `\s` misses
// U+0085), `\w`/`\W` become Alphabetic|Mark|Nd|Pc|Join_Control, `\h` is a hex digit, and `^`/`$`
// are line anchors (Ruby semantics). Matching uses the JIT when PCRE2 has one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace retain {

class Regex {
 public:
  /// A byte range [begin, end) of the searched text.
  struct Span {
    size_t begin;
    size_t end;
  };

  /// Compiles an Oniguruma-style pattern; throws retain::Error("[tokenizer] ...") if it is invalid.
  explicit Regex(const std::string& pattern);
  /// A pattern matching `literal` exactly (HF's `{"String": ...}` patterns).
  static Regex literal(const std::string& literal);

  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();

  /// All non-overlapping matches, left to right, with Oniguruma's iteration rule: an empty match
  /// right where the previous match ended is skipped. `text` must be valid UTF-8.
  std::vector<Span> find_all(std::string_view text) const;
  /// Whether the pattern matches somewhere in `text`.
  bool matches(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

  /// The PCRE2 pattern that an Oniguruma pattern is rewritten to (exposed for tests).
  static std::string translate_oniguruma(const std::string& pattern);
  /// `literal` with every regex metacharacter escaped.
  static std::string escape(const std::string& literal);

 private:
  struct Compiled;
  std::string pattern_;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace retain
