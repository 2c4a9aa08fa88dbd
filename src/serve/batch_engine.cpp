#include "retain/serve/batch_engine.h"

#include "retain/core/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <random>

namespace retain::serve {

namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD: a decoded incomplete UTF-8 character

double seconds_between(Sequence::Clock::time_point a, Sequence::Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

/// The longest suffix of `text` that is a proper prefix of one of `stops`.
size_t held_for_stops(const std::string& text, const std::vector<std::string>& stops) {
  size_t held = 0;
  for (const auto& stop : stops)
    for (size_t k = std::min(stop.size() - 1, text.size()); k > held; --k)
      if (text.compare(text.size() - k, k, stop, 0, k) == 0) {
        held = k;
        break;
      }
  return held;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Sequence

Sequence::View Sequence::view() {
  std::lock_guard lock(mutex_);
  return view_;
}

Sequence::View Sequence::wait(size_t seen_stable, size_t seen_logprobs, bool seen_routed, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] {
    return view_.finished || view_.stable != seen_stable || view_.logprobs.size() != seen_logprobs ||
           view_.routed != seen_routed;
  });
  return view_;
}

// ---------------------------------------------------------------------------------------------------
// BatchEngine

struct BatchEngine::Row {
  explicit Row(std::shared_ptr<Sequence> s) : seq(std::move(s)) {}
  std::shared_ptr<Sequence> seq;
  RouteChoice route;  // as the prefill chose it
  int64_t last = 0;  // the token to feed next
  at::Generator generator = {};
  bool done = false;
};

BatchEngine::BatchEngine(ServedModel& model, EngineOptions options, Metrics& metrics)
    : model_(model), options_(options), metrics_(metrics) {
  RETAIN_CHECK(options_.max_batch >= 1 && options_.max_queue >= 1, "serve", "--max-batch and --max-queue must be >= 1");
  thread_ = std::thread([this] { loop(); });
}

BatchEngine::~BatchEngine() { shutdown(0); }

int64_t BatchEngine::waiting() const {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(waiting_.size());
}

std::vector<std::shared_ptr<Sequence>> BatchEngine::submit(std::vector<SequenceParams> params) {
  std::vector<std::shared_ptr<Sequence>> out;
  for (auto& p : params) out.push_back(std::make_shared<Sequence>(std::move(p)));
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) throw ApiError(503, "the server is shutting down", "", "shutting_down", "server_error");
    if (static_cast<int64_t>(waiting_.size() + out.size()) > options_.max_queue)
      throw ApiError(503,
                     fmt::format("the queue is full ({} sequences waiting, --max-queue {}); retry later", waiting_.size(),
                                 options_.max_queue),
                     "", "queue_full", "server_error");
    for (auto& s : out) waiting_.push_back(s);
  }
  wake_.notify_all();
  return out;
}

void BatchEngine::shutdown(double seconds) {
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;
  const auto deadline = Sequence::Clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (waiting_.empty() && admitting_ == 0 && running_ == 0) break;
    }
    if (Sequence::Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void BatchEngine::loop() {
  torch::NoGradGuard no_grad;
  while (true) {
    std::vector<std::shared_ptr<Sequence>> admitted;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !rows_.empty() || !waiting_.empty(); });
      if (stop_) break;
      while (!waiting_.empty() && static_cast<int64_t>(rows_.size() + admitted.size()) < options_.max_batch) {
        admitted.push_back(waiting_.front());
        waiting_.pop_front();
      }
      admitting_ = static_cast<int64_t>(admitted.size());
    }
    try {
      std::vector<std::shared_ptr<Sequence>> live;
      for (auto& s : admitted) {
        if (s->cancelled) {
          Row gone{s};
          finish(gone, "cancelled");
        } else {
          live.push_back(s);
        }
      }
      if (!live.empty()) admit(std::move(live));
      {
        std::lock_guard lock(mutex_);
        admitting_ = 0;  // in rows_ (counted by running_) or finished
      }
      if (!rows_.empty()) decode_step();
      drop_finished();
    } catch (const std::exception& e) {
      // A failure of the model fails the sequences in the batch, never the server.
      for (auto& row : rows_)
        if (!row.done) finish(row, "error", e.what());
      rows_.clear();
      cache_.reset();
      running_ = 0;
      std::lock_guard lock(mutex_);
      admitting_ = 0;
    }
  }
  // Shutting down: whatever is left is cancelled.
  for (auto& row : rows_)
    if (!row.done) finish(row, "cancelled");
  rows_.clear();
  std::lock_guard lock(mutex_);
  for (auto& s : waiting_) {
    Row gone{s};
    finish(gone, "cancelled");
  }
  waiting_.clear();
  running_ = 0;
}

void BatchEngine::finish(Row& row, const std::string& reason, const std::string& error) {
  row.done = true;
  auto& s = *row.seq;
  {
    std::lock_guard lock(s.mutex_);
    s.view_.finished = true;
    s.view_.finish_reason = reason;
    s.view_.error = error;
    s.view_.stable = s.view_.text.size();
  }
  s.changed_.notify_all();
  metrics_.finished(reason);
  metrics_.e2e_latency(seconds_between(s.arrived, Sequence::Clock::now()));
}

