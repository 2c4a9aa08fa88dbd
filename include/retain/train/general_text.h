// retain/train/general_text.h — general ability kept: the language-modelling loss of held-out general
// text, measured before any task (row 0) and after every task, with the model as each method leaves
// it for inference. The papers measure general ability with benchmarks (MMLU, GSM8K, ...) that cannot
// be downloaded here; this is the offline proxy. For retain's own models the text is the pretraining
// corpus's held-out documents (MODEL/general_text.jsonl); any file can be given (eval.general_text).
#pragma once

#include "retain/model/causal_lm.h"
#include "retain/tokenizer/tokenizer.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace retain {

/// The text to score, cut into windows.
struct GeneralText {
  std::filesystem::path source;
  std::vector<std::vector<int64_t>> windows;  // each n + 1 ids: n inputs, each predicting the next id
  int64_t tokens = 0;                         // predicted tokens over all windows
  int64_t documents = 0;                      // documents read (some perhaps only in part)
};

/// eval.general_text for a run on `model_dir`: "off" → none; "auto" → model_dir/general_text.jsonl
/// when it exists and is not empty, else none; anything else a file that must exist (an error names it otherwise).
std::optional<std::filesystem::path> resolve_general_text(const std::string& setting,
                                                          const std::filesystem::path& model_dir);

/// The documents of `path`: a .jsonl file holds one {"text": "..."} object per line; any other file
/// one document per non-blank line. Errors name the file and line; a file without a document is one.
std::vector<std::string> read_general_documents(const std::filesystem::path& path);

/// The documents as one stream — the tokenizer's special prefix (BOS) + text ids + `eos_token_id`
/// each, as `retain pretrain` packs them — cut into consecutive windows of `window` + 1 ids
/// (overlapping by one), until `max_tokens` predicted tokens (the last window may be shorter).
GeneralText prepare_general_text(const Tokenizer& tokenizer, const std::vector<std::string>& documents,
                                 int64_t eos_token_id, int64_t window, int64_t max_tokens);

/// Mean next-token cross-entropy (nats per token) over every window, `batch_size` windows per forward,
/// under no_grad. A routed model routes each window on all of its tokens.
double general_text_loss(CausalLM& model, const GeneralText& text, int64_t batch_size);

}  // namespace retain
