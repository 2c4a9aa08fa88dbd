// BPE training: merges against a hand-worked example, the regex word split, the written
// tokenizer.json loaded by retain's own loader (round trips, reachability, specials), determinism and
// errors.
#include "common/test_support.h"
#include "retain/core/files.h"
#include "retain/tokenizer/bpe_trainer.h"
#include "retain/tokenizer/tokenizer.h"
#include "retain/tokenizer/unicode.h"

#include <gtest/gtest.h>

#include <random>

namespace retain {
namespace {

using namespace retain::testing;

using Merges = std::vector<std::pair<std::string, std::string>>;

BpeTrainerOptions options(int64_t vocab, int64_t min_frequency = 1) {
  BpeTrainerOptions o;
  o.vocab_size = vocab;
  o.min_frequency = min_frequency;
  return o;
}

// The example of the Hugging Face course, worked by hand. Pair counts at the start:
// u-g 20, p-u 17, u-n 16, h-u 15, g-s 5, b-u 4.
//   1. (u, g) 20     → h ug, p ug, p u n, b u n, h ug s
//   2. (u, n) 16     (p-u fell to 12)
//   3. (h, ug) 15
//   4. (p, un) 12
//   5. (p, ug) 5     ties with (hug, s) 5: p's id (3 + 0x70) is below hug's (3 + 256 + 2)
//   6. (hug, s) 5
//   7. (b, un) 4
TEST(BpeTrainer, MergesEqualTheHandWorkedExample) {
  const WordCounts counts = {{"hug", 10}, {"pug", 5}, {"pun", 12}, {"bun", 4}, {"hugs", 5}};
  const auto v = train_bpe(counts, options(1000));
  const Merges expected = {{"u", "g"}, {"u", "n"}, {"h", "ug"}, {"p", "un"}, {"p", "ug"}, {"hug", "s"}, {"b", "un"}};
  EXPECT_EQ(v.merges, expected);
  ASSERT_EQ(v.tokens.size(), 3u + 256u + 7u);  // stops when no pair is left
  EXPECT_EQ(v.tokens[0], "<s>");
  EXPECT_EQ(v.tokens[1], "</s>");
  EXPECT_EQ(v.tokens[3 + 'a'], "a");
  EXPECT_EQ(v.tokens[3 + ' '], "Ġ");  // GPT-2's byte-level character of the space
  EXPECT_EQ(v.tokens[3 + 256], "ug");
  EXPECT_EQ(v.tokens.back(), "bun");

  // min_frequency 5 drops merge 7 (count 4); vocab_size cuts after the first three.
  EXPECT_EQ(train_bpe(counts, options(1000, 5)).merges, Merges(expected.begin(), expected.begin() + 6));
  EXPECT_EQ(train_bpe(counts, options(3 + 256 + 3)).merges, Merges(expected.begin(), expected.begin() + 3));
}

// "aaa" holds (a, a) twice; merged left to right without overlap it becomes "aa a", then "aaa".
TEST(BpeTrainer, RunsOfOneSymbolMergeLeftToRight) {
  const auto v = train_bpe({{"aaa", 3}, {"ab", 1}}, options(1000, 2));
  // (a, a): 2 × 3 = 6 → "aa a" ×3: (aa, a) 3; (a, b) is 1 < 2.
  EXPECT_EQ(v.merges, (Merges{{"a", "a"}, {"aa", "a"}}));
}

TEST(BpeTrainer, NoMergeSpellsASpecialToken) {
  BpeTrainerOptions o = options(1000, 1);
  o.special_tokens = {"ab"};
  const auto v = train_bpe({{"ab", 10}, {"abc", 3}}, o);
  // (a, b) would spell the special token "ab": skipped; (b, c) 3 is next.
  EXPECT_EQ(v.merges, (Merges{{"b", "c"}, {"a", "bc"}}));
}

TEST(BpeTrainer, WordsFollowTheLlama3Regex) {
  WordCounts counts;
  count_words("Hello world, it's 12345!\n\n  done\tx", counts);
  WordCounts oracle;
  for (const char* w : {"Hello", " world", ",", " it", "'s", " ", "123", "45", "!\n\n", " ", " done", "\tx"})
    ++oracle[w];
  // Llama-3's regex: digits in threes, "\tx" is one piece ([^\r\n\p{L}\p{N}]?\p{L}+), "  done" is
  // " " + " done" (\s+(?!\S) leaves the last space to the word).
  EXPECT_EQ(counts, oracle);
}

std::string sample_text(size_t bytes, uint32_t seed) {
  static const std::vector<std::string> words = {"the",   "cat",  "sat",    "on",   "a",  "mat",  "über",
                                                 "naïve", "東京", "日本語", "🙂", "42", "1999", "don't",
                                                 "it's",  "(x)",  "—",      "...",  "\t", "  "};
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < bytes) {
    out += words[rng() % words.size()];
    const uint32_t r = rng() % 10;
    out += r < 6 ? " " : r < 8 ? "\n" : r < 9 ? "\n\n" : ", ";
  }
  return out;
}

TEST(BpeTrainer, ChunkedParallelCountingEqualsCountingTheWholeText) {
  const auto dir = temp_dir("bpe");
  const std::string text = sample_text(400000, 1);
  write_file_atomic(dir / "a.txt", text);
  write_file_atomic(dir / "b.txt", sample_text(1000, 2));
  WordCounts whole;
  count_words(text, whole);
  count_words(sample_text(1000, 2), whole);
  const auto files = list_text_files({(dir).string()});
  ASSERT_EQ(files.size(), 2u);
  EXPECT_GT(split_at_safe_newlines(text, 1 << 16).size(), 3u);  // the text really is cut
  EXPECT_EQ(count_words_in_files(files, 1), whole);
  EXPECT_EQ(count_words_in_files(files, 3), whole);
}

class TrainedTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(temp_dir("bpe_trained"));
    WordCounts counts;
    count_words(sample_text(200000, 7), counts);
    vocabulary_ = new BpeVocabulary(train_bpe(counts, options(400, 2)));
    write_bpe_tokenizer(*dir_ / "tokenizer.json", *vocabulary_);
  }
  static void TearDownTestSuite() {
    remove_tree(*dir_);
    delete dir_;
    delete vocabulary_;
  }
  static std::filesystem::path* dir_;
  static BpeVocabulary* vocabulary_;
};
std::filesystem::path* TrainedTokenizer::dir_ = nullptr;
BpeVocabulary* TrainedTokenizer::vocabulary_ = nullptr;

