// base64_digit.h (private to src/suite/sources) — one digit of the base64 alphabet (RFC 4648 §4:
// A–Z a–z 0–9 + /), which MIME bodies (spam_assassin) and dictd index numbers (dictd) share.
#pragma once

namespace retain::suite {

/// 0..63 for a base64 digit, -1 for any other character.
inline int base64_digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace retain::suite
