// dictd indexes over a fixed dictionary (suite/sources/dictd.h); then the GCIDE and FOLDOC text
// clean-ups over each entry the index names, and over the input itself as an entry.
#include "fuzz_support.h"
#include "retain/suite/sources/dictd.h"

#include <zlib.h>

namespace {

std::string gzip(const std::string& text) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, text.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool dict_written = [] {
    retain::fuzz::write_input("gcide.dict.dz", gzip("Database info\nAbb \\Abb\\, n. (Zool.)\n   yarn. {Warp}\n"
                                                    "actor\n\n   <operating system> In {Chorus}.\n\n   (1994-11-08)\n"));
    return true;
  }();
  (void)dict_written;
  const std::string text = retain::fuzz::bytes(data, size);
  retain::fuzz::write_input("gcide.index", text);
  retain::fuzz::expect_clean([&] {
    for (const auto& entry : retain::suite::read_dictd(retain::fuzz::scratch() / "gcide")) {
      (void)retain::suite::gcide_plain_text(entry.text);
      (void)retain::suite::gcide_field_labels(entry.text);
      (void)retain::suite::foldoc_category_and_text(entry);
    }
  });
  retain::fuzz::expect_clean([&] {
    (void)retain::suite::gcide_plain_text(text);
    (void)retain::suite::gcide_field_labels(text);
    (void)retain::suite::foldoc_category_and_text({"x", text, 0});
  });
  return 0;
}