TEST_F(TrainedTokenizer, LoadsAndRoundTripsArbitraryUtf8) {
  const Tokenizer tok = Tokenizer::from_file(*dir_ / "tokenizer.json");
  EXPECT_EQ(tok.vocab_size(), 400);
  EXPECT_EQ(vocabulary_->tokens.size(), 400u);
  const std::vector<std::string> texts = {"the cat sat on a mat",
                                          " leading space",
                                          "東京 日本語 🙂🙃 👩‍👩‍👧",
                                          "control \x01\x02\x7f bytes\r\n\t",
                                          "mixed: naïve über 1999 don't",
                                          "",
                                          "   ",
                                          "\n\n\n",
                                          "Ω≈ç√∫ ﷽ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
                                          "unseen-WORDS: zyxwvut QQQ"};
  for (const auto& text : texts) {
    const auto ids = tok.encode(text);
    EXPECT_EQ(tok.decode(ids), text) << text;
  }
  // Random valid UTF-8: every code point class, including ones never seen in training.
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    for (int i = 0; i < 20; ++i) {
      char32_t c = static_cast<char32_t>(rng() % 0x30000);
      if (c >= 0xD800 && c < 0xE000) c = 'x';
      unicode::append_utf8(text, c);
    }
    ASSERT_EQ(tok.decode(tok.encode(text)), text);
  }
}

TEST_F(TrainedTokenizer, SpecialTokensAndBosAsLlama) {
  const Tokenizer tok = Tokenizer::from_file(*dir_ / "tokenizer.json");
  EXPECT_EQ(tok.token_to_id("<s>"), 0);
  EXPECT_EQ(tok.token_to_id("</s>"), 1);
  EXPECT_EQ(tok.token_to_id("<pad>"), 2);
  EXPECT_TRUE(tok.is_special(0) && tok.is_special(1) && tok.is_special(2));
  const auto plain = tok.encode("the cat");
  auto with_bos = tok.encode("the cat", true);
  ASSERT_EQ(with_bos.size(), plain.size() + 1);
  EXPECT_EQ(with_bos[0], 0);
  EXPECT_EQ(std::vector<int64_t>(with_bos.begin() + 1, with_bos.end()), plain);
  EXPECT_EQ(tok.encode("a</s>b"), (std::vector<int64_t>{3 + 'a', 1, 3 + 'b'}));
  EXPECT_EQ(tok.decode({0, 3 + 'h', 3 + 'i', 1}, true), "hi");
}

