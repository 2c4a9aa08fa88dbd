// retain/tokenizer/post_processor.h — the `post_processor` section of tokenizer.json, applied by
// encode(text, add_special_tokens=true) to the ids of a single sequence.
//
// Supported types: TemplateProcessing (the `single` template: SpecialToken and Sequence A
// pieces), ByteLevel (changes offsets only, so no ids), BertProcessing ([CLS] A [SEP]),
// RobertaProcessing (<s> A </s>) and Sequence. Any other type is an error naming it.
#pragma once

#include "retain/core/json.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace retain {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  /// The ids of the sequence with the special tokens added.
  virtual std::vector<int64_t> process(std::vector<int64_t> ids) const = 0;
};

/// Builds a post-processor from its JSON object; `origin` and `path` name it in errors.
std::unique_ptr<PostProcessor> make_post_processor(const json& config, const std::string& origin,
                                                   const std::string& path);

}  // namespace retain
