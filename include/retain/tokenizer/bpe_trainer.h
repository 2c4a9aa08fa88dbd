// retain/tokenizer/bpe_trainer.h — learning a byte-level BPE tokenizer (GPT-2 / Llama-3 / Qwen style)
// from text, and writing it as a Hugging Face tokenizer.json.
//
// Pipeline: text → words (the Llama-3 split regex, as HF's Split pre-tokenizer with behavior
// Isolated) → word types with counts → merges learned over the word types weighted by their counts.
// The initial alphabet is the 256 bytes (so every UTF-8 text, emoji and control bytes included,
// encodes without an unknown token); a merge joins the most frequent adjacent pair of symbols.
//
// Ids: the special tokens first (0 .. k-1, in the given order; by default <s> = 0 is BOS, </s> = 1 is
// EOS, <pad> = 2), then the 256 bytes in byte order (id k + b is byte b, written as GPT-2's
// byte-level character), then one token per merge in the order learned.
//
// Tie-breaking (deterministic, independent of thread count and hash order): the pair with the
// highest count wins; among equal counts, the pair whose (left id, right id) is smallest
// lexicographically. Within a word, occurrences are merged left to right without overlap (as HF's
// trainer). A merge whose result would spell a special token is never made. Training stops at
// `vocab_size` tokens or when the best pair occurs fewer than `min_frequency` times.
#pragma once

#include "retain/core/json.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace retain {

/// The Llama-3 / GPT-4 (cl100k) pre-tokenization regex, in the form tokenizer.json stores it.
const char* llama3_split_pattern();

/// Word type (raw UTF-8 bytes, one pre-tokenized piece) → number of occurrences.
using WordCounts = std::unordered_map<std::string, int64_t>;

/// Adds the words of `text` to `counts`. `text` must be valid UTF-8; otherwise the error names
/// `origin` and the byte offset.
void count_words(std::string_view text, WordCounts& counts, const std::string& origin = "<text>");

/// Cuts `text` into pieces of about `target` bytes at points where the split regex cannot match
/// across (right after a '\n' followed by an ASCII character that is not whitespace), so that
/// pre-tokenizing the pieces one by one gives the words of the whole text. Pieces may be longer
/// than `target` when no such point exists.
std::vector<std::string_view> split_at_safe_newlines(std::string_view text, size_t target);

/// The files under `inputs` (a file is itself; a folder gives every regular file below it, sorted by
/// path). Throws if an input does not exist or the list ends up empty.
std::vector<std::filesystem::path> list_text_files(const std::vector<std::string>& inputs,
                                                   const std::string& component = "bpe");

/// Word counts of every file (a `.jsonl` file contributes the "text" field of each line), counted by `threads` threads
/// (chunks split where the regex cannot match across; the result does not depend on the thread count). Errors name the
/// file.
WordCounts count_words_in_files(const std::vector<std::filesystem::path>& files, int threads = 1);

struct BpeTrainerOptions {
  int64_t vocab_size = 8192;  // total, special tokens and the 256 bytes included
  int64_t min_frequency = 2;  // a pair seen fewer times is never merged
  std::vector<std::string> special_tokens = {"<s>", "</s>", "<pad>"};
};

/// A trained byte-level BPE model. Token strings are in GPT-2's byte-level alphabet (a space is "Ġ").
struct BpeVocabulary {
  std::vector<std::string> tokens;                          // id → token
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::vector<std::string> special_tokens;                  // ids 0 .. k-1
};

/// Learns merges over `counts`. Throws when the counts are empty, vocab_size is smaller than the
/// special tokens + 256, or a special token is empty or repeated.
BpeVocabulary train_bpe(const WordCounts& counts, const BpeTrainerOptions& options);

/// The tokenizer.json document: model BPE (vocab + merges), pre_tokenizer Sequence[Split(Llama-3
/// regex, Isolated), ByteLevel(add_prefix_space false, use_regex false)], decoder ByteLevel,
/// post_processor TemplateProcessing adding the first special token (BOS) as Llama does, and the
/// special tokens as added_tokens. With no special tokens there is no post_processor.
nlohmann::ordered_json bpe_tokenizer_json(const BpeVocabulary& vocabulary);

/// Writes bpe_tokenizer_json to `path` atomically.
void write_bpe_tokenizer(const std::filesystem::path& path, const BpeVocabulary& vocabulary);

}  // namespace retain