// Every learned token whose bytes are valid UTF-8 and form one pre-tokenized word encodes to itself.
TEST_F(TrainedTokenizer, EveryLearnedTokenIsReachable) {
  const Tokenizer tok = Tokenizer::from_file(*dir_ / "tokenizer.json");
  size_t checked = 0;
  for (int64_t id = 3 + 256; id < tok.vocab_size(); ++id) {
    const std::string token = tok.id_to_token(id);
    std::string bytes;  // byte-level characters back to bytes (decode would make partial UTF-8 U+FFFD)
    for (size_t pos = 0; pos < token.size();)
      bytes += static_cast<char>(unicode::code_point_to_byte(unicode::next_code_point(token, pos)));
    if (unicode::find_invalid_utf8(bytes) != std::string::npos) continue;
    WordCounts words;
    count_words(bytes, words);
    if (words.size() != 1 || words.begin()->second != 1) continue;
    ++checked;
    EXPECT_EQ(tok.encode(bytes), std::vector<int64_t>{id}) << "token " << id << " \"" << bytes << "\"";
  }
  // Tokens are learned inside words, so nearly all qualify; partial UTF-8 (e.g. 2 of 3 bytes of 東)
  // is the exception.
  EXPECT_GT(checked, static_cast<size_t>(0.7 * static_cast<double>(tok.vocab_size() - 259)));
}

TEST_F(TrainedTokenizer, FileFieldsAreHuggingFaces) {
  const json doc = read_json_file(*dir_ / "tokenizer.json");
  EXPECT_EQ(doc["model"]["type"], "BPE");
  EXPECT_EQ(doc["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"], llama3_split_pattern());
  EXPECT_EQ(doc["pre_tokenizer"]["pretokenizers"][1]["type"], "ByteLevel");
  EXPECT_EQ(doc["post_processor"]["type"], "TemplateProcessing");
  EXPECT_EQ(doc["decoder"]["type"], "ByteLevel");
  ASSERT_EQ(doc["model"]["merges"].size(), vocabulary_->merges.size());
  for (const auto& merge : doc["model"]["merges"]) {
    const std::string m = merge.get<std::string>();
    EXPECT_EQ(std::count(m.begin(), m.end(), ' '), 1) << m;  // byte-level tokens never hold a space
  }
}

TEST(BpeTrainer, Deterministic) {
  WordCounts counts;
  count_words(sample_text(50000, 5), counts);
  const auto a = bpe_tokenizer_json(train_bpe(counts, options(350)));
  WordCounts reordered;  // a different insertion order gives another hash-map order
  std::vector<std::pair<std::string, int64_t>> items(counts.begin(), counts.end());
  std::reverse(items.begin(), items.end());
  for (const auto& [w, n] : items) reordered[w] = n;
  EXPECT_EQ(a.dump(), bpe_tokenizer_json(train_bpe(reordered, options(350))).dump());
}

TEST(BpeTrainer, BadInputIsNamed) {
  EXPECT_MSG(error_of([] { train_bpe({}, options(300)); }), "no words");
  EXPECT_MSG(error_of([] { train_bpe({{"ab", 1}}, options(258)); }), "at least 259");
  BpeTrainerOptions twice = options(300);
  twice.special_tokens = {"<s>", "<s>"};
  EXPECT_MSG(error_of([&] { train_bpe({{"ab", 1}}, twice); }), "given twice");
  EXPECT_MSG(error_of([] { list_text_files({"/nonexistent/corpus.txt"}); }), "/nonexistent/corpus.txt");
  const auto dir = temp_dir("bpe_bad");
  write_file_atomic(dir / "latin1.txt", std::string("line one\ncaf\xE9\n"));
  const std::string bad = error_of([&] { count_words_in_files({dir / "latin1.txt"}, 2); });
  EXPECT_MSG(bad, "latin1.txt:2");
  EXPECT_MSG(bad, "not valid UTF-8");
  std::filesystem::create_directories(dir / "empty");
  EXPECT_MSG(error_of([&] { list_text_files({(dir / "empty").string()}); }), "no files");
}

}  // namespace
}  // namespace retain
