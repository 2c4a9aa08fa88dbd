// tokenizer.json (tokenizer/tokenizer.h): loading any file, then encoding and decoding a fixed text
// through whatever pipeline loaded.
#include "fuzz_support.h"
#include "retain/core/json.h"
#include "retain/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  retain::fuzz::expect_clean([&] {
    const auto config = retain::parse_json(retain::fuzz::bytes(data, size), "tokenizer.json", "tokenizer");
    const auto tokenizer = retain::Tokenizer::from_json(config, "tokenizer.json");
    const auto ids = tokenizer.encode("Hello, world! \xC3\xA9t\xC3\xA9 2024\n\tend", true);
    (void)tokenizer.decode(ids, false);
    (void)tokenizer.decode(ids, true);
  });
  return 0;
}
