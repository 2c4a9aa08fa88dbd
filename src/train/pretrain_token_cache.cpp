#include "retain/train/pretrain_token_cache.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/sha256.h"
#include "retain/tokenizer/bpe_trainer.h"
#include "retain/train/pretrain_corpus.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace retain {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "pretrain";
constexpr const char* kDataFormat = "retain-pretrain-data-1";

void write_tokens(const fs::path& path, const std::vector<int32_t>& tokens, bool wide) {
  write_file_atomic(
      path,
      [&](std::ostream& out) {
        if (wide) {
          std::vector<uint32_t> buffer(tokens.begin(), tokens.end());
          out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size() * 4));
        } else {
          std::vector<uint16_t> buffer(tokens.size());
          for (size_t i = 0; i < tokens.size(); ++i) buffer[i] = static_cast<uint16_t>(tokens[i]);
          out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size() * 2));
        }
      },
      kComponent);
}

std::vector<int32_t> read_tokens(const fs::path& path, bool wide, int64_t expected, int64_t vocab) {
  const std::string bytes = read_file(path, kComponent);
  const size_t width = wide ? 4 : 2;
  RETAIN_CHECK(bytes.size() == static_cast<size_t>(expected) * width, kComponent,
               "{}: {} bytes, expected {} tokens × {} bytes (the cache is damaged; rerun without --resume)",
               path.string(), bytes.size(), expected, width);
  std::vector<int32_t> out(static_cast<size_t>(expected));
  for (size_t i = 0; i < out.size(); ++i) {
    if (wide) {
      uint32_t v;
      std::memcpy(&v, bytes.data() + 4 * i, 4);
      out[i] = static_cast<int32_t>(v);
    } else {
      uint16_t v;
      std::memcpy(&v, bytes.data() + 2 * i, 2);
      out[i] = v;
    }
    RETAIN_CHECK(out[i] >= 0 && out[i] < vocab, kComponent,
                 "{}: token {} at position {} is outside the vocabulary ({})", path.string(), out[i], i, vocab);
  }
  return out;
}

// The data the cache must have been made from: a different value means the cache is not ours.
json data_key(const PretrainOptions& o, const json& files, const std::string& tokenizer_sha, int64_t bos, int64_t eos) {
  return {{"format", kDataFormat},
          {"files", files},
          {"tokenizer_sha256", tokenizer_sha},
          {"bos", bos},
          {"eos", eos},
          {"doc_separator", o.doc_separator},
          {"eval_fraction", o.eval_fraction},
          {"seed", o.seed}};
}

}  // namespace

PretrainCorpus load_corpus(const PretrainOptions& o, const Tokenizer& tokenizer, int64_t bos, int64_t eos,
                           bool use_cache, const std::function<void(const std::string&)>& note) {
  const auto files = list_text_files(o.text, kComponent);
  PretrainCorpus corpus;
  for (const auto& f : files)
    corpus.files.push_back({{"path", f.string()}, {"bytes", fs::file_size(f)}, {"sha256", sha256_file(f)}});
  const fs::path dir = o.out / "data";
  const json key = data_key(o, corpus.files, sha256_file(o.tokenizer), bos, eos);
  const bool wide = tokenizer.vocab_size() > 65536;
  if (use_cache && fs::exists(dir / "index.json")) {
    const json index = read_json_file(dir / "index.json", kComponent);
    if (index.value("key", json()) == key) {
      corpus.train =
          read_tokens(dir / "train.bin", wide, index.at("train_tokens").get<int64_t>(), tokenizer.vocab_size());
      corpus.eval = read_tokens(dir / "eval.bin", wide, index.at("eval_tokens").get<int64_t>(), tokenizer.vocab_size());
      corpus.train_documents = index.at("train_documents").get<int64_t>();
      corpus.eval_documents = index.at("eval_documents").get<int64_t>();
      note(fmt::format("token cache {} ({} train + {} held-out tokens)", dir.string(), corpus.train.size(),
                       corpus.eval.size()));
      return corpus;
    }
    fail(kComponent,
         "{}: the token cache was made from other data, tokenizer or split settings than this run's; "
         "resume with the same --text, --tokenizer, --doc-separator, --eval-fraction and --seed",
         (dir / "index.json").string());
  }
  const auto start = std::chrono::steady_clock::now();
  const auto documents = read_documents(files, o.doc_separator);
  RETAIN_CHECK(!documents.empty(), kComponent, "the text files hold no documents");
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto ids = tokenize_documents(tokenizer, documents, threads);
  const auto split = split_documents(ids.size(), static_cast<uint64_t>(o.seed), o.eval_fraction);
  corpus.train = pack_stream(ids, split.train, static_cast<int32_t>(bos), static_cast<int32_t>(eos));
  corpus.eval = pack_stream(ids, split.eval, static_cast<int32_t>(bos), static_cast<int32_t>(eos));
  corpus.train_documents = static_cast<int64_t>(split.train.size());
  corpus.eval_documents = static_cast<int64_t>(split.eval.size());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  size_t bytes = 0;
  for (const auto& d : documents) bytes += d.size();
  note(fmt::format(
      "{} documents ({:.1f} MB) -> {} train + {} held-out tokens ({} + {} documents) in {:.1f} s with {} threads",
      documents.size(), bytes / 1e6, corpus.train.size(), corpus.eval.size(), corpus.train_documents,
      corpus.eval_documents, seconds, threads));
  fs::create_directories(dir);
  write_tokens(dir / "train.bin", corpus.train, wide);
  write_tokens(dir / "eval.bin", corpus.eval, wide);
  write_file_atomic(dir / "index.json",
                    json{{"key", key},
                         {"dtype", wide ? "uint32" : "uint16"},
                         {"train_tokens", corpus.train.size()},
                         {"eval_tokens", corpus.eval.size()},
                         {"train_documents", corpus.train_documents},
                         {"eval_documents", corpus.eval_documents},
                         {"tokenize_seconds", seconds}}
                        .dump(2),
                    kComponent);
  return corpus;
}

}  // namespace retain
