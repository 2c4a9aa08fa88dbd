// WordNet data.* files (suite/sources/wordnet.h).
#include "fuzz_support.h"
#include "retain/suite/sources/wordnet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = retain::fuzz::write_input("data.noun", retain::fuzz::bytes(data, size));
  retain::fuzz::expect_clean([&] {
    for (const auto& synset : retain::suite::read_wordnet_data(path)) (void)retain::suite::wordnet_definition(synset.gloss);
  });
  return 0;
}
