#include "retain/data/batching.h"

#include "retain/core/error.h"
#include "retain/core/random.h"
#include "retain/data/prompt.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace retain {

namespace {

constexpr const char* kComponent = "data";

// Same words as seeded_rng({seed, epoch}): the seed and the epoch, each as two 32-bit halves.
std::mt19937_64 epoch_rng(uint64_t seed, int64_t epoch) { return seeded_rng({seed, static_cast<uint64_t>(epoch)}); }

PaddedIds pad(const std::vector<std::vector<int64_t>>& sequences, int64_t pad_token_id, bool left) {
  RETAIN_CHECK(!sequences.empty(), kComponent, "cannot pad an empty list of sequences");
  size_t longest = 0;
  for (const auto& s : sequences) longest = std::max(longest, s.size());
  const auto rows = static_cast<int64_t>(sequences.size()), columns = static_cast<int64_t>(longest);
  auto ids = at::full({rows, columns}, pad_token_id, at::kLong);
  auto mask = at::zeros({rows, columns}, at::kLong);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  for (int64_t r = 0; r < rows; ++r) {
    const auto& s = sequences[r];
    const int64_t offset = left ? columns - static_cast<int64_t>(s.size()) : 0;
    for (size_t i = 0; i < s.size(); ++i) {
      ids_a[r][offset + static_cast<int64_t>(i)] = s[i];
      mask_a[r][offset + static_cast<int64_t>(i)] = 1;
    }
  }
  return {ids, mask};
}

}  // namespace

std::vector<int64_t> special_prefix(const Tokenizer& tokenizer, const std::string& text) {
  const auto plain = tokenizer.encode(text, false);
  const auto with_special = tokenizer.encode(text, true);
  if (plain.empty()) return {};
  auto it = std::search(with_special.begin(), with_special.end(), plain.begin(), plain.end());
  RETAIN_CHECK(it != with_special.end(), kComponent,
               "the tokenizer's post-processor changes the text's own tokens (encode with special tokens does not "
               "contain encode without them), so the prompt's special prefix cannot be found");
  return {with_special.begin(), it};
}

TokenizedExample tokenize_example(const Tokenizer& tokenizer, const std::string& prompt, const std::string& target,
                                  const TokenizeOptions& options) {
  RETAIN_CHECK(options.eos_token_id.has_value(), kComponent,
               "TokenizeOptions::eos_token_id is not set; use the model config's (first) eos_token_id");
  const auto prefix = options.add_special_tokens ? special_prefix(tokenizer, prompt) : std::vector<int64_t>{};
  return assemble_example(prefix, tokenizer.encode(prompt, false), tokenizer.encode(target, false), options);
}

TokenizedExample assemble_example(const std::vector<int64_t>& prefix, std::vector<int64_t> body,
                                  std::vector<int64_t> answer, const TokenizeOptions& options) {
  RETAIN_CHECK(options.eos_token_id.has_value(), kComponent,
               "TokenizeOptions::eos_token_id is not set; use the model config's (first) eos_token_id");
  answer.push_back(*options.eos_token_id);
  const auto fixed = static_cast<int64_t>(prefix.size());
  RETAIN_CHECK(options.max_length >= fixed + 2, kComponent,
               "max_length {} cannot hold the special prefix ({} tokens), one prompt token and one target token",
               options.max_length, fixed);
  const auto total = fixed + static_cast<int64_t>(body.size() + answer.size());
  if (total > options.max_length) {
    const int64_t room_for_body = options.max_length - fixed - static_cast<int64_t>(answer.size());
    if (room_for_body >= 1) {
      body.erase(body.begin(), body.end() - std::min<int64_t>(room_for_body, static_cast<int64_t>(body.size())));
    } else {
      // The target alone is too long: keep the last prompt token and as much of the target as fits.
      if (!body.empty()) body.erase(body.begin(), body.end() - 1);
      answer.resize(static_cast<size_t>(options.max_length - fixed - static_cast<int64_t>(body.size())));
    }
  }
  TokenizedExample out;
  out.ids.reserve(prefix.size() + body.size() + answer.size());
  out.ids.insert(out.ids.end(), prefix.begin(), prefix.end());
  out.ids.insert(out.ids.end(), body.begin(), body.end());
  out.prompt_length = static_cast<int64_t>(out.ids.size());
  out.ids.insert(out.ids.end(), answer.begin(), answer.end());
  return out;
}

