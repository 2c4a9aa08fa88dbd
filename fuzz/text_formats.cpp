// The prose readers over one text (suite/sources): fortune files, POD, reStructuredText, HTML,
// OSIS verse markup, Brown corpus sentences; the first byte picks the reader.
#include "fuzz_support.h"
#include "retain/suite/sources/brown.h"
#include "retain/suite/sources/fortunes.h"
#include "retain/suite/sources/html_text.h"
#include "retain/suite/sources/pod.h"
#include "retain/suite/sources/rst.h"
#include "retain/suite/sources/sword.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text = retain::fuzz::bytes(data + 1, size - 1);
  namespace s = retain::suite;
  retain::fuzz::expect_clean([&] {
    switch (data[0] % 6) {
      case 0:
        for (const auto& item : s::read_fortune_file(retain::fuzz::write_input("fortunes", text)))
          (void)s::strip_fortune_attribution(item);
        break;
      case 1:
        for (const auto& p : s::pod_paragraphs(text)) (void)s::strip_pod_codes(p);
        break;
      case 2:
        for (const auto& p : s::rst_paragraphs(text)) (void)s::strip_rst_inline(p);
        break;
      case 3: (void)s::html_paragraphs(text); break;
      case 4: (void)s::osis_plain_text(text); break;
      default: (void)s::join_passages(s::brown_sentences(text, "fuzz"), 5); break;
    }
  });
  return 0;
}
