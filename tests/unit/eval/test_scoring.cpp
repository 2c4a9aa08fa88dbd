// Answer scoring against hand-computed values. Exact comparisons where the value is a ratio of small
// integers computed the same way; 1e-12 where the formula's rounding may differ from the literal.
#include "retain/eval/scoring.h"

#include "common/test_support.h"

namespace {

using namespace retain::testing;

constexpr double kTol = 1e-12;

TEST(Scoring, NormalizeAnswer) {
  EXPECT_EQ(retain::normalize_answer("  Positive.\n"), "positive");
  EXPECT_EQ(retain::normalize_answer("Hello,   World!"), "hello world");
  EXPECT_EQ(retain::normalize_answer("don't"), "dont");  // deleted, not replaced by a space
  EXPECT_EQ(retain::normalize_answer("a - b"), "a b");   // "a  b" after deletion, then collapsed
  EXPECT_EQ(retain::normalize_answer("\tSci/Tech\r\n"), "scitech");
  EXPECT_EQ(retain::normalize_answer("The answer"), "the answer");  // articles kept
  EXPECT_EQ(retain::normalize_answer(""), "");
  EXPECT_EQ(retain::normalize_answer(" \n\t "), "");
  // All 32 characters of Python's string.punctuation go, nothing else does.
  EXPECT_EQ(retain::normalize_answer("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "");
  EXPECT_EQ(retain::normalize_answer("x0Z9"), "x0z9");
  // Non-ASCII bytes pass through untouched (no Unicode lower-casing or punctuation).
  EXPECT_EQ(retain::normalize_answer("CAFÉ «oui»"), "cafÉ «oui»");
}

TEST(Scoring, ExactMatchOnNormalisedStrings) {
  EXPECT_EQ(retain::exact_match("Positive.", "positive"), 1.0);
  EXPECT_EQ(retain::exact_match("  world ", "World"), 1.0);
  EXPECT_EQ(retain::exact_match("positive", "negative"), 0.0);
  EXPECT_EQ(retain::exact_match("not positive", "positive"), 0.0);
  EXPECT_EQ(retain::exact_match("", "positive"), 0.0);
  EXPECT_EQ(retain::exact_match("", ""), 1.0);
}

TEST(Scoring, FirstAnswerLineCutsGenerationAfterTheLabel) {
  EXPECT_EQ(retain::first_answer_line("positive.\nTask:SC\nDataset:sst2\n"), "positive.");
  EXPECT_EQ(retain::first_answer_line(" positive"), "positive");  // the target starts with a space
  EXPECT_EQ(retain::first_answer_line("\n\n  yes \nno"), "yes");  // leading blank lines skipped
  EXPECT_EQ(retain::first_answer_line("Sci/Tech\r\nTask:"), "Sci/Tech");
  EXPECT_EQ(retain::first_answer_line("a b\rc"), "a b");
  EXPECT_EQ(retain::first_answer_line(""), "");
  EXPECT_EQ(retain::first_answer_line("  \n \t"), "");
  // The classification rule end to end: cut, then normalised exact match.
  EXPECT_EQ(retain::exact_match(retain::first_answer_line(" Positive.\nTask:SC"), "positive"), 1.0);
  EXPECT_EQ(retain::exact_match(" Positive.\nTask:SC", "positive"), 0.0);  // uncut, it does not match
}

TEST(Scoring, ClassificationAccuracy) {
  // 2 of 3 match after normalisation.
  EXPECT_EQ(retain::classification_accuracy({"positive.", "Negative", "neutral"}, {"positive", "negative", "positive"}),
            2.0 / 3.0);
  EXPECT_EQ(retain::classification_accuracy({"a"}, {"b"}), 0.0);
  auto message = error_of([] { retain::classification_accuracy({"a", "b"}, {"a"}); });
  EXPECT_MSG(message, "2 predictions for 1 references");
  EXPECT_MSG(error_of([] { retain::classification_accuracy({}, {}); }), "no examples");
}

TEST(Scoring, RougeTokenizerIsRougeScoresDefault) {
  EXPECT_EQ(retain::rouge_tokenize("Don't stop, 42x!"), (std::vector<std::string>{"don", "t", "stop", "42x"}));
  EXPECT_EQ(retain::rouge_tokenize("  A_B-c  "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(retain::rouge_tokenize("café"), (std::vector<std::string>{"caf"}));  // non-ASCII separates
  EXPECT_TRUE(retain::rouge_tokenize("!!! ...").empty());
  EXPECT_TRUE(retain::rouge_tokenize("").empty());
}

TEST(Scoring, RougeLHandComputed) {
  // pred [the cat sat on the mat], ref [the cat is on the mat]: LCS "the cat on the mat" = 5,
  // P = 5/6, R = 5/6, F = 5/6.
  EXPECT_NEAR(retain::rouge_l_f1("The cat sat on the mat.", "the cat is on the mat"), 5.0 / 6.0, kTol);
  // pred [a b c d], ref [a c]: LCS 2, P = 2/4, R = 2/2, F = 2·0.5·1 / 1.5 = 2/3.
  EXPECT_NEAR(retain::rouge_l_f1("a b c d", "a c"), 2.0 / 3.0, kTol);
  // A subsequence, not a substring: pred [x a y b z c], ref [a b c]: LCS 3, P = 1/2, R = 1, F = 2/3.
  EXPECT_NEAR(retain::rouge_l_f1("x a y b z c", "a b c"), 2.0 / 3.0, kTol);
  // Repeated tokens count once each: pred [the the the], ref [the]: LCS 1, P = 1/3, R = 1, F = 1/2.
  EXPECT_NEAR(retain::rouge_l_f1("the the the", "the"), 0.5, kTol);
  // Order matters: pred [b a], ref [a b]: LCS 1, P = R = 1/2, F = 1/2.
  EXPECT_NEAR(retain::rouge_l_f1("b a", "a b"), 0.5, kTol);
  EXPECT_EQ(retain::rouge_l_f1("Don't!", "don t"), 1.0);  // same tokens after rouge_score's tokenizer
  EXPECT_EQ(retain::rouge_l_f1("a b", "c d"), 0.0);
}

TEST(Scoring, RougeLEmptySidesScoreZero) {
  EXPECT_EQ(retain::rouge_l_f1("", "a"), 0.0);
  EXPECT_EQ(retain::rouge_l_f1("a", ""), 0.0);
  EXPECT_EQ(retain::rouge_l_f1("", ""), 0.0);  // as rouge_score: no tokens → 0, even on both sides
  EXPECT_EQ(retain::rouge_l_f1("...", "a"), 0.0);
}

TEST(Scoring, EditSimilarity) {
  EXPECT_EQ(retain::levenshtein_distance("kitten", "sitting"), 3u);  // k→s, e→i, +g
  EXPECT_NEAR(retain::edit_similarity("kitten", "sitting"), 1.0 - 3.0 / 7.0, kTol);
  EXPECT_EQ(retain::levenshtein_distance("flaw", "lawn"), 2u);  // −f, +n
  EXPECT_EQ(retain::edit_similarity("flaw", "lawn"), 0.5);      // 1 − 2/4
  EXPECT_EQ(retain::edit_similarity("abc", "abc"), 1.0);
  EXPECT_EQ(retain::edit_similarity("", ""), 1.0);
  EXPECT_EQ(retain::edit_similarity("", "abc"), 0.0);
  EXPECT_EQ(retain::edit_similarity("abc", ""), 0.0);
  EXPECT_EQ(retain::edit_similarity("Abc", "abc"), 1.0 - 1.0 / 3.0);  // no normalisation: case counts
  // Characters, not bytes: "é" is one substitution in 4 characters (bytes would give 1 − 2/5).
  EXPECT_EQ(retain::levenshtein_distance("café", "cafe"), 1u);
  EXPECT_EQ(retain::edit_similarity("café", "cafe"), 0.75);
  // An invalid UTF-8 byte counts as one character.
  EXPECT_EQ(retain::levenshtein_distance(std::string("a\xff"), "ab"), 1u);
}

TEST(Scoring, MetricsByName) {
  EXPECT_EQ(retain::parse_metric("rouge_l"), retain::Metric::RougeL);
  EXPECT_EQ(retain::to_string(retain::parse_metric("edit_similarity")), "edit_similarity");
  EXPECT_EQ(retain::to_string(retain::parse_metric("accuracy")), "accuracy");
  EXPECT_EQ(retain::to_string(retain::parse_metric("exact_match")), "exact_match");
  auto message = error_of([] { retain::parse_metric("rougeL"); });
  EXPECT_MSG(message, "unknown metric \"rougeL\"");
  EXPECT_MSG(message, "rouge_l");

  EXPECT_EQ(retain::score_answer(retain::Metric::Accuracy, "Yes.", "yes"), 1.0);
  EXPECT_EQ(retain::score_answer(retain::Metric::ExactMatch, "Yes.", "yes"), 1.0);
  EXPECT_NEAR(retain::score_answer(retain::Metric::RougeL, "a b c d", "a c"), 2.0 / 3.0, kTol);
  EXPECT_EQ(retain::score_answer(retain::Metric::EditSimilarity, "flaw", "lawn"), 0.5);
  // Mean of 2/3 and 1: 5/6.
  EXPECT_NEAR(retain::mean_score(retain::Metric::RougeL, {"a b c d", "x"}, {"a c", "x"}), 5.0 / 6.0, kTol);
  EXPECT_MSG(error_of([] { retain::mean_score(retain::Metric::RougeL, {"a"}, {}); }), "rouge_l");
}

}  // namespace
