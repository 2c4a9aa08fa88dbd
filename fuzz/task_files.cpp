// Task folders of the three layouts (data/task.h): retain's own (task.json + JSONL splits),
// O-LoRA CL_Benchmark (labels.json + JSON lists) and TRACE (JSON lists). The first byte picks the
// layout and which of its files is the input; the others are small valid files.
#include "fuzz_support.h"
#include "retain/data/task.h"

#include <array>

namespace {

struct Layout {
  const char* folder;
  std::array<std::pair<const char*, const char*>, 3> files;  // name, valid contents
};

const Layout kLayouts[] = {
    {"retain",
     {{{"task.json", R"({"name": "t", "type": "classification", "labels": ["a", "b"]})"},
       {"train.jsonl", "{\"input\": \"x y z\", \"output\": \"a\"}\n{\"input\": \"p q\", \"output\": \"b\"}\n"},
       {"test.jsonl", "{\"input\": \"x\", \"output\": \"b\"}\n"}}}},
    {"cl",
     {{{"labels.json", R"(["World", "Sports"])"},
       {"train.json", R"([{"sentence": "a game", "label": "Sports"}, {"sentence": "news", "label": "World"}])"},
       {"test.json", R"([{"sentence": "match", "label": "Sports"}])"}}}},
    {"trace",
     {{{"train.json", R"([{"prompt": "def f():", "answer": " return 1"}])"},
       {"test.json", R"([{"prompt": "import os", "answer": " import sys"}])"},
       {"eval.json", R"([{"prompt": "x =", "answer": " 1"}])"}}}},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Layout& layout = kLayouts[data[0] % 3];
  const size_t which = (data[0] / 3) % 3;
  const auto dir = retain::fuzz::scratch() / layout.folder;
  for (size_t i = 0; i < 3; ++i)
    retain::fuzz::write_input(std::string(layout.folder) + "/" + layout.files[i].first,
                              i == which ? retain::fuzz::bytes(data + 1, size - 1) : layout.files[i].second);
  retain::fuzz::expect_clean([&] { (void)retain::load_task(dir); });
  return 0;
}
