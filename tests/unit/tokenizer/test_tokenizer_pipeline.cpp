// Whole tokenizers built by hand: a GPT-2-style byte-level one and a Llama-2-style one, with
// their ids derived by hand from the merge ranks; file-level errors; concurrent use.
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace retain::testing {
namespace {

using Ids = std::vector<int64_t>;
const std::string kMeta = "\xE2\x96\x81";  // ▁
const std::string kG = "\xC4\xA0";         // Ġ

// H=0 e=1 l=2 o=3 Ġ=4 w=5 r=6 d=7, then merges in rank order: ll=8 llo=9 He=10 Hello=11 Ġw=12.
json byte_level_config() {
  json vocab = {{"H", 0}, {"e", 1}, {"l", 2}, {"o", 3}, {kG, 4}, {"w", 5}, {"r", 6}, {"d", 7},
                {"ll", 8}, {"llo", 9}, {"He", 10}, {"Hello", 11}, {kG + "w", 12}};
  json config = bpe_config(vocab, {"l l", "ll o", "H e", "He llo", kG + " w"});
  config["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  config["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  config["added_tokens"] = json::array({added_token(13, "<|bos|>", true)});
  config["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", json::array({{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"pair", json::array()},
      {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {13}}, {"tokens", {"<|bos|>"}}}}}}};
  return config;
}

TEST(TokenizerPipeline, ByteLevelEncodeDecode) {
  auto tok = Tokenizer::from_json(byte_level_config(), "bl.json");
  // "Hello": l l (rank 0), ll o (1), H e (2), He llo (3) -> Hello. "Ġworld": only Ġ w (4) applies.
  EXPECT_EQ(tok.encode("Hello world"), (Ids{11, 12, 3, 6, 2, 7}));
  EXPECT_EQ(tok.encode("Hello world", true), (Ids{13, 11, 12, 3, 6, 2, 7}));
  EXPECT_EQ(tok.encode("<|bos|>Hello"), (Ids{13, 11}));
  EXPECT_EQ(tok.decode({13, 11, 12, 3, 6, 2, 7}, false), "<|bos|>Hello world");
  EXPECT_EQ(tok.decode({13, 11, 12, 3, 6, 2, 7}, true), "Hello world");
  EXPECT_EQ(tok.encode(""), Ids{});
  EXPECT_EQ(tok.encode("", true), Ids{13});
  EXPECT_EQ(tok.vocab_size(), 14);
  EXPECT_EQ(tok.id_to_token(12), kG + "w");
}

// <unk>=0 <s>=1 </s>=2 ▁=3 h=4 i=5 <0xC3>=6 <0xA9>=7 ▁h=8 ▁hi=9; merges "▁ h" (0), "▁h i" (1).
json llama2_config(const json& normalizer, const json& pre_tokenizer) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {kMeta, 3}, {"h", 4}, {"i", 5},
                {"<0xC3>", 6}, {"<0xA9>", 7}, {kMeta + "h", 8}, {kMeta + "hi", 9}};
  json config = bpe_config(vocab, {kMeta + " h", kMeta + "h i"},
                           {{"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true}});
  config["normalizer"] = normalizer;
  config["pre_tokenizer"] = pre_tokenizer;
  config["added_tokens"] = json::array({added_token(0, "<unk>", true), added_token(1, "<s>", true), added_token(2, "</s>", true)});
  config["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  config["decoder"] = {{"type", "Sequence"},
                       {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kMeta}}}, {"content", " "}},
                                                 {{"type", "ByteFallback"}},
                                                 {{"type", "Fuse"}},
                                                 {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  return config;
}

json llama2_normalizer() {
  return {{"type", "Sequence"},
          {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", kMeta}},
                                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMeta}}})}};
}

