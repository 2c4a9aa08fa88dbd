#include "retain/train/pretrain.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/torch_compat.h"
#include "retain/model/loader.h"
#include "retain/train/adamw.h"
#include "retain/train/pretrain_corpus.h"
#include "retain/train/pretrain_token_cache.h"
#include "retain/train/pretrain_windows.h"
#include "retain/train/resume.h"
#include "retain/train/schedule.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

namespace retain {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "pretrain";
// Checkpoints and pretrain.json. 2: window order by random_permutation, the shared schedule's
// warm-up, one AdamW with two groups (flat state names), the options from PretrainOptions::visit.
constexpr const char* kFormat = "retain-pretrain-2";

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string csv_number(double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : ""; }

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

double mean_of(const std::vector<double>& values) {
  return values.empty() ? std::nan("")
                        : std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// The config of `o` with the tokenizer's special ids.
ModelConfig model_config(const PretrainOptions& o, const Tokenizer& tokenizer, int64_t bos, int64_t eos,
                         std::optional<int64_t> pad) {
  ModelConfig config = ModelConfig::from_file(o.config);
  RETAIN_CHECK(config.vocab_size >= tokenizer.vocab_size(), kComponent,
               "{}: vocab_size {} is smaller than the tokenizer's vocabulary ({}); set vocab_size to at least {}",
               o.config, config.vocab_size, tokenizer.vocab_size(), tokenizer.vocab_size());
  RETAIN_CHECK(config.max_position_embeddings <= 0 || o.seq_len <= config.max_position_embeddings, kComponent,
               "--seq-len {} exceeds max_position_embeddings {} of {}", o.seq_len, config.max_position_embeddings,
               o.config);
  json raw = config.raw;
  raw["bos_token_id"] = bos;
  raw["eos_token_id"] = eos;
  if (pad) raw["pad_token_id"] = *pad;
  return ModelConfig::from_json(raw, o.config);
}

// A resumed run must be the run that wrote the checkpoint: same format, same settings.
void check_resumable(const ResumePoint& point, const json& options, const fs::path& file) {
  const std::string format = point.progress.value("format", std::string("none"));
  RETAIN_CHECK(format == kFormat, kComponent,
               "{}: a checkpoint of format {}, written by an older retain (other data order and optimizer state); "
               "this one continues {} only: start over with --overwrite",
               file.string(), format, kFormat);
  const json a = resume_key(point.progress.value("options", json())), b = resume_key(options);
  std::string differences;
  for (const auto& [key, value] : b.items()) {
    const json old = a.value(key, json());
    if (old != value)
      differences +=
          fmt::format("{}{} {} (this run: {})", differences.empty() ? "" : ", ", key, old.dump(), value.dump());
  }
  RETAIN_CHECK(a == b, kComponent, "{}: the checkpoint was written with other settings: {}; resume with the same ones",
               file.string(), differences);
}

// Matrices decay, norms and biases (1-D) do not.
AdamW make_optimizer(CausalLM& model, const PretrainOptions& o) {
  std::vector<AdamWGroup> groups(2);
  for (auto& [name, p] : model->base_parameters()) groups[p.dim() >= 2 ? 0 : 1].params.push_back(p);
  groups[1].weight_decay = 0.0;
  AdamWOptions adam;
  adam.lr = o.lr;
  adam.beta1 = o.beta1;
  adam.beta2 = o.beta2;
  adam.weight_decay = o.weight_decay;
  return AdamW(std::move(groups), adam);
}

}  // namespace

PretrainSummary pretrain(const PretrainOptions& given, const std::vector<PretrainObserver*>& extra_observers) {
  const auto wall_start = std::chrono::steady_clock::now();
  PretrainOptions o = given;
  o.warmup = o.warmup_steps();
  o.validate();
  const fs::path checkpoint_file = o.out / "checkpoint" / "state.safetensors";
  const bool have_checkpoint = fs::exists(checkpoint_file);
  if (!o.resume) {
    const bool occupied = fs::exists(o.out) && !(fs::is_directory(o.out) && fs::is_empty(o.out));
    RETAIN_CHECK(!occupied || o.overwrite, kComponent,
                 "{} exists and is not empty; pass --resume to continue its run or --overwrite to start over in it",
                 o.out.string());
  }
  // --resume: the temporaries of the killed run's interrupted writes are leftovers (core/files.h).
  const size_t leftovers = o.resume ? remove_leftover_temporaries(o.out) : 0;
  PretrainMetricsFile metrics(o.out / "metrics.jsonl");
  std::vector<PretrainObserver*> observers = {&metrics};
  observers.insert(observers.end(), extra_observers.begin(), extra_observers.end());
  auto note = [&](const std::string& line) {
    for (auto* observer : observers) observer->on_note(line);
  };
  if (leftovers) note(fmt::format("removed {} unfinished temporary file{} of the interrupted run", leftovers,
                                  leftovers == 1 ? "" : "s"));

  const Tokenizer tokenizer = Tokenizer::from_file(o.tokenizer);
  auto special_id = [&](const std::string& token, const char* role) -> int64_t {
    auto id = tokenizer.token_to_id(token);
    RETAIN_CHECK(id.has_value(), kComponent, "{}: the {} token \"{}\" is not in the vocabulary", o.tokenizer, role,
                 token);
    return *id;
  };
  const int64_t bos = special_id(o.bos_token, "bos"), eos = special_id(o.eos_token, "eos");
  const std::optional<int64_t> pad = tokenizer.token_to_id(o.pad_token);
  const ModelConfig config = model_config(o, tokenizer, bos, eos, pad);
  const at::Device device = parse_device(o.device);
  const at::ScalarType dtype_out = parse_dtype(o.dtype_out);
  const bool autocast = o.autocast == Autocast::Bf16;

  std::optional<ResumePoint> point;
  const json options = o.settings_json();
  if (o.resume && have_checkpoint) {
    point = read_resume_point(checkpoint_file);
    check_resumable(*point, options, checkpoint_file);
  }
  if (o.resume && !have_checkpoint)
    note(fmt::format("no checkpoint in {}; starting at step 0", (o.out / "checkpoint").string()));
  fs::create_directories(o.out);
  if (!o.resume) {
    // Starting over (--overwrite): an old checkpoint or token cache must not be picked up later.
    remove_tree(o.out / "checkpoint");
    remove_tree(o.out / "data");
  }
  const PretrainCorpus corpus = load_corpus(o, tokenizer, bos, eos, o.resume, note);
  const int64_t train_windows = window_count(static_cast<int64_t>(corpus.train.size()), o.seq_len);
  RETAIN_CHECK(train_windows > 0, kComponent,
               "the training split has {} tokens, too few for one window of --seq-len {} + 1; give more text",
               corpus.train.size(), o.seq_len);

  const uint64_t seed = static_cast<uint64_t>(o.seed);
  torch::manual_seed(seed);
  CausalLM model(config);
  init_weights(model, seed);
  model->to(device);
  model->train();
  AdamW optimizer = make_optimizer(model, o);
  const std::vector<at::Tensor>& params = optimizer.params();

  int64_t start_step = 0;
  json rows = json::array();   // loss.csv rows: {step, train_loss, eval_loss}
  std::vector<double> recent;  // train losses since the last evaluation (loss.csv)
  std::vector<double> last10;  // the last 10 losses (the summary's final train loss)
  double previous_seconds = 0;
  if (point) {
    load_model_state(model, point->model, checkpoint_file.string());
    optimizer.load_state(point->training.optimizer);
    start_step = point->training.steps_done;
    rows = point->progress.value("rows", json::array());
    recent = point->progress.value("recent", std::vector<double>());
    last10 = point->progress.value("last10", std::vector<double>());
    previous_seconds = point->progress.value("train_seconds", 0.0);
    note(fmt::format("resuming at step {} of {}", start_step, o.steps));
  }
  for (auto* observer : observers) observer->on_start(start_step, o.steps);

  auto write_loss_csv = [&] {
    std::string csv = "step,train_loss,eval_loss\n";
    for (const auto& r : rows)
      csv += fmt::format("{},{},{}\n", r.at("step").get<int64_t>(), csv_number(r.value("train_loss", std::nan(""))),
                         r.at("eval_loss").is_null() ? "" : csv_number(r.at("eval_loss").get<double>()));
    write_file_atomic(o.out / "loss.csv", csv, kComponent);
  };
  auto save_checkpoint = [&](int64_t steps_done, double train_seconds) {
    ResumePoint cp;
    cp.progress = {{"format", kFormat}, {"options", options}, {"rows", rows},
                   {"recent", recent},  {"last10", last10},   {"train_seconds", train_seconds}};
    cp.model = model_state(model, model_state_names(model), true);
    cp.training.steps_done = steps_done;
    cp.training.optimizer = optimizer.state();
    cp.training.rng.emplace_back("cpu", at::globalContext().defaultGenerator(at::kCPU).get_state());
    write_resume_point(checkpoint_file, cp);
    save_model(o.out / "checkpoint" / "model", model, at::kFloat);
  };
  auto evaluate = [&] {
    return heldout_loss(model, corpus.eval, o.seq_len, o.batch_size, o.eval_batches * o.batch_size, device, autocast);
  };

  const int64_t tokens_per_step = o.batch_size * o.seq_len;
  const double max_norm = o.max_grad_norm > 0 ? o.max_grad_norm : std::numeric_limits<double>::infinity();
  double eval_loss = std::nan("");
  const auto train_start = std::chrono::steady_clock::now();
  for (int64_t step = start_step; step < o.steps; ++step) {
    const auto step_start = std::chrono::steady_clock::now();
    const at::Tensor windows =
        gather_windows(corpus.train, batch_windows(step, o.batch_size, train_windows, seed), o.seq_len);
    const LossSum loss = window_loss(model, windows, device, autocast);
    const at::Tensor mean = loss.sum / static_cast<double>(loss.tokens);
    mean.backward();
    const double grad_norm = torch::nn::utils::clip_grad_norm_(params, max_norm);
    const double lr = learning_rate_at(o.schedule, o.lr, step, o.steps, o.warmup, o.min_lr_ratio);
    optimizer.set_lr(lr);
    optimizer.step();
    optimizer.zero_grad();
    const double value = mean.item<double>();
    RETAIN_CHECK(std::isfinite(value), kComponent, "step {}: the loss is {} (lower --lr or use --autocast off)",
                 step + 1, value);
    recent.push_back(value);
    last10.push_back(value);
    if (last10.size() > 10) last10.erase(last10.begin());

    StepInfo info;
    info.epoch = step * o.batch_size / train_windows;
    info.step = step;
    info.total_steps = o.steps;
    info.loss = value;
    info.lr = lr;
    info.grad_norm = grad_norm;
    info.tokens = tokens_per_step;
    info.seconds = seconds_since(step_start);
    for (auto* observer : observers) observer->on_step(info);

    const int64_t done = step + 1;
    if ((o.eval_every > 0 && done % o.eval_every == 0) || done == o.steps) {
      eval_loss = evaluate();
      const PretrainEvaluation evaluation{done, o.steps, mean_of(recent), eval_loss};
      recent.clear();
      rows.push_back({{"step", done}, {"train_loss", evaluation.train_loss}, {"eval_loss", finite_or_null(eval_loss)}});
      for (auto* observer : observers) observer->on_evaluation(evaluation);
      write_loss_csv();
    }
    if (o.checkpoint_every > 0 && done % o.checkpoint_every == 0 && done < o.steps)
      save_checkpoint(done, previous_seconds + seconds_since(train_start));
  }
  const double train_seconds = seconds_since(train_start);
  if (start_step >= o.steps) eval_loss = evaluate();  // resumed a finished run: evaluate once for the summary

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
  summary.final_train_loss = mean_of(last10);
  summary.eval_loss = eval_loss;
  summary.eval_perplexity = std::exp(eval_loss);
  summary.seconds = seconds_since(wall_start);
  const int64_t trained = o.steps - std::min(o.steps, start_step);
  summary.tokens_per_second = trained > 0 ? static_cast<double>(trained * tokens_per_step) / train_seconds : 0;

  json report = {{"format", kFormat},
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
    report["general_text_documents"] =
        write_heldout_documents(o, o.out / "general_text.jsonl", o.general_text_documents);
  write_file_atomic(o.out / "pretrain.json", report.dump(2) + "\n", kComponent);
  return summary;
}

}  // namespace retain
