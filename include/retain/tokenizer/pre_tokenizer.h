// retain/tokenizer/pre_tokenizer.h — the `pre_tokenizer` section of tokenizer.json, and the list of
// pieces that flows from the added-token split through pre-tokenization to the model.
//
// Supported types: ByteLevel (GPT-2 regex and byte alphabet), Split (String or Regex pattern, all
// five behaviours, invert), Metaspace (replacement, prepend_scheme always/first/never, split, the
// legacy add_prefix_space), Whitespace, WhitespaceSplit, Digits, Punctuation, BertPreTokenizer,
// CharDelimiterSplit and Sequence. Any other type is an error naming it and its JSON path.
#pragma once

#include "retain/core/json.h"
#include "retain/tokenizer/normalized_string.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace retain {

/// A piece of the input: either text still to be tokenized, or an added token already recognised
/// (`token_id >= 0`), which later stages leave alone.
struct Piece {
  NormalizedString text;
  int64_t token_id = -1;
};

/// Replaces every piece without a token by the non-empty results of `split` (HF
/// PreTokenizedString::split).
void split_pieces(std::vector<Piece>& pieces, const std::function<std::vector<NormalizedString>(NormalizedString&&)>& split);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

/// Builds a pre-tokenizer from its JSON object; `origin` and `path` name it in errors.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& config, const std::string& origin, const std::string& path);

/// Rewrites every byte of `text` as its GPT-2 byte-level character (ByteLevel pre-tokenizer and
/// normalizer).
void byte_level_encode(NormalizedString& text);

/// The GPT-2 pre-tokenization regex used by ByteLevel with use_regex.
const char* gpt2_pattern();

}  // namespace retain