std::vector<int64_t> tokenize_prompt(const Tokenizer& tokenizer, const std::string& prompt,
                                     const TokenizeOptions& options) {
  auto ids = options.add_special_tokens ? special_prefix(tokenizer, prompt) : std::vector<int64_t>{};
  const auto fixed = static_cast<int64_t>(ids.size());
  RETAIN_CHECK(options.max_length >= fixed + 1, kComponent,
               "max_length {} cannot hold the special prefix ({} tokens) and one prompt token", options.max_length, fixed);
  const auto body = tokenizer.encode(prompt, false);
  const auto keep = std::min<int64_t>(static_cast<int64_t>(body.size()), options.max_length - fixed);
  ids.insert(ids.end(), body.end() - keep, body.end());
  return ids;
}

std::vector<TokenizedExample> tokenize_examples(const Tokenizer& tokenizer, const Task& task,
                                                const std::vector<Example>& examples, const TokenizeOptions& options) {
  std::vector<TokenizedExample> out;
  out.reserve(examples.size());
  for (const auto& example : examples)
    out.push_back(tokenize_example(tokenizer, format_prompt(task, example), format_target(task, example), options));
  return out;
}

Batch collate(const std::vector<TokenizedExample>& examples, const std::vector<int64_t>& indices,
              int64_t pad_token_id) {
  RETAIN_CHECK(!indices.empty(), kComponent, "cannot collate an empty batch");
  std::vector<std::vector<int64_t>> rows;
  rows.reserve(indices.size());
  for (const auto index : indices) {
    RETAIN_CHECK(index >= 0 && index < static_cast<int64_t>(examples.size()), kComponent,
                 "example index {} is out of range [0, {})", index, examples.size());
    rows.push_back(examples[index].ids);
  }
  auto padded = right_pad(rows, pad_token_id);
  auto labels = at::full(padded.input_ids.sizes(), kIgnoreIndex, at::kLong);
  auto labels_a = labels.accessor<int64_t, 2>();
  for (size_t r = 0; r < indices.size(); ++r) {
    const auto& example = examples[indices[r]];
    for (size_t i = static_cast<size_t>(example.prompt_length); i < example.ids.size(); ++i)
      labels_a[static_cast<int64_t>(r)][static_cast<int64_t>(i)] = example.ids[i];
  }
  return {padded.input_ids, padded.attention_mask, labels, indices};
}

PaddedIds left_pad(const std::vector<std::vector<int64_t>>& sequences, int64_t pad_token_id) {
  return pad(sequences, pad_token_id, true);
}

PaddedIds right_pad(const std::vector<std::vector<int64_t>>& sequences, int64_t pad_token_id) {
  return pad(sequences, pad_token_id, false);
}

BatchSampler::BatchSampler(std::vector<int64_t> lengths, BatchSamplerOptions options)
    : lengths_(std::move(lengths)), options_(options) {
  RETAIN_CHECK(options_.batch_size >= 1, kComponent, "batch_size must be at least 1, got {}", options_.batch_size);
  RETAIN_CHECK(options_.window_batches >= 1, kComponent, "window_batches must be at least 1, got {}",
               options_.window_batches);
}

int64_t BatchSampler::num_batches() const {
  const int64_t n = num_examples(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<std::vector<int64_t>> BatchSampler::batches(int64_t epoch) const {
  const auto n = static_cast<size_t>(num_examples());
  const auto batch_size = static_cast<size_t>(options_.batch_size);
  auto rng = epoch_rng(options_.seed, epoch);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (options_.shuffle) shuffle_in_place(order, rng);

  if (options_.group_by_length) {
    const size_t window = batch_size * static_cast<size_t>(options_.window_batches);
    for (size_t start = 0; start < n; start += window) {
      const auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(n, start + window));
      std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(start), end,
                       [&](int64_t a, int64_t b) { return lengths_[a] > lengths_[b]; });
    }
  }
  std::vector<std::vector<int64_t>> out;
  for (size_t start = 0; start < n; start += batch_size) {
    const size_t end = std::min(n, start + batch_size);
    if (end - start < batch_size && options_.drop_last) break;
    out.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start), order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  if (options_.shuffle && options_.group_by_length) shuffle_in_place(out, rng);
  return out;
}

double padding_fraction(const std::vector<std::vector<int64_t>>& batches, const std::vector<int64_t>& lengths) {
  double real = 0, padded = 0;
  for (const auto& batch : batches) {
    int64_t longest = 0;
    for (const auto i : batch) {
      real += static_cast<double>(lengths.at(i));
      longest = std::max(longest, lengths.at(i));
    }
    padded += static_cast<double>(longest) * static_cast<double>(batch.size());
  }
  return padded == 0 ? 0.0 : 1.0 - real / padded;
}

}  // namespace retain
