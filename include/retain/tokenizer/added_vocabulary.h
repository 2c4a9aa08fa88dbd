// retain/tokenizer/added_vocabulary.h — the `added_tokens` of tokenizer.json and how they are cut
// out of the input before anything else (HF AddedVocabulary).
//
// Encoding first splits the raw text on the added tokens with normalized=false (leftmost-longest
// match), normalizes the remaining pieces, then splits those on the tokens with normalized=true
// (matched in their normalized form). lstrip/rstrip make a token swallow the whitespace on its
// left/right; single_word rejects a match that touches a word character. Special tokens in the
// text are always recognised (HF's default, encode_special_tokens=false).
#pragma once

#include "retain/tokenizer/pre_tokenizer.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace retain {

class BpeModel;
class Normalizer;

struct AddedToken {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

class AddedVocabulary {
 public:
  /// Registers `tokens` in order, assigning ids as HF's add_tokens does: the id an existing token
  /// (added or in the model vocabulary) already has, else the next free id after the model's.
  /// The ids written in tokenizer.json are not used, exactly as in HF.
  void add(const std::vector<AddedToken>& tokens, const BpeModel& model, const Normalizer* normalizer);

  /// Cuts `text` into pieces as HF's extract_and_normalize: added tokens become pieces with their
  /// id; the rest is normalized with `normalizer` (may be null).
  std::vector<Piece> extract_and_normalize(std::string_view text, const Normalizer* normalizer) const;

  std::optional<int64_t> token_to_id(const std::string& content) const;
  /// The token with this id, or nullptr.
  const AddedToken* token(int64_t id) const;
  /// The decoded text of an added token id: its normalized content if normalization changed it.
  std::optional<std::string> decode_token(int64_t id) const;
  /// Whether `content` is the content of a token marked special.
  bool is_special_content(const std::string& content) const { return special_.count(content) > 0; }
  /// Largest added id, or -1.
  int64_t max_id() const;
  bool empty() const { return by_id_.empty(); }

 private:
  struct Trie {
    struct Node {
      std::unordered_map<unsigned char, int32_t> next;
      int64_t token_id = -1;
    };
    std::vector<Node> nodes;
    bool first_byte[256] = {};
    void build(const std::vector<std::pair<std::string, int64_t>>& patterns);
    bool empty() const { return nodes.size() <= 1; }
    /// Leftmost-longest match at or after `from`: (begin, end, id), or false.
    bool find(std::string_view text, size_t from, size_t& begin, size_t& end, int64_t& id) const;
  };
  struct Match {
    int64_t id;  // -1: plain text
    size_t begin, end;
  };
  std::vector<Match> find_matches(std::string_view text, const Trie& trie) const;
  void refresh();

  std::unordered_map<std::string, int64_t> by_content_;
  std::unordered_map<int64_t, AddedToken> by_id_;
  std::unordered_map<int64_t, std::string> normalized_content_;
  std::unordered_set<std::string> special_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace retain
