// PEFT adapter_config.json (model/lora.h).
#include "fuzz_support.h"
#include "retain/model/lora.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  retain::fuzz::expect_clean(
      [&] { (void)retain::LoraConfig::from_json_text(retain::fuzz::bytes(data, size), "adapter_config.json"); });
  return 0;
}
