// safetensors files (io/safetensors.h): the header, the tensor table, then every tensor read.
#include "fuzz_support.h"
#include "retain/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = retain::fuzz::write_input("model.safetensors", retain::fuzz::bytes(data, size));
  retain::fuzz::expect_clean([&] {
    const auto file = retain::safetensors::File::open(path);
    for (const auto& info : file.tensors()) (void)file.tensor(info.name).sum();
    (void)file.metadata();
  });
  return 0;
}
