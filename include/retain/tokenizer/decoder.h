// retain/tokenizer/decoder.h — the `decoder` section of tokenizer.json: turns token strings back
// into text (HF Decoder::decode_chain, then the pieces are concatenated).
//
// Supported types: ByteLevel (GPT-2 alphabet back to bytes; invalid UTF-8 becomes U+FFFD as
// Rust's String::from_utf8_lossy), Metaspace, Replace, ByteFallback (`<0xXX>` runs back to text),
// Fuse, Strip, WordPiece, BPEDecoder and Sequence. Any other type is an error naming it.
#pragma once

#include "retain/core/json.h"

#include <memory>
#include <string>
#include <vector>

namespace retain {

class Decoder {
 public:
  virtual ~Decoder() = default;
  /// One step of the chain: token strings in, token strings out.
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
  /// The whole decode: decode_chain, then concatenation.
  std::string decode(std::vector<std::string> tokens) const;
};

/// Builds a decoder from its JSON object; `origin` and `path` name it in errors.
std::unique_ptr<Decoder> make_decoder(const json& config, const std::string& origin, const std::string& path);

}  // namespace retain
