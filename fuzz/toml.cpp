// TOML settings files (core/toml.h): `retain run --config` reads them.
#include "fuzz_support.h"
#include "retain/core/toml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  retain::fuzz::expect_clean([&] { (void)retain::parse_toml(retain::fuzz::bytes(data, size), "fuzz.toml"); });
  return 0;
}
