#include "retain/tokenizer/tokenizer.h"

#include "config_node.h"
#include "retain/tokenizer/added_vocabulary.h"
#include "retain/tokenizer/bpe_model.h"
#include "retain/tokenizer/decoder.h"
#include "retain/tokenizer/normalizer.h"
#include "retain/tokenizer/post_processor.h"
#include "retain/tokenizer/pre_tokenizer.h"
#include "retain/tokenizer/unicode.h"

namespace retain {

using tokenizer_detail::ConfigNode;

struct Tokenizer::Impl {
  std::string origin;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;
  int64_t vocab_size = 0;
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
  return from_json(read_json_file(path, "tokenizer"), path.string());
}

namespace {

AddedToken parse_added_token(const ConfigNode& node) {
  node.expect_object();
  AddedToken token;
  token.content = node.get_string("content");
  if (node.has("id")) node.at("id").as_int();  // validated, but HF assigns ids itself
  token.single_word = node.get_bool_or("single_word", false);
  token.lstrip = node.get_bool_or("lstrip", false);
  token.rstrip = node.get_bool_or("rstrip", false);
  token.special = node.get_bool_or("special", false);
  token.normalized = node.get_bool_or("normalized", !token.special);
  return token;
}

}  // namespace

Tokenizer Tokenizer::from_json(const json& config, const std::string& origin) {
  ConfigNode root(config, origin, "");
  root.expect_object();
  auto impl = std::make_unique<Impl>();
  impl->origin = origin;

  if (root.has("version")) {
    std::string version = root.get_string("version");
    if (version != "1.0") root.at("version").fail("unknown tokenizer.json version \"{}\" (expected \"1.0\")", version);
  }
  if (root.has("truncation"))
    root.at("truncation").fail("truncation is not supported (set it to null; retain truncates sequences itself)");
  if (root.has("padding")) {
    ConfigNode padding = root.at("padding");
    padding.expect_object();
    bool batch_longest = padding.has("strategy") && padding.at("strategy").value() == json("BatchLongest");
    if (!batch_longest || padding.has("pad_to_multiple_of"))
      padding.fail("padding other than BatchLongest without pad_to_multiple_of is not supported (set it to null)");
    // BatchLongest never pads a single sequence: nothing to do.
  }

  impl->model = BpeModel::from_json(root.at("model").value(), origin, "model");
  if (root.has("normalizer")) impl->normalizer = make_normalizer(root.at("normalizer").value(), origin, "normalizer");
  if (root.has("pre_tokenizer"))
    impl->pre_tokenizer = make_pre_tokenizer(root.at("pre_tokenizer").value(), origin, "pre_tokenizer");
  if (root.has("post_processor"))
    impl->post_processor = make_post_processor(root.at("post_processor").value(), origin, "post_processor");
  if (root.has("decoder")) impl->decoder = make_decoder(root.at("decoder").value(), origin, "decoder");

  if (root.has("added_tokens")) {
    ConfigNode list = root.at("added_tokens");
    list.expect_array();
    std::vector<AddedToken> tokens;
    for (size_t i = 0; i < list.size(); ++i) tokens.push_back(parse_added_token(list.at(i)));
    impl->added.add(tokens, *impl->model, impl->normalizer.get());
  }
  impl->vocab_size = std::max(impl->model->max_id(), impl->added.max_id()) + 1;
  return Tokenizer(std::move(impl));
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& m = *impl_;
  size_t bad = unicode::find_invalid_utf8(text);
  if (bad != std::string_view::npos)
    fail("tokenizer", "{}: cannot encode text that is not valid UTF-8 (invalid byte 0x{:02X} at offset {})", m.origin,
         static_cast<unsigned>(static_cast<unsigned char>(text[bad])), bad);
  std::vector<Piece> pieces = m.added.extract_and_normalize(text, m.normalizer.get());
  if (m.pre_tokenizer) m.pre_tokenizer->pre_tokenize(pieces);
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const auto& piece : pieces) {
    if (piece.token_id >= 0) ids.push_back(piece.token_id);
    else m.model->tokenize(piece.text.text(), ids);
  }
  if (add_special_tokens && m.post_processor) ids = m.post_processor->process(std::move(ids));
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    std::string token = id_to_token(id);
    if (skip_special_tokens && m.added.is_special_content(token)) continue;
    tokens.push_back(std::move(token));
  }
  if (m.decoder) return m.decoder->decode(std::move(tokens));
  std::string joined;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) joined += ' ';
    joined += tokens[i];
  }
  return joined;
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int64_t> Tokenizer::token_to_id(const std::string& token) const {
  if (auto id = impl_->added.token_to_id(token)) return id;
  return impl_->model->token_to_id(token);
}

std::string Tokenizer::id_to_token(int64_t id) const {
  const Impl& m = *impl_;
  if (id < 0 || id >= m.vocab_size)
    fail("tokenizer", "{}: token id {} is out of range (vocabulary size {})", m.origin, id, m.vocab_size);
  if (auto added = m.added.decode_token(id)) return *added;
  if (const std::string* token = m.model->id_to_token(id)) return *token;
  fail("tokenizer", "{}: token id {} has no token (the vocabulary of size {} has a hole there)", m.origin, id,
       m.vocab_size);
}

bool Tokenizer::is_special(int64_t id) const {
  const AddedToken* token = impl_->added.token(id);
  return token && token->special;
}

}  // namespace retain
