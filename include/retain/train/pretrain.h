// retain/train/pretrain.h — causal-LM pretraining of a model from random initialisation (`retain
// pretrain`): text → token ids → packed sequences → AdamW with warm-up + cosine → a Hugging Face
// model folder.
//
// Data. Every input file is read as UTF-8: a `.jsonl` file gives one document per line (its "text"
// field); any other file is one document, or several when `doc_separator` is set (e.g. "\n\n" or
// "<|endoftext|>"). Each document is encoded without special tokens and framed as
// [bos] ids [eos]; the documents are concatenated into one stream per split. The held-out split is
// chosen per document (a hash of the seed and the document's index, so it is deterministic and
// independent of the thread count), and no document is in both splits. A split's stream of N tokens
// gives (N − 1) / T windows of T + 1 tokens, window i starting at token i·T: inputs are its first T
// tokens, targets its last T, so every token is predicted exactly once (the last partial window is
// dropped). The token ids are cached in OUT/data/{train,eval}.bin (uint16 when the vocabulary fits,
// else uint32) with OUT/data/index.json, so that --resume does not tokenize again.
//
// Training. Window order: a fresh permutation per epoch, seeded by (seed, epoch), so the batch of a
// step is a function of the step alone and a resumed run sees the same data. Loss: mean next-token
// cross-entropy. Learning rate: linear warm-up to `lr` over `warmup` steps, then half a cosine down
// to `lr · min_lr_ratio` at `steps`. Gradients clipped to `max_grad_norm`. Optional bf16 autocast
// (CUDA). Checkpoints (OUT/checkpoint/state.safetensors: weights, AdamW state, RNG and progress, one
// atomic file; plus a loadable model folder OUT/checkpoint/model) every `checkpoint_every` steps;
// `resume` continues from it and gives bitwise the weights of an uninterrupted run on the CPU.
//
// Outputs: OUT/config.json (the given config with bos/eos/pad ids of the tokenizer),
// OUT/model.safetensors (`dtype_out`), OUT/tokenizer.json (copy), OUT/generation_config.json,
// OUT/pretrain.json (command line, version, data files with sha256, token counts, losses, wall time,
// device), OUT/metrics.jsonl (one record per step and per evaluation), OUT/loss.csv, and
// OUT/general_text.jsonl: the first `general_text_documents` held-out documents as {"text"} lines,
// which `retain run` scores as the model's general text (train/general_text.h).
#pragma once

#include "retain/core/json.h"
#include "retain/tokenizer/tokenizer.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace retain {

struct PretrainOptions {
  std::filesystem::path config;     // Hugging Face config.json (the architecture)
  std::filesystem::path tokenizer;  // tokenizer.json
  std::vector<std::string> text;    // files or folders
  std::filesystem::path out;
  std::string doc_separator;  // empty: one document per file (per line for .jsonl)
  std::string bos_token = "<s>", eos_token = "</s>", pad_token = "<pad>";  // pad may be absent
  int64_t steps = 1000;
  int64_t batch_size = 16;
  int64_t seq_len = 256;
  double lr = 1e-3;
  int64_t warmup = -1;  // -1: min(100, steps / 10)
  double min_lr_ratio = 0.1;
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95;
  double max_grad_norm = 1.0;
  double eval_fraction = 0.01;     // of the documents (at least one document when > 0)
  int64_t eval_every = 200;        // 0: only at the end
  int64_t eval_batches = 20;       // batches of the held-out split per evaluation (0: all of it)
  int64_t checkpoint_every = 500;  // 0: never
  int64_t log_every = 10;
  std::string device = "cpu";
  bool autocast_bf16 = false;
  uint64_t seed = 0;
  bool resume = false;
  bool overwrite = false;  // allow an OUT that holds files but no checkpoint
  std::string dtype_out = "float32";
  int threads = 0;                        // tokenization threads (0: all cores)
  int64_t general_text_documents = 2000;  // held-out documents copied to OUT/general_text.jsonl (0: none)
  bool general_text_only = false;         // write OUT/general_text.jsonl only, no training
  std::vector<std::string> command_line;  // recorded in pretrain.json
};

/// One document's token ids (without bos/eos).
using Document = std::vector<int32_t>;

/// Reads the documents of `files` (see the header comment); errors name the file and line.
std::vector<std::string> read_documents(const std::vector<std::filesystem::path>& files,
                                        const std::string& doc_separator);

/// Writes the held-out documents of the corpus `o` describes (text, doc_separator, seed,
/// eval_fraction: the same split as pretraining) to `path` as {"text"} lines, the first
/// `max_documents` of them in corpus order; returns how many. Written atomically; nothing is written
/// when there is none (eval_fraction 0).
int64_t write_heldout_documents(const PretrainOptions& o, const std::filesystem::path& path, int64_t max_documents);

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

/// Number of windows of seq_len + 1 tokens with stride seq_len in a stream of `tokens` tokens.
int64_t window_count(int64_t tokens, int64_t seq_len);

/// Window indices of optimizer step `step`: batch_size windows of the epoch-wise permutations.
std::vector<int64_t> batch_windows(int64_t step, int64_t batch_size, int64_t windows, uint64_t seed);

/// Learning rate at `step` (0-based): warm-up, then cosine from `peak` to `peak · min_ratio`.
double pretrain_lr(int64_t step, int64_t total_steps, int64_t warmup, double peak, double min_ratio);

struct PretrainSummary {
  int64_t steps = 0;
  int64_t train_tokens = 0, eval_tokens = 0;
  double final_train_loss = 0;
  double eval_loss = 0, eval_perplexity = 0;
  double seconds = 0;
  double tokens_per_second = 0;
};

/// Runs the whole thing; writes OUT as described above. Errors leave earlier outputs intact.
PretrainSummary pretrain(const PretrainOptions& options);

}  // namespace retain