bool BatchEngine::take_token(Row& row, const at::Tensor& logits_row) {
  auto& s = *row.seq;
  const auto& p = s.params;
  const auto logits = logits_row.unsqueeze(0);
  const int64_t id = p.sampling.do_sample ? choose_next_tokens(logits, p.sampling, row.generator).item<int64_t>()
                                          : logits_row.argmax(-1).item<int64_t>();
  std::optional<TokenLogprob> lp;
  if (p.top_logprobs >= 0) {
    const auto logp = at::log_softmax(logits_row.to(at::kFloat), -1).to(at::kCPU);
    TokenLogprob t;
    t.token = model_.tokenizer.decode({id}, false);
    t.logprob = logp[id].item<double>();
    if (p.top_logprobs > 0) {
      auto [values, indices] = logp.topk(p.top_logprobs);
      for (int64_t k = 0; k < p.top_logprobs; ++k)
        t.top.emplace_back(model_.tokenizer.decode({indices[k].item<int64_t>()}, false), values[k].item<double>());
    }
    lp = std::move(t);
  }
  const auto now = Sequence::Clock::now();
  s.ids_.push_back(id);
  metrics_.add_generation_tokens(1);
  if (s.ids_.size() == 1)
    metrics_.time_to_first_token(seconds_between(s.arrived, now));
  else
    metrics_.inter_token_latency(seconds_between(s.last_token_, now));
  s.last_token_ = now;

  const auto& eos = model_.generation.eos_token_ids;
  const bool is_eos = std::find(eos.begin(), eos.end(), id) != eos.end();
  std::string text = model_.tokenizer.decode(s.ids_, /*skip_special_tokens=*/true);
  std::string reason;
  size_t cut = std::string::npos;
  for (const auto& stop : p.stop) {
    const size_t at = text.find(stop);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    text.resize(cut);
    reason = "stop";
  } else if (is_eos) {
    reason = "stop";
  } else if (static_cast<int64_t>(s.ids_.size()) >= p.max_tokens) {
    reason = "length";
  }
  {
    std::lock_guard lock(s.mutex_);
    s.view_.text = text;
    s.view_.tokens = static_cast<int64_t>(s.ids_.size());
    if (lp) s.view_.logprobs.push_back(std::move(*lp));
    if (reason.empty()) {
      size_t stable = text.size() - held_for_stops(text, p.stop);
      while (stable >= 3 && text.compare(stable - 3, 3, kReplacement) == 0) stable -= 3;
      s.view_.stable = std::max(s.view_.stable, std::min(stable, text.size()));
    }
  }
  s.changed_.notify_all();
  row.last = id;
  if (!reason.empty()) {
    finish(row, reason);
    return false;
  }
  return true;
}

