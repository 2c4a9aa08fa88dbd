// BPE model: merge order, byte fallback, unk/fuse_unk, ignore_merges, subword prefix, config errors.
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace retain::testing {
namespace {

using Ids = std::vector<int64_t>;

Tokenizer make(const json& vocab, const json& merges, const json& extra = json::object()) {
  return Tokenizer::from_json(bpe_config(vocab, merges, extra), "test.json");
}

// vocab: a=0 b=1 c=2 ab=3 bc=4 abc=5
json abc_vocab() { return char_vocab({"a", "b", "c"}, {"ab", "bc", "abc"}); }

TEST(BpeModel, LowestRankMergesFirst) {
  // "b c" has rank 0, so "abc" -> a + bc; with "a b" first, -> ab + c.
  EXPECT_EQ(make(abc_vocab(), {"b c", "a b"}).encode("abc"), (Ids{0, 4}));
  EXPECT_EQ(make(abc_vocab(), {"a b", "b c"}).encode("abc"), (Ids{3, 2}));
  // Merges chain: b c (0) then a bc (1) -> abc.
  EXPECT_EQ(make(abc_vocab(), {"b c", "a bc", "a b"}).encode("abc"), (Ids{5}));
}

TEST(BpeModel, EqualRankMergesLeftmostFirst) {
  json vocab = char_vocab({"a"}, {"aa"});
  // "aaa": the pair at position 0 wins -> [aa, a]; "aaaa" -> [aa, aa].
  EXPECT_EQ(make(vocab, {"a a"}).encode("aaa"), (Ids{1, 0}));
  EXPECT_EQ(make(vocab, {"a a"}).encode("aaaa"), (Ids{1, 1}));
}

TEST(BpeModel, PairMergeFormatEqualsStringFormat) {
  json pairs = json::array({json::array({"b", "c"}), json::array({"a", "b"})});
  EXPECT_EQ(make(abc_vocab(), pairs).encode("abc"), (Ids{0, 4}));
}

TEST(BpeModel, ByteFallbackUsesByteTokens) {
  json vocab = char_vocab({"<unk>", "a"}, {"<0xC3>", "<0xA9>"});
  auto tok = make(vocab, json::array(), {{"byte_fallback", true}, {"unk_token", "<unk>"}});
  // é is C3 A9 in UTF-8 and not in the vocabulary.
  EXPECT_EQ(tok.encode("aé"), (Ids{1, 2, 3}));
  // ü (C3 BC) has no <0xBC>: the whole character becomes <unk>.
  EXPECT_EQ(tok.encode("ü"), (Ids{0}));
}

TEST(BpeModel, UnknownCharactersFuseOnlyWithFuseUnk) {
  json vocab = char_vocab({"<unk>", "a"});
  EXPECT_EQ(make(vocab, json::array(), {{"unk_token", "<unk>"}, {"fuse_unk", true}}).encode("xya"), (Ids{0, 1}));
  EXPECT_EQ(make(vocab, json::array(), {{"unk_token", "<unk>"}, {"fuse_unk", false}}).encode("xya"), (Ids{0, 0, 1}));
  // Without unk_token, unknown characters are dropped (HF).
  EXPECT_EQ(make(vocab, json::array()).encode("xya"), (Ids{1}));
}

TEST(BpeModel, IgnoreMergesEmitsWholeWordsInVocabulary) {
  // "abc" is in the vocabulary but no merge builds it.
  EXPECT_EQ(make(abc_vocab(), {"a b"}, {{"ignore_merges", true}}).encode("abc"), (Ids{5}));
  EXPECT_EQ(make(abc_vocab(), {"a b"}, {{"ignore_merges", false}}).encode("abc"), (Ids{3, 2}));
}

TEST(BpeModel, ContinuingSubwordPrefixAndSuffix) {
  // Non-first characters carry "##"; the merge "a ##b" produces "ab".
  json vocab = {{"a", 0}, {"##b", 1}, {"ab", 2}, {"b", 3}};
  EXPECT_EQ(make(vocab, {"a ##b"}, {{"continuing_subword_prefix", "##"}}).encode("ab"), (Ids{2}));
  EXPECT_EQ(make(vocab, json::array(), {{"continuing_subword_prefix", "##"}}).encode("ab"), (Ids{0, 1}));
  json suffixed = {{"a", 0}, {"b</w>", 1}, {"ab</w>", 2}};
  EXPECT_EQ(make(suffixed, {"a b</w>"}, {{"end_of_word_suffix", "</w>"}}).encode("ab"), (Ids{2}));
}

TEST(BpeModel, CachedResultsEqualFreshResults) {
  auto tok = make(abc_vocab(), {"b c", "a bc"});
  EXPECT_EQ(tok.encode("abc"), (Ids{5}));
  EXPECT_EQ(tok.encode("abc"), (Ids{5}));  // second call is served from the cache
}

TEST(BpeModel, DropoutIsRejected) {
  std::string msg = error_of([&] { make(abc_vocab(), json::array(), {{"dropout", 0.1}}); });
  EXPECT_MSG(msg, "test.json: model.dropout");
  EXPECT_MSG(msg, "not supported");
  EXPECT_EQ(make(abc_vocab(), json::array(), {{"dropout", 0.0}}).encode("ab"), (Ids{0, 1}));
}

TEST(BpeModel, MergeWithUnknownTokenIsAnError) {
  std::string msg = error_of([&] { make(abc_vocab(), {"a b", "c d"}); });
  EXPECT_MSG(msg, "model.merges[1]");
  EXPECT_MSG(msg, "\"d\"");
}

TEST(BpeModel, UnknownModelTypeIsAnError) {
  json config = bpe_config(abc_vocab(), json::array());
  config["model"]["type"] = "WordPiece";
  std::string msg = error_of([&] { Tokenizer::from_json(config, "/x/tokenizer.json"); });
  EXPECT_EQ(msg, "[tokenizer] /x/tokenizer.json: model: model type \"WordPiece\" is not supported (supported: BPE)");
}

}  // namespace
}  // namespace retain::testing
