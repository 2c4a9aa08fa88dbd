// Debian Packages / Translation lists (suite/sources/debian_descriptions.h).
#include "fuzz_support.h"
#include "retain/suite/sources/debian_descriptions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = retain::fuzz::write_input("Packages", retain::fuzz::bytes(data, size));
  retain::fuzz::expect_clean([&] {
    for (const auto& stanza : retain::suite::read_deb822(path)) (void)stanza;
  });
  retain::fuzz::expect_clean([&] { (void)retain::suite::read_translations(path); });
  retain::fuzz::expect_clean([&] { (void)retain::suite::split_description(retain::fuzz::bytes(data, size)); });
  return 0;
}
