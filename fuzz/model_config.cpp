// Hugging Face config.json of both dialects (model/config.h).
#include "fuzz_support.h"
#include "retain/core/json.h"
#include "retain/model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  retain::fuzz::expect_clean([&] {
    const auto config = retain::parse_json(retain::fuzz::bytes(data, size), "config.json", "config");
    (void)retain::ModelConfig::from_json(config, "config.json");
  });
  return 0;
}
