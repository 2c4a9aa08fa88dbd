// Helpers for the tokenizer unit tests (beside common/test_support.h): tiny tokenizer.json objects
// whose results can be derived by hand, and access to pieces as plain strings.
#pragma once

#include "common/test_support.h"
#include "retain/core/json.h"
#include "retain/tokenizer/pre_tokenizer.h"
#include "retain/tokenizer/tokenizer.h"

#include <string>
#include <vector>

namespace retain::testing {

/// A BPE tokenizer.json with the given vocabulary (token -> id) and merges, no other component.
inline json bpe_config(const json& vocab, const json& merges, const json& model_extra = json::object()) {
  json model = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"vocab", vocab}, {"merges", merges}};
  for (auto& [k, v] : model_extra.items()) model[k] = v;
  return json{{"version", "1.0"},      {"truncation", nullptr}, {"padding", nullptr},
              {"added_tokens", json::array()}, {"normalizer", nullptr},  {"pre_tokenizer", nullptr},
              {"post_processor", nullptr},     {"decoder", nullptr},     {"model", model}};
}

/// A vocabulary of single characters (each its own id, in order) plus `extra` tokens after them.
inline json char_vocab(const std::vector<std::string>& chars, const std::vector<std::string>& extra = {}) {
  json vocab = json::object();
  int id = 0;
  for (const auto& c : chars) vocab[c] = id++;
  for (const auto& t : extra) vocab[t] = id++;
  return vocab;
}

inline json added_token(int id, const std::string& content, bool special, bool normalized = false, bool lstrip = false,
                        bool rstrip = false, bool single_word = false) {
  return json{{"id", id},         {"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
              {"rstrip", rstrip}, {"normalized", normalized}, {"special", special}};
}

/// Texts of the pieces (added-token pieces included).
inline std::vector<std::string> texts(const std::vector<Piece>& pieces) {
  std::vector<std::string> out;
  for (const auto& p : pieces) out.push_back(p.text.text());
  return out;
}

/// Runs a pre-tokenizer on one piece of original text.
inline std::vector<std::string> pre_tokenize(const json& config, const std::string& text, size_t offset = 0) {
  auto pre = make_pre_tokenizer(config, "test", "pre_tokenizer");
  std::vector<Piece> pieces{Piece{NormalizedString(text, offset), -1}};
  pre->pre_tokenize(pieces);
  return texts(pieces);
}

}  // namespace retain::testing
