#include "retain/train/pretrain.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/sha256.h"
#include "retain/core/torch_compat.h"
#include "retain/model/loader.h"
#include "retain/tokenizer/bpe_trainer.h"
#include "retain/tokenizer/unicode.h"
#include "retain/train/adamw.h"
#include "retain/train/resume.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>

namespace retain {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "pretrain";
constexpr const char* kDataFormat = "retain-pretrain-data-1";

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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

void validate(const PretrainOptions& o) {
  RETAIN_CHECK(o.steps >= 1, kComponent, "--steps must be at least 1, got {}", o.steps);
  RETAIN_CHECK(o.batch_size >= 1, kComponent, "--batch-size must be at least 1, got {}", o.batch_size);
  RETAIN_CHECK(o.seq_len >= 2, kComponent, "--seq-len must be at least 2, got {}", o.seq_len);
  RETAIN_CHECK(o.lr > 0, kComponent, "--lr must be > 0, got {}", o.lr);
  RETAIN_CHECK(o.warmup >= 0 && o.warmup <= o.steps, kComponent, "--warmup must be in [0, --steps = {}], got {}",
               o.steps, o.warmup);
  RETAIN_CHECK(o.min_lr_ratio >= 0 && o.min_lr_ratio <= 1, kComponent, "--min-lr-ratio must be in [0, 1], got {}",
               o.min_lr_ratio);
  RETAIN_CHECK(o.weight_decay >= 0, kComponent, "--weight-decay must be >= 0, got {}", o.weight_decay);
  RETAIN_CHECK(o.max_grad_norm >= 0, kComponent, "--max-grad-norm must be >= 0 (0: no clipping), got {}",
               o.max_grad_norm);
  RETAIN_CHECK(o.eval_fraction >= 0 && o.eval_fraction < 1, kComponent, "--eval-fraction must be in [0, 1), got {}",
               o.eval_fraction);
  RETAIN_CHECK(o.eval_every >= 0 && o.eval_batches >= 0 && o.checkpoint_every >= 0 && o.log_every >= 1, kComponent,
               "--eval-every, --eval-batches and --checkpoint-every must be >= 0 and --log-every >= 1");
}

// --- token cache: OUT/data/{train,eval}.bin + index.json ---

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

struct Corpus {
  std::vector<int32_t> train, eval;
  int64_t train_documents = 0, eval_documents = 0;
  json files = json::array();
};

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

Corpus build_corpus(const PretrainOptions& o, const Tokenizer& tokenizer, int64_t bos, int64_t eos, bool use_cache) {
  const auto files = list_text_files(o.text, kComponent);
  Corpus corpus;
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
      std::cerr << fmt::format("retain pretrain: token cache {} ({} train + {} held-out tokens)\n", dir.string(),
                               corpus.train.size(), corpus.eval.size());
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
  const auto split = split_documents(ids.size(), o.seed, o.eval_fraction);
  corpus.train = pack_stream(ids, split.train, static_cast<int32_t>(bos), static_cast<int32_t>(eos));
  corpus.eval = pack_stream(ids, split.eval, static_cast<int32_t>(bos), static_cast<int32_t>(eos));
  corpus.train_documents = static_cast<int64_t>(split.train.size());
  corpus.eval_documents = static_cast<int64_t>(split.eval.size());
  const double seconds = seconds_since(start);
  size_t bytes = 0;
  for (const auto& d : documents) bytes += d.size();
  std::cerr << fmt::format(
      "retain pretrain: {} documents ({:.1f} MB) -> {} train + {} held-out tokens ({} + {} documents) in {:.1f} s "
      "with {} threads\n",
      documents.size(), bytes / 1e6, corpus.train.size(), corpus.eval.size(), corpus.train_documents,
      corpus.eval_documents, seconds, threads);
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

// rows: (B, T + 1) windows of `stream`.
at::Tensor gather_windows(const std::vector<int32_t>& stream, const std::vector<int64_t>& windows, int64_t seq_len) {
  at::Tensor out = at::empty({static_cast<int64_t>(windows.size()), seq_len + 1}, at::kLong);
  int64_t* p = out.data_ptr<int64_t>();
  for (size_t r = 0; r < windows.size(); ++r) {
    const int32_t* src = stream.data() + windows[r] * seq_len;
    for (int64_t t = 0; t <= seq_len; ++t) *p++ = src[t];
  }
  return out;
}

struct StepLoss {
  at::Tensor sum;  // scalar float32
  int64_t tokens;
};

StepLoss window_loss(CausalLM& model, const at::Tensor& windows, const at::Device& device, bool autocast) {
  const int64_t seq_len = windows.size(1) - 1;
  at::Tensor batch = windows.to(device);
  at::Tensor inputs = batch.narrow(1, 0, seq_len), targets = batch.narrow(1, 1, seq_len);
  at::Tensor logits;
  {
    compat::AutocastGuard guard(autocast && device.is_cuda(), at::kBFloat16);
    ForwardInput input;
    input.input_ids = inputs;
    logits = model->forward(input);  // (B, T, V)
  }
  const int64_t vocab = logits.size(-1);
  at::Tensor sum =
      torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}).to(at::kFloat), targets.reshape(-1),
                                           torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  return {sum, targets.numel()};
}

