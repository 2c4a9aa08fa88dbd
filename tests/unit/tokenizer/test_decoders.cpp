// Decoders, each on token strings whose text is known.
#include "retain/tokenizer/decoder.h"
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace retain::testing {
namespace {

using Strings = std::vector<std::string>;
const std::string kMeta = "\xE2\x96\x81";  // ▁
const std::string kFffd = "\xEF\xBF\xBD";  // U+FFFD

std::string decode(const json& config, const Strings& tokens) {
  return make_decoder(config, "test", "decoder")->decode(tokens);
}

TEST(Decoders, ByteLevel) {
  // Ġ is a space; Ã© are the bytes C3 A9 (é).
  EXPECT_EQ(decode({{"type", "ByteLevel"}}, {"Hello", "\xC4\xA0w\xC3\x83\xC2\xA9"}), "Hello w\xC3\xA9");
  // A lone C3 byte is invalid UTF-8: one U+FFFD (String::from_utf8_lossy).
  EXPECT_EQ(decode({{"type", "ByteLevel"}}, {"a", "\xC3\x83", "b"}), "a" + kFffd + "b");
}

TEST(Decoders, MetaspaceDropsTheFirstReplacementOnlyWhenPrepending) {
  json always = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "always"}};
  EXPECT_EQ(decode(always, {kMeta + "hello", kMeta + "world"}), "hello world");
  json never = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "never"}};
  EXPECT_EQ(decode(never, {kMeta + "hello", kMeta + "world"}), " hello world");
}

TEST(Decoders, Llama2StyleSequence) {
  json seq = {{"type", "Sequence"},
              {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kMeta}}}, {"content", " "}},
                                        {{"type", "ByteFallback"}},
                                        {{"type", "Fuse"}},
                                        {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  EXPECT_EQ(decode(seq, {kMeta + "caf", "<0xC3>", "<0xA9>", kMeta + "ok"}), "caf\xC3\xA9 ok");
  // An invalid byte run gives one U+FFFD per byte.
  EXPECT_EQ(decode(seq, {kMeta + "x", "<0xC3>", "<0xC3>"}), "x" + kFffd + kFffd);
}

TEST(Decoders, StripFuseWordPieceBpe) {
  EXPECT_EQ(decode({{"type", "Strip"}, {"content", "x"}, {"start", 2}, {"stop", 1}}, {"xxxaxx"}), "xax");
  EXPECT_EQ(decode({{"type", "Fuse"}}, {"a", "b"}), "ab");
  EXPECT_EQ(decode({{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}, {"un", "##able", "to", "."}),
            "unable to.");
  EXPECT_EQ(decode({{"type", "BPEDecoder"}, {"suffix", "</w>"}}, {"hel", "lo</w>", "world</w>"}), "hello world");
}

TEST(Decoders, UnknownTypeIsAnError) {
  std::string msg = error_of([&] { make_decoder({{"type", "CTC"}}, "f.json", "decoder"); });
  EXPECT_MSG(msg, "f.json: decoder: decoder type \"CTC\" is not supported");
}

}  // namespace
}  // namespace retain::testing