TEST(TokenizerPipeline, Llama2Style) {
  auto tok = Tokenizer::from_json(llama2_config(llama2_normalizer(), nullptr), "l2.json");
  // "▁hi▁hi": both "▁ h" pairs merge (rank 0, leftmost first), then both "▁h i".
  EXPECT_EQ(tok.encode("hi hi"), (Ids{9, 9}));
  EXPECT_EQ(tok.encode("hi hi", true), (Ids{1, 9, 9}));
  // é is not in the vocabulary: byte fallback.
  EXPECT_EQ(tok.encode("h\xC3\xA9"), (Ids{8, 6, 7}));
  // Prepend applies to every piece around a special token (HF's legacy behaviour).
  EXPECT_EQ(tok.encode("hi <s>hi"), (Ids{9, 3, 1, 9}));
  EXPECT_EQ(tok.decode({1, 9, 9}, false), "<s> hi hi");
  EXPECT_EQ(tok.decode({1, 9, 9}, true), "hi hi");
  EXPECT_EQ(tok.decode({8, 6, 7}, true), "h\xC3\xA9");
  // Unknown characters fuse into one <unk>.
  EXPECT_EQ(tok.encode("h\xE2\x82\xAC\xE2\x82\xAC"), (Ids{8, 0}));
}

TEST(TokenizerPipeline, MetaspaceFirstSkipsPiecesAfterSpecialTokens) {
  json first = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "first"}, {"split", false}};
  auto tok = Tokenizer::from_json(llama2_config(nullptr, first), "l2.json");
  // "hi " starts the text -> "▁hi▁"; "hi" after <s> starts at offset 6 -> no prefix.
  EXPECT_EQ(tok.encode("hi <s>hi"), (Ids{9, 3, 1, 4, 5}));
  json always = first;
  always["prepend_scheme"] = "always";
  EXPECT_EQ(Tokenizer::from_json(llama2_config(nullptr, always), "l2.json").encode("hi <s>hi"), (Ids{9, 3, 1, 9}));
}

TEST(TokenizerPipeline, DecodeOutOfRangeIdNamesIdAndSize) {
  auto tok = Tokenizer::from_json(byte_level_config(), "bl.json");
  std::string msg = error_of([&] { tok.decode({11, 999}); });
  EXPECT_MSG(msg, "token id 999 is out of range (vocabulary size 14)");
  EXPECT_MSG(error_of([&] { tok.decode({-1}); }), "token id -1");
}

TEST(TokenizerPipeline, InvalidUtf8InputIsAnError) {
  auto tok = Tokenizer::from_json(byte_level_config(), "bl.json");
  std::string msg = error_of([&] { tok.encode("ab\xC3"); });
  EXPECT_MSG(msg, "not valid UTF-8");
  EXPECT_MSG(msg, "offset 2");
}

TEST(TokenizerPipeline, TruncatedFileNamesFileAndLine) {
  auto path = std::filesystem::temp_directory_path() / "retain_truncated_tokenizer.json";
  std::string text = byte_level_config().dump(1);
  {
    std::ofstream out(path);
    out << text.substr(0, text.size() / 2);
  }
  std::string msg = error_of([&] { Tokenizer::from_file(path); });
  std::filesystem::remove(path);
  EXPECT_MSG(msg, "[tokenizer] " + path.string() + ":");
  EXPECT_MSG(msg, "malformed JSON");
}

TEST(TokenizerPipeline, UnsupportedTopLevelSettingsAreErrors) {
  json config = byte_level_config();
  config["truncation"] = {{"max_length", 8}};
  EXPECT_MSG(error_of([&] { Tokenizer::from_json(config, "t.json"); }), "t.json: truncation:");
  config = byte_level_config();
  config.erase("model");
  EXPECT_MSG(error_of([&] { Tokenizer::from_json(config, "t.json"); }), "missing key \"model\"");
  config = byte_level_config();
  config["post_processor"] = {{"type", "Whisper"}};
  EXPECT_MSG(error_of([&] { Tokenizer::from_json(config, "t.json"); }),
             "post_processor: post-processor type \"Whisper\"");
}

TEST(TokenizerPipeline, ConcurrentEncodingMatchesSequential) {
  auto tok = Tokenizer::from_json(byte_level_config(), "bl.json");
  const std::vector<std::string> inputs = {"Hello world", "world Hello", "Hellooo wd", "HHeelloo"};
  std::vector<Ids> expected;
  for (const auto& s : inputs) expected.push_back(tok.encode(s));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        size_t k = (i + t) % inputs.size();
        if (tok.encode(inputs[k]) != expected[k]) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0, 0, 0}));
}

}  // namespace
}  // namespace retain::testing