void BatchEngine::admit(std::vector<std::shared_ptr<Sequence>> seqs) {
  const auto& config = model_.model->config;
  const auto weight = model_.model->model->embed_tokens->weight;
  const auto device = weight.device();
  const int64_t b = static_cast<int64_t>(seqs.size());
  int64_t width = 0;
  for (auto& s : seqs) width = std::max<int64_t>(width, static_cast<int64_t>(s->params.prompt.size()));
  auto ids = at::full({b, width}, model_.generation.pad_token_id, at::kLong);
  auto mask = at::zeros({b, width}, at::kLong);
  std::vector<int64_t> requested;
  for (int64_t r = 0; r < b; ++r) {
    const auto& prompt = seqs[r]->params.prompt;
    const int64_t offset = width - static_cast<int64_t>(prompt.size());
    std::copy(prompt.begin(), prompt.end(), ids[r].data_ptr<int64_t>() + offset);
    mask[r].narrow(0, offset, static_cast<int64_t>(prompt.size())).fill_(1);
    requested.push_back(seqs[r]->params.route);
    metrics_.add_prompt_tokens(static_cast<int64_t>(prompt.size()));
  }
  mask = mask.to(device);
  KVCache fresh(config.num_hidden_layers, b, config.num_key_value_heads, width, config.head_dim, weight.options());
  model_.prepare_prefill(requested);
  const auto logits = model_.model->forward({ids.to(device), mask, {}, &fresh}).select(1, -1);
  const auto choices = model_.take_choices();

  std::vector<Row> fresh_rows;
  std::vector<int64_t> keep;
  for (int64_t r = 0; r < b; ++r) {
    Row row{seqs[r]};
    row.route = choices[r];
    const auto& sampling = seqs[r]->params.sampling;
    row.generator = at::make_generator<at::CPUGeneratorImpl>(sampling.seed);
    {
      std::lock_guard lock(row.seq->mutex_);
      row.seq->view_.routed = true;
      row.seq->view_.route = choices[r];
    }
    metrics_.routed(choices[r].name, choices[r].routed_by);
    if (take_token(row, logits[r])) {
      keep.push_back(r);
      fresh_rows.push_back(std::move(row));
    }
  }
  if (keep.empty()) return;

  // Merge: both caches left-padded to a common length, room for every row's remaining tokens.
  const int64_t old_rows = static_cast<int64_t>(rows_.size());
  const int64_t old_length = cache_ ? cache_->length : 0;
  const int64_t length = std::max(old_length, width);
  int64_t room = 1;
  for (auto* rows : {&rows_, &fresh_rows})
    for (auto& row : *rows)
      room = std::max<int64_t>(room, row.seq->params.max_tokens - static_cast<int64_t>(row.seq->ids_.size()) + 1);
  const int64_t capacity = length + room;
  const int64_t total = old_rows + static_cast<int64_t>(keep.size());
  auto merged = std::make_unique<KVCache>(config.num_hidden_layers, total, config.num_key_value_heads, capacity,
                                          config.head_dim, weight.options());
  auto merged_mask = at::zeros({total, capacity}, at::TensorOptions().dtype(at::kLong).device(device));
  const auto keep_index = at::tensor(keep, at::kLong).to(device);
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    if (old_rows > 0) {
      merged->keys[layer].narrow(0, 0, old_rows).narrow(2, length - old_length, old_length)
          .copy_(cache_->keys[layer].narrow(2, 0, old_length));
      merged->values[layer].narrow(0, 0, old_rows).narrow(2, length - old_length, old_length)
          .copy_(cache_->values[layer].narrow(2, 0, old_length));
    }
    merged->keys[layer].narrow(0, old_rows, keep.size()).narrow(2, length - width, width)
        .copy_(fresh.keys[layer].index_select(0, keep_index));
    merged->values[layer].narrow(0, old_rows, keep.size()).narrow(2, length - width, width)
        .copy_(fresh.values[layer].index_select(0, keep_index));
  }
  if (old_rows > 0)
    merged_mask.narrow(0, 0, old_rows).narrow(1, length - old_length, old_length).copy_(mask_.narrow(1, 0, old_length));
  merged_mask.narrow(0, old_rows, keep.size()).narrow(1, length - width, width).copy_(mask.index_select(0, keep_index));
  merged->length = length;
  cache_ = std::move(merged);
  mask_ = merged_mask;
  for (auto& row : fresh_rows) rows_.push_back(std::move(row));
  running_ = static_cast<int64_t>(rows_.size());
}

void BatchEngine::decode_step() {
  const int64_t b = static_cast<int64_t>(rows_.size());
  const int64_t column = cache_->length;
  RETAIN_CHECK(column < cache_->capacity, "serve", "the batch's KV cache is full ({} positions)", cache_->capacity);
  std::vector<int64_t> last;
  std::vector<RouteChoice> routes;
  for (auto& row : rows_) {
    last.push_back(row.last);
    routes.push_back(row.route);
  }
  const auto device = mask_.device();
  mask_.select(1, column).fill_(1);
  model_.set_decode_routes(routes);
  const auto input = at::tensor(last, at::kLong).view({b, 1}).to(device);
  const auto logits = model_.model->forward({input, mask_.narrow(1, 0, column + 1), {}, cache_.get()}).select(1, -1);
  for (int64_t r = 0; r < b; ++r) {
    auto& row = rows_[r];
    if (row.seq->cancelled) {
      finish(row, "cancelled");
      continue;
    }
    take_token(row, logits[r]);
  }
}

void BatchEngine::drop_finished() {
  std::vector<int64_t> keep;
  for (size_t r = 0; r < rows_.size(); ++r) {
    if (!rows_[r].done && rows_[r].seq->cancelled) finish(rows_[r], "cancelled");
    if (!rows_[r].done) keep.push_back(static_cast<int64_t>(r));
  }
  if (keep.size() == rows_.size()) return;
  std::vector<Row> kept;
  for (auto r : keep) kept.push_back(std::move(rows_[r]));
  rows_ = std::move(kept);
  running_ = static_cast<int64_t>(rows_.size());
  if (rows_.empty()) {
    cache_.reset();
    mask_ = at::Tensor();
    return;
  }
  // Free the finished rows' cache now, and the leading columns no remaining row uses.
  const auto device = mask_.device();
  const auto index = at::tensor(keep, at::kLong).to(device);
  auto mask = mask_.index_select(0, index);
  const auto used = mask.narrow(1, 0, cache_->length).sum(0).gt(0).to(at::kCPU);
  const auto nonzero = used.nonzero();
  const int64_t first = nonzero.numel() > 0 ? nonzero[0][0].item<int64_t>() : cache_->length;
  const int64_t capacity = cache_->capacity - first;
  for (size_t layer = 0; layer < cache_->keys.size(); ++layer) {
    cache_->keys[layer] = cache_->keys[layer].index_select(0, index).narrow(2, first, capacity).contiguous();
    cache_->values[layer] = cache_->values[layer].index_select(0, index).narrow(2, first, capacity).contiguous();
  }
  mask_ = mask.narrow(1, first, capacity).contiguous();
  cache_->length -= first;
  cache_->capacity = capacity;
}

}  // namespace retain::serve
