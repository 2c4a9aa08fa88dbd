// retain/train/pretrain_corpus.h — pretraining text → documents → token ids → one packed stream per split.
//
// Every input file is read as UTF-8: a `.jsonl` file gives one document per line (its "text"
// field); any other file is one document, or several when `doc_separator` is set (e.g. "\n\n" or
// "<|endoftext|>"). Each document is encoded without special tokens and framed as [bos] ids [eos];
// the documents are concatenated into one stream per split. The held-out split is chosen per
// document (a hash of the seed and the document's index, so it is deterministic and independent of
// the thread count), and no document is in both splits.
#pragma once

#include "retain/tokenizer/tokenizer.h"
#include "retain/train/pretrain_options.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace retain {

/// One document's token ids (without bos/eos).
using Document = std::vector<int32_t>;

/// Reads the documents of `files` (see above); errors name the file and line.
std::vector<std::string> read_documents(const std::vector<std::filesystem::path>& files,
                                        const std::string& doc_separator);

/// Encodes documents in parallel (`threads` ≥ 1; the Tokenizer is safe to share between threads).
std::vector<Document> tokenize_documents(const Tokenizer& tokenizer, const std::vector<std::string>& documents,
                                         int threads);

/// Document indices of the two splits, each ascending. A document is held out when a hash of
/// (seed, index) mapped to [0, 1) is below `fraction`; a positive fraction holds out at least one
/// document (when there are two or more), and training always keeps at least one.
struct DocumentSplit {
  std::vector<size_t> train, eval;
};
DocumentSplit split_documents(size_t count, uint64_t seed, double fraction);

/// [bos] doc [eos] for every document, concatenated.
std::vector<int32_t> pack_stream(const std::vector<Document>& documents, const std::vector<size_t>& which, int32_t bos,
                                 int32_t eos);

/// Writes the held-out documents of the corpus `o` describes (text, doc_separator, seed,
/// eval_fraction: the same split as pretraining) to `path` as {"text"} lines, the first
/// `max_documents` of them in corpus order; returns how many. Written atomically; nothing is written
/// when there is none (eval_fraction 0).
int64_t write_heldout_documents(const PretrainOptions& o, const std::filesystem::path& path, int64_t max_documents);

}  // namespace retain