double evaluate(CausalLM& model, const std::vector<int32_t>& stream, const PretrainOptions& o,
                const at::Device& device) {
  const int64_t windows = window_count(static_cast<int64_t>(stream.size()), o.seq_len);
  if (windows == 0) return std::nan("");
  int64_t limit = o.eval_batches > 0 ? std::min(windows, o.eval_batches * o.batch_size) : windows;
  torch::NoGradGuard no_grad;
  model->eval();
  double sum = 0;
  int64_t tokens = 0;
  for (int64_t begin = 0; begin < limit; begin += o.batch_size) {
    std::vector<int64_t> index;
    for (int64_t w = begin; w < std::min(limit, begin + o.batch_size); ++w) index.push_back(w);
    auto loss = window_loss(model, gather_windows(stream, index, o.seq_len), device, o.autocast_bf16);
    sum += loss.sum.item<double>();
    tokens += loss.tokens;
  }
  model->train();
  return sum / static_cast<double>(tokens);
}

json options_json(const PretrainOptions& o) {
  return {{"config", o.config.string()},
          {"tokenizer", o.tokenizer.string()},
          {"text", o.text},
          {"doc_separator", o.doc_separator},
          {"steps", o.steps},
          {"batch_size", o.batch_size},
          {"seq_len", o.seq_len},
          {"lr", o.lr},
          {"warmup", o.warmup},
          {"min_lr_ratio", o.min_lr_ratio},
          {"weight_decay", o.weight_decay},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"max_grad_norm", o.max_grad_norm},
          {"eval_fraction", o.eval_fraction},
          {"eval_every", o.eval_every},
          {"eval_batches", o.eval_batches},
          {"checkpoint_every", o.checkpoint_every},
          {"device", o.device},
          {"autocast", o.autocast_bf16 ? "bf16" : "none"},
          {"seed", o.seed},
          {"dtype_out", o.dtype_out}};
}

// What a resumed run must agree on with the run that wrote the checkpoint.
json resume_key(const json& options) {
  json key = options;
  for (const char* free : {"eval_every", "eval_batches", "checkpoint_every", "device", "dtype_out"}) key.erase(free);
  return key;
}

struct Optimizers {
  std::unique_ptr<AdamW> decay, no_decay;  // matrices; norms and biases (1-D)
  void step(double lr) {
    decay->set_lr(lr);
    no_decay->set_lr(lr);
    decay->step();
    no_decay->step();
  }
  void zero_grad() {
    decay->zero_grad();
    no_decay->zero_grad();
  }
  std::vector<std::pair<std::string, at::Tensor>> state() const {
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (auto& [n, t] : decay->state()) out.emplace_back("decay." + n, t);
    for (auto& [n, t] : no_decay->state()) out.emplace_back("no_decay." + n, t);
    return out;
  }
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& state, const at::Device& device) {
    std::vector<std::pair<std::string, at::Tensor>> a, b;
    for (const auto& [n, t] : state) {
      if (n.rfind("decay.", 0) == 0)
        a.emplace_back(n.substr(6), t.to(device));
      else if (n.rfind("no_decay.", 0) == 0)
        b.emplace_back(n.substr(9), t.to(device));
      else
        fail(kComponent, "checkpoint: unexpected optimizer entry \"{}\"", n);
    }
    decay->load_state(a);
    no_decay->load_state(b);
  }
};

