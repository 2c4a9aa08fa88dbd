#include "retain/tokenizer/post_processor.h"

#include "config_node.h"

#include <map>
#include <sstream>

namespace retain {

using tokenizer_detail::ConfigNode;

namespace {

class Template : public PostProcessor {
 public:
  // A piece is either a run of special-token ids or the sequence itself (empty optional).
  explicit Template(std::vector<std::optional<std::vector<int64_t>>> pieces) : pieces_(std::move(pieces)) {}
  std::vector<int64_t> process(std::vector<int64_t> ids) const override {
    std::vector<int64_t> out;
    out.reserve(ids.size() + 4);
    for (const auto& piece : pieces_) {
      if (piece) out.insert(out.end(), piece->begin(), piece->end());
      else out.insert(out.end(), ids.begin(), ids.end());
    }
    return out;
  }

 private:
  std::vector<std::optional<std::vector<int64_t>>> pieces_;
};

class Identity : public PostProcessor {
 public:
  std::vector<int64_t> process(std::vector<int64_t> ids) const override { return ids; }
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  std::vector<int64_t> process(std::vector<int64_t> ids) const override {
    for (const auto& p : parts_) ids = p->process(std::move(ids));
    return ids;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// A template piece given as a string: "$A", "$0", "$B:1", "[CLS]", "[CLS]:0" (HF Piece::try_from).
// Returns the special-token name, or "" for sequence A; fails on sequence B.
std::string parse_piece_string(const ConfigNode& node, const std::string& text) {
  std::string id = text.substr(0, text.find(':'));
  if (!id.empty() && id[0] == '$') {
    std::string rest = id.substr(1);
    if (rest == "B" || rest == "b") node.fail("template piece \"{}\" refers to sequence B in a single template", text);
    return "";
  }
  return id;
}

std::unique_ptr<PostProcessor> build_template(const ConfigNode& node) {
  ConfigNode single = node.at("single");
  std::vector<std::string> names;  // "" = sequence A
  if (single.value().is_string()) {
    std::istringstream words(single.as_string());
    std::string word;
    while (words >> word) names.push_back(parse_piece_string(single, word));
  } else {
    single.expect_array();
    for (size_t i = 0; i < single.size(); ++i) {
      ConfigNode piece = single.at(i);
      if (piece.value().is_string()) {
        names.push_back(parse_piece_string(piece, piece.as_string()));
      } else if (piece.has("Sequence")) {
        std::string id = piece.at("Sequence").get_string("id");
        if (id != "A") piece.fail("sequence \"{}\" in a single template (expected A)", id);
        names.push_back("");
      } else if (piece.has("SpecialToken")) {
        names.push_back(piece.at("SpecialToken").get_string("id"));
      } else {
        piece.fail("expected {{\"Sequence\": ...}} or {{\"SpecialToken\": ...}}, found {}", piece.value().dump());
      }
    }
  }
  std::map<std::string, std::vector<int64_t>> specials;
  if (node.has("special_tokens")) {
    ConfigNode table = node.at("special_tokens");
    table.expect_object();
    for (const auto& [name, value] : table.value().items()) {
      ConfigNode entry = table.at(name);
      ConfigNode ids = entry.at("ids");
      ids.expect_array();
      std::vector<int64_t> list;
      for (size_t i = 0; i < ids.size(); ++i) list.push_back(ids.at(i).as_int());
      specials[entry.get_string_or("id", name)] = list;
    }
  }
  std::vector<std::optional<std::vector<int64_t>>> pieces;
  for (const auto& name : names) {
    if (name.empty()) {
      pieces.emplace_back(std::nullopt);
      continue;
    }
    auto it = specials.find(name);
    if (it == specials.end()) node.fail("template uses special token \"{}\" missing from special_tokens", name);
    pieces.emplace_back(it->second);
  }
  return std::make_unique<Template>(std::move(pieces));
}

// BertProcessing / RobertaProcessing: "cls": ["[CLS]", 101], "sep": ["[SEP]", 102].
int64_t token_pair_id(const ConfigNode& node, const std::string& key) {
  ConfigNode pair = node.at(key);
  pair.expect_array();
  if (pair.size() != 2) pair.fail("expected [token, id]");
  return pair.at(1).as_int();
}

std::unique_ptr<PostProcessor> build(const ConfigNode& node) {
  std::string type = node.type();
  if (type == "TemplateProcessing") return build_template(node);
  if (type == "ByteLevel") return std::make_unique<Identity>();
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    int64_t cls = token_pair_id(node, "cls"), sep = token_pair_id(node, "sep");
    return std::make_unique<Template>(std::vector<std::optional<std::vector<int64_t>>>{
        std::vector<int64_t>{cls}, std::nullopt, std::vector<int64_t>{sep}});
  }
  if (type == "Sequence") {
    return std::make_unique<SequenceProcessor>(node.build_each("processors", build));
  }
  node.fail("post-processor type \"{}\" is not supported (supported: TemplateProcessing, ByteLevel, BertProcessing, "
            "RobertaProcessing, Sequence)",
            type);
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& config, const std::string& origin,
                                                   const std::string& path) {
  return build(ConfigNode(config, origin, path));
}

}  // namespace retain
