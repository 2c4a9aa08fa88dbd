// Normalizers, each on a string whose normalized form is known.
#include "retain/tokenizer/normalizer.h"
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace retain::testing {
namespace {

std::string normalize(const json& config, const std::string& text) {
  NormalizedString s(text, 0);
  make_normalizer(config, "test", "normalizer")->normalize(s);
  EXPECT_EQ(s.origins().size(), s.text().size());
  return s.text();
}

TEST(Normalizers, UnicodeForms) {
  const std::string decomposed = "e\xCC\x81";  // e + U+0301
  const std::string composed = "\xC3\xA9";     // é
  EXPECT_EQ(normalize({{"type", "NFC"}}, decomposed), composed);
  EXPECT_EQ(normalize({{"type", "NFD"}}, composed), decomposed);
  // NFKC folds the ligature ﬁ (U+FB01) and fullwidth Ａ (U+FF21); NFC does not.
  EXPECT_EQ(normalize({{"type", "NFKC"}}, "\xEF\xAC\x81 \xEF\xBC\xA1"), "fi A");
  EXPECT_EQ(normalize({{"type", "NFC"}}, "\xEF\xAC\x81"), "\xEF\xAC\x81");
  EXPECT_EQ(normalize({{"type", "NFKD"}}, "\xE2\x84\xAB"), "A\xCC\x8A");  // Angstrom sign -> A + ring
}

TEST(Normalizers, LowercaseIsPerCharacterAsRust) {
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "HeLLo ÀÉ"), "hello àé");
  // U+0130 lowercases to i + U+0307 (Rust char::to_lowercase); final sigma is not contextual.
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "\xC4\xB0"), "i\xCC\x87");
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "\xCE\xA3\xCE\xA3"), "\xCF\x83\xCF\x83");
}

TEST(Normalizers, PrependReplaceStrip) {
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "_"}}, "ab"), "_ab");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "_"}}, ""), "");  // nothing to prepend to
  json replace_string = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}};
  EXPECT_EQ(normalize(replace_string, "a b  c"), "a\xE2\x96\x81" "b\xE2\x96\x81\xE2\x96\x81" "c");
  // A String pattern is literal: "." matches only dots.
  json replace_dot = {{"type", "Replace"}, {"pattern", {{"String", "."}}}, {"content", "!"}};
  EXPECT_EQ(normalize(replace_dot, "a.b"), "a!b");
  json replace_regex = {{"type", "Replace"}, {"pattern", {{"Regex", " +"}}}, {"content", " "}};
  EXPECT_EQ(normalize(replace_regex, "a   b  c"), "a b c");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, " \t a b \n"), "a b \n");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", false}, {"strip_right", true}}, " a b \xE3\x80\x80"), " a b");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, "   "), "");
}

TEST(Normalizers, SequenceAppliesInOrder) {
  json seq = {{"type", "Sequence"},
              {"normalizers", json::array({{{"type", "Lowercase"}},
                                           {{"type", "Prepend"}, {"prepend", "X"}}})}};
  EXPECT_EQ(normalize(seq, "AB"), "Xab");  // the prefix is added after lowercasing
}

TEST(Normalizers, StripAccentsAndNmt) {
  EXPECT_EQ(normalize({{"type", "StripAccents"}}, "e\xCC\x81"), "e");
  EXPECT_EQ(normalize({{"type", "Nmt"}}, "a\tb\x01" "c"), "a bc");
}

TEST(Normalizers, UnknownTypeNamesItAndItsPath) {
  json seq = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}, {{"type", "Precompiled"}}})}};
  std::string msg = error_of([&] { make_normalizer(seq, "/x/tokenizer.json", "normalizer"); });
  EXPECT_MSG(msg, "/x/tokenizer.json: normalizer.normalizers[1]: normalizer type \"Precompiled\" is not supported");
}

TEST(Normalizers, StripKeepsOriginalOffsets) {
  NormalizedString s("  ab", 10);
  make_normalizer({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, "t", "n")->normalize(s);
  EXPECT_EQ(s.text(), "ab");
  EXPECT_EQ(s.original_start(), 12u);
}

}  // namespace
}  // namespace retain::testing