std::string csv_number(double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : ""; }

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

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
  const auto split = split_documents(documents.size(), o.seed, o.eval_fraction);
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

int64_t window_count(int64_t tokens, int64_t seq_len) { return tokens <= seq_len ? 0 : (tokens - 1) / seq_len; }

std::vector<int64_t> batch_windows(int64_t step, int64_t batch_size, int64_t windows, uint64_t seed) {
  RETAIN_CHECK(windows > 0, kComponent, "no training windows");
  std::vector<int64_t> out;
  std::vector<int64_t> order;
  int64_t epoch = -1;
  for (int64_t k = step * batch_size; k < (step + 1) * batch_size; ++k) {
    const int64_t e = k / windows;
    if (e != epoch) {
      epoch = e;
      order.resize(static_cast<size_t>(windows));
      std::iota(order.begin(), order.end(), int64_t{0});
      uint64_t state = splitmix64(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
      for (int64_t i = windows - 1; i > 0; --i) {  // Fisher-Yates
        state = splitmix64(state);
        std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(state % static_cast<uint64_t>(i + 1))]);
      }
    }
    out.push_back(order[static_cast<size_t>(k % windows)]);
  }
  return out;
}

double pretrain_lr(int64_t step, int64_t total_steps, int64_t warmup, double peak, double min_ratio) {
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + std::cos(M_PI * progress)));
}

