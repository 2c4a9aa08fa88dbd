// Encoding any text with a byte-level BPE tokenizer (no normalizer, no prefix space): it returns or
// refuses cleanly, and decoding gives valid UTF-8 text back exactly (the byte-level round trip).
#include "fuzz_support.h"
#include "retain/tokenizer/tokenizer.h"
#include "retain/tokenizer/unicode.h"

#include <cstdio>
#include <cstdlib>

// The tokenizer: $RETAIN_FUZZ_TOKENIZER (scripts/fuzz.sh passes Llama-3's from the npm test cache,
// whose 256 byte tokens cover every input), else the fixture RETAIN_FUZZ_DEFAULT_TOKENIZER.
static retain::Tokenizer load() {
  const char* path = std::getenv("RETAIN_FUZZ_TOKENIZER");
  return retain::Tokenizer::from_file(path && *path ? path : RETAIN_FUZZ_DEFAULT_TOKENIZER);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto tokenizer = load();
  const std::string text = retain::fuzz::bytes(data, size);
  std::vector<int64_t> ids;
  retain::fuzz::expect_clean([&] { ids = tokenizer.encode(text, false); });
  if (retain::unicode::find_invalid_utf8(text) == std::string::npos && tokenizer.decode(ids, false) != text) {
    std::fprintf(stderr, "round trip differs for %zu bytes\n", size);
    std::abort();
  }
  return 0;
}
