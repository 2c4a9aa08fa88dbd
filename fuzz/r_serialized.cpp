// R's XDR serialisation and lazy-load records (suite/sources/r_lazyload.h): the input as a
// serialised object, and as an .rdb record (length + compression type + data), read as a data frame.
#include "fuzz_support.h"
#include "retain/suite/sources/r_lazyload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = retain::fuzz::bytes(data, size);
  const auto read_frame = [](const retain::suite::RValue& v) {
    if (const auto* names = v.attribute("names"))
      for (const auto& name : names->strings) (void)retain::suite::r_column_as_strings(v, name, "fuzz");
    for (const auto& item : v.items) retain::fuzz::expect_clean([&] { (void)retain::suite::r_as_strings(*item, "fuzz"); });
  };
  retain::fuzz::expect_clean([&] { read_frame(*retain::suite::parse_r_serialized(bytes, "fuzz")); });
  retain::fuzz::expect_clean(
      [&] { read_frame(*retain::suite::parse_r_serialized(retain::suite::decode_rdb_record(bytes, "fuzz"), "fuzz")); });
  return 0;
}
