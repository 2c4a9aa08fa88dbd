// retain/tokenizer/unicode.h — the Unicode and UTF-8 primitives the tokenizer is built on.
//
// Character classes follow the definitions the Rust `tokenizers` library uses, so that our results
// match Hugging Face's: `is_whitespace` is Rust's `char::is_whitespace` (the White_Space property),
// `is_numeric` is `char::is_numeric` (categories Nd, Nl, No), and `from_utf8_lossy` replaces
// invalid sequences exactly as Rust's `String::from_utf8_lossy` (one U+FFFD per maximal invalid
// subpart). Category data comes from utf8proc.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace retain::unicode {

/// Decodes the code point starting at `text[pos]` (which must be valid UTF-8) and advances `pos`.
char32_t next_code_point(std::string_view text, size_t& pos);
/// Byte length of the UTF-8 sequence that starts with `lead` (1 for a continuation byte).
inline size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}
/// Appends the UTF-8 encoding of `c` to `out`.
void append_utf8(std::string& out, char32_t c);
/// UTF-8 encoding of one code point.
std::string to_utf8(char32_t c);

/// Offset of the first byte that is not part of well-formed UTF-8, or npos if `text` is valid.
size_t find_invalid_utf8(std::string_view text);
/// As Rust's String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD.
std::string from_utf8_lossy(std::string_view bytes);

/// Rust char::is_whitespace (Unicode White_Space).
bool is_whitespace(char32_t c);
/// Rust char::is_numeric (general category Nd, Nl or No).
bool is_numeric(char32_t c);
/// Unicode punctuation (categories Pc, Pd, Ps, Pe, Pi, Pf, Po) or ASCII punctuation, as HF's
/// Punctuation and BertPreTokenizer pre-tokenizers.
bool is_punctuation(char32_t c);
/// General category Mn, Mc or Me (HF StripAccents).
bool is_combining_mark(char32_t c);
/// Regex `\w` of Rust's regex crate and Oniguruma: Alphabetic, Mark, Nd, Pc or Join_Control.
bool is_word_char(char32_t c);

/// GPT-2's reversible map from each byte to a printable code point (`bytes_to_unicode`).
const std::array<char32_t, 256>& byte_to_code_point();
/// Inverse of byte_to_code_point: the byte of a code point, or -1 if it is not in the alphabet.
int code_point_to_byte(char32_t c);

}  // namespace retain::unicode
