// Added tokens: leftmost-longest matching, lstrip/rstrip/single_word, normalized tokens, ids,
// skip_special_tokens.
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace retain::testing {
namespace {

using Ids = std::vector<int64_t>;

// Character model without merges: a=0 b=1 c=2 ' '=3 x=4, so ids spell the pieces out.
Tokenizer with_added(const json& added, const json& normalizer = nullptr,
                     const std::vector<std::string>& chars = {"a", "b", "c", " ", "x"}) {
  json config = bpe_config(char_vocab(chars), json::array());
  config["added_tokens"] = added;
  config["normalizer"] = normalizer;
  return Tokenizer::from_json(config, "test.json");
}

TEST(AddedTokens, SplitBeforeTheModel) {
  auto tok = with_added(json::array({added_token(5, "<x>", true)}));
  EXPECT_EQ(tok.encode("a <x> b"), (Ids{0, 3, 5, 3, 1}));
  EXPECT_EQ(tok.encode("<x><x>"), (Ids{5, 5}));
  EXPECT_EQ(tok.encode("<x"), (Ids{4}));  // '<' is unknown and dropped; no partial match
  EXPECT_EQ(tok.token_to_id("<x>"), 5);
  EXPECT_TRUE(tok.is_special(5));
  EXPECT_FALSE(tok.is_special(0));
}

TEST(AddedTokens, LstripAndRstripSwallowWhitespace) {
  auto left = with_added(json::array({added_token(5, "<x>", true, false, /*lstrip=*/true)}));
  EXPECT_EQ(left.encode("a  <x> b"), (Ids{0, 5, 3, 1}));
  auto right = with_added(json::array({added_token(5, "<x>", true, false, false, /*rstrip=*/true)}));
  EXPECT_EQ(right.encode("a <x>  b"), (Ids{0, 3, 5, 1}));
}

TEST(AddedTokens, SingleWordRejectsMatchesInsideWords) {
  auto tok = with_added(json::array({added_token(5, "ab", false, false, false, false, /*single_word=*/true)}));
  // The middle "ab" follows 'c', a word character, so it is plain text.
  EXPECT_EQ(tok.encode("ab cab ab"), (Ids{5, 3, 2, 0, 1, 3, 5}));
  auto anywhere = with_added(json::array({added_token(5, "ab", false)}));
  EXPECT_EQ(anywhere.encode("cab"), (Ids{2, 5}));
}

TEST(AddedTokens, LeftmostLongestMatch) {
  auto tok = with_added(json::array({added_token(5, "<x>", true), added_token(6, "<x>x", true)}));
  EXPECT_EQ(tok.encode("<x>x<x>"), (Ids{6, 5}));
}

TEST(AddedTokens, NormalizedTokensMatchAfterNormalization) {
  json added = json::array({added_token(8, "hello", false, /*normalized=*/true), added_token(9, "HI", true, false)});
  auto tok = with_added(added, {{"type", "Lowercase"}}, {"a", "b", "c", " ", "h", "e", "l", "o"});
  // "HI" is matched in the raw text, before lowercasing; "HELLO" only once lowercased.
  EXPECT_EQ(tok.encode("HI hello HELLO"), (Ids{9, 3, 8, 3, 8}));
  EXPECT_EQ(tok.encode("hi"), (Ids{4}));  // 'i' is not in the vocabulary
}

TEST(AddedTokens, IdsAreAssignedAsHuggingFaceDoes) {
  // A token already in the model vocabulary keeps its id; a new one gets the next id after the
  // model's, whatever tokenizer.json says (HF ignores the written id).
  auto tok = with_added(json::array({added_token(0, "a", true), added_token(42, "<y>", true)}));
  EXPECT_EQ(tok.token_to_id("a"), 0);
  EXPECT_EQ(tok.token_to_id("<y>"), 5);
  EXPECT_EQ(tok.vocab_size(), 6);
}

TEST(AddedTokens, DecodeSkipsOnlySpecialTokens) {
  auto tok = with_added(json::array({added_token(5, "<s>", true), added_token(6, "<t>", false)}));
  // No decoder: tokens are joined with spaces (HF).
  EXPECT_EQ(tok.decode({5, 0, 6}, false), "<s> a <t>");
  EXPECT_EQ(tok.decode({5, 0, 6}, true), "a <t>");
}

}  // namespace
}  // namespace retain::testing
