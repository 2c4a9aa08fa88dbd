// retain/tokenizer/tokenizer.h — Hugging Face `tokenizer.json`, implemented by retain.
//
// Supported: BPE models (byte-level as in GPT-2 / Llama-3 / Qwen, and SentencePiece-style with
// Metaspace and byte fallback as in Llama-2), normalizers (NFC, NFKC, NFD, NFKD, Lowercase,
// Prepend, Replace, Strip, Sequence), pre-tokenizers (ByteLevel, Split, Metaspace, Sequence, ...),
// added and special tokens, the TemplateProcessing / ByteLevel post-processors and the matching
// decoders. Anything else is an error naming the component, e.g.
// "[tokenizer] tokenizer.json: model type \"WordPiece\" is not supported (supported: BPE)".
#pragma once

#include "retain/core/json.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace retain {

class Tokenizer {
 public:
  /// Loads and validates a tokenizer.json file.
  static Tokenizer from_file(const std::filesystem::path& path);
  /// Builds from parsed JSON; `origin` names the source in error messages.
  static Tokenizer from_json(const json& config, const std::string& origin);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  /// Token ids of `text`, as HF `tokenizer.encode(text, add_special_tokens=...).ids`.
  /// Special tokens written in the text are recognised either way (HF's default).
  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = false) const;

  /// Text of `ids`, as HF `tokenizer.decode(ids, skip_special_tokens=...)`.
  /// Throws if an id is outside [0, vocab_size()).
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  /// One more than the largest id of the model vocabulary and the added tokens.
  int64_t vocab_size() const;
  /// Id of a token string (model vocabulary or added token), if it exists.
  std::optional<int64_t> token_to_id(const std::string& token) const;
  /// Token string of an id; throws if out of range.
  std::string id_to_token(int64_t id) const;
  /// Whether `id` is an added token marked special.
  bool is_special(int64_t id) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace retain
