// retain/train/pretrain_token_cache.h — a pretraining run's token streams, cached in OUT/data/ so
// that --resume does not tokenize again.
//
// OUT/data/{train,eval}.bin hold the packed streams (pretrain_corpus.h) as uint16 when the
// vocabulary fits, else uint32; OUT/data/index.json holds the token and document counts and the key
// the cache was made from (input files with sha256, tokenizer sha256, bos/eos ids, doc_separator,
// eval_fraction, seed).
#pragma once

#include "retain/core/json.h"
#include "retain/tokenizer/tokenizer.h"
#include "retain/train/pretrain_options.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace retain {

struct PretrainCorpus {
  std::vector<int32_t> train, eval;  // the packed streams of the two splits
  int64_t train_documents = 0, eval_documents = 0;
  json files = json::array();  // {"path", "bytes", "sha256"} of every input file
};

/// The corpus `o` describes. With `use_cache`, OUT/data/ is read when its key matches (a cache made
/// from other data, tokenizer or split settings is an error naming the flags to keep); otherwise the
/// text is tokenized (o.threads) and the cache written. `note` receives one line saying which.
PretrainCorpus load_corpus(const PretrainOptions& o, const Tokenizer& tokenizer, int64_t bos, int64_t eos,
                           bool use_cache, const std::function<void(const std::string&)>& note);

}  // namespace retain
