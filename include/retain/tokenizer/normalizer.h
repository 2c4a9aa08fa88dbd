// retain/tokenizer/normalizer.h — the `normalizer` section of tokenizer.json.
//
// Supported types: NFC, NFD, NFKC, NFKD (utf8proc), Lowercase (Rust's char::to_lowercase, one
// character at a time), Prepend, Replace (String or Regex pattern), Strip, StripAccents, Nmt,
// ByteLevel and Sequence. Any other type is an error naming it and its JSON path.
#pragma once

#include "retain/core/json.h"
#include "retain/tokenizer/normalized_string.h"

#include <memory>
#include <string>

namespace retain {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  /// Normalizes `text` in place, keeping the original offsets up to date.
  virtual void normalize(NormalizedString& text) const = 0;
};

/// Builds a normalizer from its JSON object. `origin` (the file) and `path` (e.g. "normalizer" or
/// "normalizer.normalizers[2]") name it in errors.
std::unique_ptr<Normalizer> make_normalizer(const json& config, const std::string& origin, const std::string& path);

/// Unicode normalization forms (exposed for tests and for other components).
enum class UnicodeForm { NFC, NFD, NFKC, NFKD };
/// `text` in the given normalization form.
std::string unicode_normalize(std::string_view text, UnicodeForm form);

}  // namespace retain
