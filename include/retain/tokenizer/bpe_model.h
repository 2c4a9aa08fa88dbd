// retain/tokenizer/bpe_model.h — the byte-pair-encoding model of tokenizer.json (`"model": {"type":
// "BPE", ...}`), with HF's merge algorithm.
//
// A word is split into characters (each looked up in the vocabulary; unknown ones become
// `<0xXX>` byte tokens with byte_fallback, else the unk token, fused with fuse_unk), then the
// lowest-ranked adjacent pair is merged, leftmost first, until no pair has a merge rule (a
// priority queue over a linked list of symbols, as HF's Word::merge_all). With ignore_merges, a
// word that is itself in the vocabulary is emitted directly (Llama-3). continuing_subword_prefix
// and end_of_word_suffix are supported; a non-null, non-zero dropout is an error (results would
// be random). Results for words shorter than 256 bytes are cached (thread-safe).
#pragma once

#include "retain/core/json.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace retain {

class BpeModel {
 public:
  /// Builds from the `model` object; `origin` and `path` name it in errors.
  static std::unique_ptr<BpeModel> from_json(const json& config, const std::string& origin, const std::string& path);
  ~BpeModel();

  /// Appends the ids of `word` (one pre-tokenized piece) to `out`.
  void tokenize(std::string_view word, std::vector<int64_t>& out) const;

  std::optional<int64_t> token_to_id(const std::string& token) const;
  /// Token of `id`, or nullptr if no vocabulary entry has that id.
  const std::string* id_to_token(int64_t id) const;
  /// Number of vocabulary entries (HF get_vocab_size).
  size_t vocab_count() const;
  /// Largest id of the vocabulary, or -1 if it is empty.
  int64_t max_id() const;

 private:
  BpeModel();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace retain
