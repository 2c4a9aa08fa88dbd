#include "retain/train/pretrain_corpus.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/tokenizer/bpe_trainer.h"
#include "retain/tokenizer/unicode.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

namespace retain {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "pretrain";

// The held-out split's hash (split_documents): fixed, so a seed names the same split everywhere.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void check_utf8(const std::string& text, const std::string& origin) {
  size_t bad = unicode::find_invalid_utf8(text);
  if (bad == std::string::npos) return;
  size_t line =
      1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
  fail(kComponent,
       "{}:{}: not valid UTF-8 (byte 0x{:02X} at offset {}); convert it first, e.g. iconv -f latin1 -t utf-8", origin,
       line, static_cast<unsigned>(static_cast<unsigned char>(text[bad])), bad);
}

}  // namespace

std::vector<std::string> read_documents(const std::vector<fs::path>& files, const std::string& doc_separator) {
  std::vector<std::string> documents;
  for (const auto& file : files) {
    if (file.extension() == ".jsonl") {
      for_each_jsonl(
          file,
          [&](size_t, const json& line) {
            auto text = json_get<std::string>(line, "text", "line", kComponent);
            if (!text.empty()) documents.push_back(std::move(text));
          },
          kComponent);
      continue;
    }
    std::string text = read_file(file, kComponent);
    check_utf8(text, file.string());
    if (doc_separator.empty()) {
      if (!text.empty()) documents.push_back(std::move(text));
      continue;
    }
    size_t begin = 0;
    while (begin <= text.size()) {
      size_t end = text.find(doc_separator, begin);
      if (end == std::string::npos) end = text.size();
      if (end > begin) documents.push_back(text.substr(begin, end - begin));
      begin = end + doc_separator.size();
    }
  }
  return documents;
}

std::vector<Document> tokenize_documents(const Tokenizer& tokenizer, const std::vector<std::string>& documents,
                                         int threads) {
  // Long documents are encoded in pieces cut where pre-tokenization cannot cross (the same ids, in
  // less memory and spread over the threads).
  struct Piece {
    size_t document;
    std::string_view text;
  };
  std::vector<Piece> pieces;
  std::vector<size_t> first_piece(documents.size() + 1);
  for (size_t d = 0; d < documents.size(); ++d) {
    first_piece[d] = pieces.size();
    for (auto part : split_at_safe_newlines(documents[d], 1 << 20)) pieces.push_back({d, part});
  }
  first_piece[documents.size()] = pieces.size();
  std::vector<std::vector<int64_t>> encoded(pieces.size());
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> workers;
  for (int t = 0; t < std::max(1, threads); ++t) {
    workers.emplace_back([&] {
      try {
        for (size_t i = next++; i < pieces.size(); i = next++) encoded[i] = tokenizer.encode(pieces[i].text, false);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = pieces.size();
      }
    });
  }
  for (auto& w : workers) w.join();
  if (error) std::rethrow_exception(error);
  std::vector<Document> out(documents.size());
  for (size_t d = 0; d < documents.size(); ++d) {
    for (size_t i = first_piece[d]; i < first_piece[d + 1]; ++i) {
      for (int64_t id : encoded[i]) out[d].push_back(static_cast<int32_t>(id));
      std::vector<int64_t>().swap(encoded[i]);
    }
  }
  return out;
}

int64_t write_heldout_documents(const PretrainOptions& o, const fs::path& path, int64_t max_documents) {
  const auto documents = read_documents(list_text_files(o.text, kComponent), o.doc_separator);
  const auto split = split_documents(documents.size(), static_cast<uint64_t>(o.seed), o.eval_fraction);
  std::string out;
  int64_t written = 0;
  for (size_t d : split.eval) {
    if (written >= max_documents) break;
    out += json{{"text", documents[d]}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    ++written;
  }
  if (written > 0) write_file_atomic(path, out, kComponent);  // no held-out document: no file (eval_fraction 0)
  return written;
}

DocumentSplit split_documents(size_t count, uint64_t seed, double fraction) {
  DocumentSplit split;
  std::vector<uint64_t> hash(count);
  for (size_t i = 0; i < count; ++i) {
    hash[i] = splitmix64(splitmix64(seed) ^ (0xD1B54A32D192ED03ull * (i + 1)));
    const double u = static_cast<double>(hash[i] >> 11) * 0x1.0p-53;
    (u < fraction ? split.eval : split.train).push_back(i);
  }
  // A positive fraction holds out at least one document, and training keeps at least one.
  if (fraction > 0 && split.eval.empty() && count >= 2) {
    size_t pick = static_cast<size_t>(std::min_element(hash.begin(), hash.end()) - hash.begin());
    split.train.erase(std::find(split.train.begin(), split.train.end(), pick));
    split.eval.push_back(pick);
  }
  if (split.train.empty() && !split.eval.empty()) {
    split.train.push_back(split.eval.back());
    split.eval.pop_back();
    std::sort(split.train.begin(), split.train.end());
  }
  return split;
}

std::vector<int32_t> pack_stream(const std::vector<Document>& documents, const std::vector<size_t>& which, int32_t bos,
                                 int32_t eos) {
  size_t total = 0;
  for (size_t d : which) total += documents.at(d).size() + 2;
  std::vector<int32_t> out;
  out.reserve(total);
  for (size_t d : which) {
    out.push_back(bos);
    out.insert(out.end(), documents[d].begin(), documents[d].end());
    out.push_back(eos);
  }
  return out;
}

}  // namespace retain
