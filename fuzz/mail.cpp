// SpamAssassin mail messages (suite/sources/spam_assassin.h): headers, MIME parts, encodings.
#include "fuzz_support.h"
#include "retain/suite/sources/spam_assassin.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  retain::fuzz::expect_clean([&] {
    const auto mail = retain::suite::parse_mail(retain::fuzz::bytes(data, size));
    (void)retain::suite::thread_key(retain::suite::strip_list_markers(mail).subject);
  });
  return 0;
}
