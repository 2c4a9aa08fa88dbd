// retain/suite/prose_filter.h — whether a paragraph of documentation is running prose, the
// rule the pretrain-large corpus keeps documentation paragraphs by.
#pragma once

#include <string>

namespace retain::suite {

/// True when `paragraph` reads as prose: at least kMinProseWords words; at least kProseWordShare of its tokens
/// are words (letters, optionally with apostrophes or hyphens inside, one opening bracket or quote
/// before and closing punctuation after); and no code markers ("{", "}", "=>", "->", "::", "==",
/// "$name", "#include", "();"). Option tables, code, shell sessions and lists of identifiers fail.
bool is_prose(const std::string& paragraph);

constexpr size_t kMinProseWords = 8;
constexpr double kProseWordShare = 0.75;

}  // namespace retain::suite