PretrainSummary pretrain(const PretrainOptions& given) {
  const auto wall_start = std::chrono::steady_clock::now();
  PretrainOptions o = given;
  if (o.warmup < 0) o.warmup = std::min<int64_t>(100, o.steps / 10);
  validate(o);
  const fs::path checkpoint_file = o.out / "checkpoint" / "state.safetensors";
  const bool have_checkpoint = fs::exists(checkpoint_file);
  if (!o.resume) {
    const bool occupied = fs::exists(o.out) && !(fs::is_directory(o.out) && fs::is_empty(o.out));
    RETAIN_CHECK(!occupied || o.overwrite, kComponent,
                 "{} exists and is not empty; pass --resume to continue its run or --overwrite to start over in it",
                 o.out.string());
  }
  const Tokenizer tokenizer = Tokenizer::from_file(o.tokenizer);
  auto special_id = [&](const std::string& token, const char* role) -> int64_t {
    auto id = tokenizer.token_to_id(token);
    RETAIN_CHECK(id.has_value(), kComponent, "{}: the {} token \"{}\" is not in the vocabulary", o.tokenizer.string(),
                 role, token);
    return *id;
  };
  const int64_t bos = special_id(o.bos_token, "bos"), eos = special_id(o.eos_token, "eos");
  const std::optional<int64_t> pad = tokenizer.token_to_id(o.pad_token);

  ModelConfig config = ModelConfig::from_file(o.config);
  RETAIN_CHECK(config.vocab_size >= tokenizer.vocab_size(), kComponent,
               "{}: vocab_size {} is smaller than the tokenizer's vocabulary ({}); set vocab_size to at least {}",
               o.config.string(), config.vocab_size, tokenizer.vocab_size(), tokenizer.vocab_size());
  RETAIN_CHECK(config.max_position_embeddings <= 0 || o.seq_len <= config.max_position_embeddings, kComponent,
               "--seq-len {} exceeds max_position_embeddings {} of {}", o.seq_len, config.max_position_embeddings,
               o.config.string());
  json raw = config.raw;
  raw["bos_token_id"] = bos;
  raw["eos_token_id"] = eos;
  if (pad) raw["pad_token_id"] = *pad;
  config = ModelConfig::from_json(raw, o.config.string());
  const at::Device device = parse_device(o.device);
  const at::ScalarType dtype_out = parse_dtype(o.dtype_out);

  std::optional<ResumePoint> point;
  if (o.resume && have_checkpoint) point = read_resume_point(checkpoint_file);
  if (o.resume && !have_checkpoint)
    std::cerr << "retain pretrain: no checkpoint in " << (o.out / "checkpoint").string() << "; starting at step 0\n";
  const json options = options_json(o);
  if (point) {
    const json saved = point->progress.value("options", json());
    const json a = resume_key(saved), b = resume_key(options);
    std::string differences;
    for (const auto& [key, value] : b.items()) {
      const json old = a.value(key, json());
      if (old != value)
        differences +=
            fmt::format("{}{} {} (this run: {})", differences.empty() ? "" : ", ", key, old.dump(), value.dump());
    }
    RETAIN_CHECK(a == b, kComponent,
                 "{}: the checkpoint was written with other settings: {}; resume with the same ones",
                 checkpoint_file.string(), differences);
  }
  fs::create_directories(o.out);
  if (!o.resume) {
    // Starting over (--overwrite): an old checkpoint or token cache must not be picked up later.
    remove_tree(o.out / "checkpoint");
    remove_tree(o.out / "data");
  }
  Corpus corpus = build_corpus(o, tokenizer, bos, eos, o.resume);
  const int64_t train_windows = window_count(static_cast<int64_t>(corpus.train.size()), o.seq_len);
  RETAIN_CHECK(train_windows > 0, kComponent,
               "the training split has {} tokens, too few for one window of --seq-len {} + 1; give more text",
               corpus.train.size(), o.seq_len);

  torch::manual_seed(o.seed);
  CausalLM model(config);
  init_weights(model, o.seed);
  model->to(device);
  model->train();
  std::vector<at::Tensor> matrices, vectors;
  for (auto& [name, p] : model->base_parameters()) (p.dim() >= 2 ? matrices : vectors).push_back(p);
  AdamWOptions adam;
  adam.lr = o.lr;
  adam.beta1 = o.beta1;
  adam.beta2 = o.beta2;
  adam.weight_decay = o.weight_decay;
  Optimizers optim;
  optim.decay = std::make_unique<AdamW>(matrices, adam);
  adam.weight_decay = 0;
  optim.no_decay = std::make_unique<AdamW>(vectors, adam);

  int64_t start_step = 0;
  json rows = json::array();  // loss.csv rows: {step, train_loss, eval_loss}
  double previous_seconds = 0;
  if (point) {
    load_model_state(model, point->model, checkpoint_file.string());
    optim.load_state(point->training.optimizer, device);
    start_step = point->training.steps_done;
    rows = point->progress.value("rows", json::array());
    previous_seconds = point->progress.value("train_seconds", 0.0);
    std::cerr << fmt::format("retain pretrain: resuming at step {} of {}\n", start_step, o.steps);
  }

  // metrics.jsonl: keep what the checkpoint covers, then append.
  const fs::path metrics_path = o.out / "metrics.jsonl";
  {
    std::string kept;
    if (point && fs::exists(metrics_path)) {
      std::istringstream lines(read_file(metrics_path, kComponent));
      for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        json record = json::parse(line, nullptr, false);
        if (!record.is_discarded() && record.value("step", int64_t{-1}) <= start_step) kept += line + "\n";
      }
    }
    write_file_atomic(metrics_path, kept, kComponent);
  }
  std::ofstream metrics(metrics_path, std::ios::app);

  std::vector<double> recent;  // train losses since the last evaluation (for loss.csv)
  std::vector<double> tail;    // the last log_every losses (for the progress line)
  std::vector<double> last10;  // the last 10 losses (the summary's final train loss)
  double eval_loss = std::nan("");
  if (point) {
    recent = point->progress.value("recent", std::vector<double>());
    last10 = point->progress.value("last10", std::vector<double>());
  }
  auto write_loss_csv = [&] {
    std::string csv = "step,train_loss,eval_loss\n";
    for (const auto& r : rows)
      csv += fmt::format("{},{},{}\n", r.at("step").get<int64_t>(), csv_number(r.value("train_loss", std::nan(""))),
                         r.at("eval_loss").is_null() ? "" : csv_number(r.at("eval_loss").get<double>()));
    write_file_atomic(o.out / "loss.csv", csv, kComponent);
  };
  auto save_checkpoint = [&](int64_t steps_done, double train_seconds) {
    ResumePoint cp;
    cp.progress = {
        {"format", "retain-pretrain-1"}, {"options", options}, {"rows", rows}, {"recent", recent}, {"last10", last10},
        {"train_seconds", train_seconds}};
    cp.model = model_state(model, model_state_names(model), true);
    cp.training.steps_done = steps_done;
    cp.training.optimizer = optim.state();
    cp.training.rng.emplace_back("cpu", at::globalContext().defaultGenerator(at::kCPU).get_state());
    write_resume_point(checkpoint_file, cp);
    save_model(o.out / "checkpoint" / "model", model, at::kFloat);
  };

  const int64_t tokens_per_step = o.batch_size * o.seq_len;
  const auto train_start = std::chrono::steady_clock::now();
  auto window_start = train_start;
  int64_t window_steps = 0;
  for (int64_t step = start_step; step < o.steps; ++step) {
    const at::Tensor windows =
        gather_windows(corpus.train, batch_windows(step, o.batch_size, train_windows, o.seed), o.seq_len);
    StepLoss loss = window_loss(model, windows, device, o.autocast_bf16);
    at::Tensor mean = loss.sum / static_cast<double>(loss.tokens);
    mean.backward();
    double grad_norm = 0;
    {
      std::vector<at::Tensor> params = matrices;
      params.insert(params.end(), vectors.begin(), vectors.end());
      grad_norm = torch::nn::utils::clip_grad_norm_(
          params, o.max_grad_norm > 0 ? o.max_grad_norm : std::numeric_limits<double>::infinity());
    }
    const double lr = pretrain_lr(step, o.steps, o.warmup, o.lr, o.min_lr_ratio);
    optim.step(lr);
    optim.zero_grad();
    const double value = mean.item<double>();
    RETAIN_CHECK(std::isfinite(value), kComponent, "step {}: the loss is {} (lower --lr or use --autocast none)",
                 step + 1, value);
    recent.push_back(value);
    tail.push_back(value);
    if (static_cast<int64_t>(tail.size()) > o.log_every) tail.erase(tail.begin());
    last10.push_back(value);
    if (last10.size() > 10) last10.erase(last10.begin());
    ++window_steps;
    const int64_t done = step + 1;
    const double step_seconds = seconds_since(window_start) / static_cast<double>(window_steps);
    metrics << json{{"step", done},
                    {"loss", value},
                    {"lr", lr},
                    {"grad_norm", grad_norm},
                    {"tokens_per_s", tokens_per_step / std::max(step_seconds, 1e-9)}}
                   .dump()
            << '\n';
    if (done % o.log_every == 0 || done == o.steps) {
      const double mean_tail = std::accumulate(tail.begin(), tail.end(), 0.0) / static_cast<double>(tail.size());
      std::cerr << fmt::format("step {:>6}/{}  loss {:.4f}  lr {:.2e}  grad {:.2f}  {:.0f} tok/s\n", done, o.steps,
                               mean_tail, lr, grad_norm, tokens_per_step / std::max(step_seconds, 1e-9));
      window_start = std::chrono::steady_clock::now();
      window_steps = 0;
    }
    const bool eval_now = (o.eval_every > 0 && done % o.eval_every == 0) || done == o.steps;
    if (eval_now) {
      eval_loss = evaluate(model, corpus.eval, o, device);
      const double train_mean = std::accumulate(recent.begin(), recent.end(), 0.0) / static_cast<double>(recent.size());
      recent.clear();
      rows.push_back({{"step", done}, {"train_loss", train_mean}, {"eval_loss", finite_or_null(eval_loss)}});
      metrics << json{{"step", done},
                      {"eval_loss", finite_or_null(eval_loss)},
                      {"eval_perplexity", finite_or_null(std::exp(eval_loss))}}
                     .dump()
              << '\n';
      if (std::isfinite(eval_loss))
        std::cerr << fmt::format("step {:>6}/{}  held-out loss {:.4f}  perplexity {:.2f}\n", done, o.steps, eval_loss,
                                 std::exp(eval_loss));
      write_loss_csv();
    }
    metrics.flush();
    if (o.checkpoint_every > 0 && done % o.checkpoint_every == 0 && done < o.steps)
      save_checkpoint(done, previous_seconds + seconds_since(train_start));
  }
  const double train_seconds = seconds_since(train_start);
  if (start_step >= o.steps) {
    // Nothing left to train (resumed a finished run): evaluate once for the summary.
    eval_loss = evaluate(model, corpus.eval, o, device);
  }

  // The model folder: config.json + model.safetensors (save_model), tokenizer, generation config.
  model->eval();
  save_model(o.out, model, dtype_out);
  write_file_atomic(o.out / "tokenizer.json", read_file(o.tokenizer, kComponent), kComponent);
  json generation = {{"bos_token_id", bos}, {"eos_token_id", eos}};
  if (pad) generation["pad_token_id"] = *pad;
  write_file_atomic(o.out / "generation_config.json", generation.dump(2) + "\n", kComponent);

  PretrainSummary summary;
  summary.steps = o.steps;
  summary.train_tokens = static_cast<int64_t>(corpus.train.size());
  summary.eval_tokens = static_cast<int64_t>(corpus.eval.size());
  summary.final_train_loss =
      last10.empty() ? std::nan("")
                     : std::accumulate(last10.begin(), last10.end(), 0.0) / static_cast<double>(last10.size());
  summary.eval_loss = eval_loss;
  summary.eval_perplexity = std::exp(eval_loss);
  summary.seconds = seconds_since(wall_start);
  const int64_t trained = o.steps - std::min(o.steps, start_step);
  summary.tokens_per_second = trained > 0 ? static_cast<double>(trained * tokens_per_step) / train_seconds : 0;

  json report = {{"format", "retain-pretrain-1"},
                 {"command_line", o.command_line},
                 {"retain_version", RETAIN_VERSION},
                 {"libtorch_version", compat::torch_version()},
                 {"device", device.str()},
                 {"options", options},
                 {"model", {{"model_type", config.model_type}, {"parameters", config.parameter_count()}}},
                 {"bos_token_id", bos},
                 {"eos_token_id", eos},
                 {"data",
                  {{"files", corpus.files},
                   {"train_documents", corpus.train_documents},
                   {"eval_documents", corpus.eval_documents},
                   {"train_tokens", summary.train_tokens},
                   {"eval_tokens", summary.eval_tokens},
                   {"train_windows", train_windows},
                   {"epochs", static_cast<double>(o.steps * o.batch_size) / static_cast<double>(train_windows)}}},
                 {"steps", o.steps},
                 {"resumed_at_step", start_step},
                 {"tokens_seen", o.steps * tokens_per_step},
                 {"final_train_loss", finite_or_null(summary.final_train_loss)},  // mean of the last 10 steps
                 {"eval_loss", finite_or_null(summary.eval_loss)},
                 {"eval_perplexity", finite_or_null(summary.eval_perplexity)},
                 {"train_seconds", previous_seconds + train_seconds},
                 {"wall_seconds", summary.seconds},
                 {"tokens_per_second", summary.tokens_per_second}};
  if (o.general_text_documents > 0)
    report["general_text_documents"] = write_heldout_documents(o, o.out / "general_text.jsonl", o.general_text_documents);
  write_file_atomic(o.out / "pretrain.json", report.dump(2) + "\n", kComponent);
  return summary;
}

}  // namespace retain
