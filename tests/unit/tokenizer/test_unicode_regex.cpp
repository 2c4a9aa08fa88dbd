// UTF-8 primitives and the Oniguruma-compatible regex layer.
#include "retain/tokenizer/regex.h"
#include "retain/tokenizer/unicode.h"
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace retain::testing {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Unicode, FromUtf8LossyReplacesMaximalSubparts) {
  EXPECT_EQ(unicode::from_utf8_lossy("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(unicode::from_utf8_lossy("\xF0\x9F\x99"), kFffd);                   // truncated 4-byte sequence
  EXPECT_EQ(unicode::from_utf8_lossy("\xC0\x80"), kFffd + kFffd);               // C0 can never start a sequence
  EXPECT_EQ(unicode::from_utf8_lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);   // surrogate: ED then two strays
  EXPECT_EQ(unicode::from_utf8_lossy("a\xFF" "b"), "a" + kFffd + "b");
  EXPECT_EQ(unicode::find_invalid_utf8("ab\xE2\x82"), 2u);
  EXPECT_EQ(unicode::find_invalid_utf8("ab\xE2\x82\xAC"), std::string::npos);
}

TEST(Unicode, ByteAlphabetIsGpt2s) {
  const auto& map = unicode::byte_to_code_point();
  EXPECT_EQ(map[' '], 0x120u);  // Ġ
  EXPECT_EQ(map['\n'], 0x10Au);  // Ċ
  EXPECT_EQ(map['A'], static_cast<char32_t>('A'));
  for (int b = 0; b < 256; ++b) EXPECT_EQ(unicode::code_point_to_byte(map[b]), b);
  EXPECT_EQ(unicode::code_point_to_byte(0x4E00), -1);
}

TEST(Unicode, CharacterClasses) {
  EXPECT_TRUE(unicode::is_whitespace(0x85));
  EXPECT_TRUE(unicode::is_whitespace(0x3000));
  EXPECT_FALSE(unicode::is_whitespace(0x200B));  // zero width space is not White_Space
  EXPECT_TRUE(unicode::is_numeric(0x0663));       // Arabic-Indic three
  EXPECT_TRUE(unicode::is_numeric(0x00BD));       // ½ (No)
  EXPECT_TRUE(unicode::is_punctuation('$'));      // ASCII punctuation although Sc
  EXPECT_TRUE(unicode::is_punctuation(0x3002));   // 。
  EXPECT_TRUE(unicode::is_word_char(0xE9));
  EXPECT_TRUE(unicode::is_word_char(0x0301));     // marks are word characters
  EXPECT_FALSE(unicode::is_word_char('-'));
}

std::vector<std::pair<size_t, size_t>> spans(const Regex& re, const std::string& text) {
  std::vector<std::pair<size_t, size_t>> out;
  for (const auto& m : re.find_all(text)) out.emplace_back(m.begin, m.end);
  return out;
}

TEST(Regex, IteratesLikeOniguruma) {
  using P = std::vector<std::pair<size_t, size_t>>;
  // An empty match right after the previous match is skipped.
  EXPECT_EQ(spans(Regex("a*"), "baa"), (P{{0, 0}, {1, 3}}));
  EXPECT_EQ(spans(Regex("x"), ""), P{});
  EXPECT_EQ(spans(Regex::literal("a.b"), "a.b axb"), (P{{0, 3}}));
}

TEST(Regex, ClassesMeanWhatOnigurumaMeans) {
  EXPECT_TRUE(Regex("^\\s$").matches("\xC2\x85"));   // NEL is \s in Oniguruma, not in plain PCRE2
  EXPECT_TRUE(Regex("^\\w+$").matches("caf\xC3\xA9_1"));
  EXPECT_FALSE(Regex("^\\w$").matches("-"));
  EXPECT_TRUE(Regex("(?i:'s)").matches("'S"));
  EXPECT_EQ(Regex::translate_oniguruma("[^\\s\\p{L}]"), "[^\\p{White_Space}\\p{L}]");
}

TEST(Regex, InvalidPatternIsAnError) {
  std::string msg = error_of([] { Regex("(unclosed"); });
  EXPECT_MSG(msg, "[tokenizer] invalid regular expression \"(unclosed\"");
}

}  // namespace
}  // namespace retain::testing
