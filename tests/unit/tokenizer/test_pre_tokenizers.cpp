// Pre-tokenizers: every split behaviour, Metaspace schemes, ByteLevel, Whitespace, Digits, errors.
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace retain::testing {
namespace {

using Strings = std::vector<std::string>;
const std::string kMeta = "\xE2\x96\x81";  // ▁

json split(const std::string& behavior, bool invert = false, const json& pattern = {{"String", "-"}}) {
  return {{"type", "Split"}, {"pattern", pattern}, {"behavior", behavior}, {"invert", invert}};
}

TEST(PreTokenizers, SplitBehaviours) {
  // The examples of HF's SplitDelimiterBehavior documentation.
  const std::string text = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(split("Removed"), text), (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("Isolated"), text), (Strings{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithPrevious"), text), (Strings{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithNext"), text), (Strings{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_tokenize(split("Contiguous"), text), (Strings{"the", "-", "final", "--", "countdown"}));
}

TEST(PreTokenizers, SplitRegexAndInvert) {
  json words = {{"Regex", "\\w+"}};
  // Inverted: the words are kept and what lies between them is the delimiter.
  EXPECT_EQ(pre_tokenize(split("Removed", true, words), "ab, cd!"), (Strings{"ab", "cd"}));
  EXPECT_EQ(pre_tokenize(split("Removed", false, words), "ab, cd!"), (Strings{", ", "!"}));
  EXPECT_EQ(pre_tokenize(split("Isolated", false, {{"Regex", "\\p{N}{1,3}"}}), "12345"), (Strings{"123", "45"}));
}

TEST(PreTokenizers, UnknownBehaviourIsAnError) {
  std::string msg = error_of([&] { make_pre_tokenizer(split("Sideways"), "f.json", "pre_tokenizer"); });
  EXPECT_MSG(msg, "f.json: pre_tokenizer.behavior: unknown split behavior \"Sideways\"");
}

json metaspace(const std::string& scheme, bool split_pieces = true) {
  return {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", scheme}, {"split", split_pieces}};
}

TEST(PreTokenizers, MetaspaceSchemes) {
  EXPECT_EQ(pre_tokenize(metaspace("always"), "hello world"), (Strings{kMeta + "hello", kMeta + "world"}));
  EXPECT_EQ(pre_tokenize(metaspace("never"), "hello world"), (Strings{"hello", kMeta + "world"}));
  EXPECT_EQ(pre_tokenize(metaspace("always", false), "hello world"), (Strings{kMeta + "hello" + kMeta + "world"}));
  // "first" prepends only to text that starts the original input (offset 0).
  EXPECT_EQ(pre_tokenize(metaspace("first"), "hello", 0), (Strings{kMeta + "hello"}));
  EXPECT_EQ(pre_tokenize(metaspace("first"), "hello", 7), (Strings{"hello"}));
  EXPECT_EQ(pre_tokenize(metaspace("always"), "hello", 7), (Strings{kMeta + "hello"}));
  // Legacy add_prefix_space=false means never.
  json legacy = {{"type", "Metaspace"}, {"replacement", kMeta}, {"add_prefix_space", false}};
  EXPECT_EQ(pre_tokenize(legacy, "a b"), (Strings{"a", kMeta + "b"}));
}

TEST(PreTokenizers, ByteLevel) {
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  const std::string G = "\xC4\xA0";  // Ġ, the byte-level form of a space
  EXPECT_EQ(pre_tokenize(byte_level, "Hello world"), (Strings{"Hello", G + "world"}));
  EXPECT_EQ(pre_tokenize(byte_level, "don't  stop"), (Strings{"don", "'t", G, G + "stop"}));
  byte_level["add_prefix_space"] = true;
  EXPECT_EQ(pre_tokenize(byte_level, "Hello world"), (Strings{G + "Hello", G + "world"}));
  json no_regex = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  // é (C3 A9) maps to Ã (U+00C3) and © (U+00A9); newline (0A) maps to Ċ (U+010A).
  EXPECT_EQ(pre_tokenize(no_regex, "a \xC3\xA9\n"), (Strings{"a" + G + "\xC3\x83\xC2\xA9\xC4\x8A"}));
}

TEST(PreTokenizers, WhitespaceDigitsPunctuation) {
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "Hello, world!"), (Strings{"Hello", ",", "world", "!"}));
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, " Hello,\tworld! "), (Strings{"Hello,", "world!"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "ab123c"), (Strings{"ab", "1", "2", "3", "c"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "ab123c"), (Strings{"ab", "123", "c"}));
  EXPECT_EQ(pre_tokenize({{"type", "Punctuation"}}, "a,b"), (Strings{"a", ",", "b"}));
}

TEST(PreTokenizers, SequenceRunsInOrderAndSkipsAddedTokens) {
  json seq = {{"type", "Sequence"},
              {"pretokenizers", json::array({{{"type", "WhitespaceSplit"}},
                                             {{"type", "Digits"}, {"individual_digits", true}}})}};
  auto pre = make_pre_tokenizer(seq, "t", "pre_tokenizer");
  std::vector<Piece> pieces{Piece{NormalizedString("a1 b", 0), -1}, Piece{NormalizedString("<x> 2", 4), 9}};
  pre->pre_tokenize(pieces);
  EXPECT_EQ(texts(pieces), (Strings{"a", "1", "b", "<x> 2"}));
  EXPECT_EQ(pieces.back().token_id, 9);
}

TEST(PreTokenizers, UnknownTypeNamesItsPath) {
  json config = bpe_config(char_vocab({"a"}), json::array());
  config["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers", json::array({{{"type", "Digits"}}, {{"type", "UnicodeScripts"}}})}};
  std::string msg = error_of([&] { Tokenizer::from_json(config, "/x/tokenizer.json"); });
  EXPECT_MSG(msg,
             "[tokenizer] /x/tokenizer.json: pre_tokenizer.pretokenizers[1]: type \"UnicodeScripts\" is not "
             "supported (supported: ByteLevel, Split");
}

}  // namespace
}  // namespace retain::testing
