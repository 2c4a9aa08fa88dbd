// retain_bench — the fixed scenarios of ../shared/docs/anchors.md, measured with retain's own code
// paths (the trainer loop, the methods, the router, routed generation):
//
//   retain_bench train [--steps N] [--only seqft,osft,...]
//                                    s/step, tokens/s, MFU, peak memory of full fine-tuning, LoRA
//                                    (q,v and all 7), OSFT; and the task-start SVD of all matrices
//   retain_bench router              RLS router absorption, samples/s at E = 10000
//   retain_bench infer               mixed-adapter prefill and generation vs the base model
//   retain_bench rank --model DIR --task DIR ...
//                                    rank scoring of the tasks' test splits: the batched evaluator
//                                    (examples × labels rows per forward, one read-back per batch)
//                                    against the per-example path it replaced, same answers checked
//
// Model: a randomly initialised LLaMA-shaped 1.10 B model (hidden 2048, 22 layers, 32 heads, 4 KV
// heads, MLP 5632, vocab 32000) in bfloat16 on CUDA, batch 8 × 512 for training. Results go to
// stdout as a markdown table and to --json FILE.
#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/model/causal_lm.h"
#include "retain/model/config.h"
#include "retain/model/generation.h"
#include "retain/model/routed_lora.h"
#include "retain/train/rls_router.h"
#include "retain/train/method.h"
#include "retain/train/registry.h"
#include "retain/train/trainer.h"
#include "retain/data/prompt.h"
#include "retain/data/task.h"
#include "retain/model/loader.h"
#include "retain/train/evaluator.h"
#include "retain/train/loss.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define RETAIN_BENCH_CUDA_STATS 1
#else
#define RETAIN_BENCH_CUDA_STATS 0
#endif

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace {

using retain::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void synchronize() {
  if (torch::cuda::is_available()) torch::cuda::synchronize();
}

void reset_peak() {
#if RETAIN_BENCH_CUDA_STATS
  if (!torch::cuda::is_available()) return;
  at::zeros({1}, at::Device(at::kCUDA, 0));  // the allocator knows the device only once it has allocated
  c10::cuda::CUDACachingAllocator::resetPeakStats(0);
#endif
}

double peak_gib() {
#if RETAIN_BENCH_CUDA_STATS
  if (!torch::cuda::is_available()) return 0;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
  return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024 * 1024);
#else
  return 0;
#endif
}

retain::ModelConfig llama_1b() {
  json c = {{"model_type", "llama"},
            {"architectures", {"LlamaForCausalLM"}},
            {"vocab_size", 32000},
            {"hidden_size", 2048},
            {"intermediate_size", 5632},
            {"num_hidden_layers", 22},
            {"num_attention_heads", 32},
            {"num_key_value_heads", 4},
            {"max_position_embeddings", 2048},
            {"rms_norm_eps", 1e-6},
            {"rope_theta", 10000.0},
            {"bos_token_id", 1},
            {"eos_token_id", 2},
            {"torch_dtype", "bfloat16"}};
  return retain::ModelConfig::from_json(c, "retain_bench 1.1B config");
}

retain::CausalLM make_model(const at::Device& device) {
  auto model = retain::CausalLM(llama_1b());
  retain::init_weights(model, 0);
  model->to(device, at::kBFloat16);
  return model;
}

struct Args {
  std::string scenario;
  int64_t steps = 12, warmup = 3;
  int64_t batch = 8, seq = 512;
  std::string json_path;
  std::vector<std::string> only;  // --only a,b: the train cases whose method is listed
  std::string model;               // rank: a model folder
  std::vector<std::string> tasks;  // rank: task folders
};

struct TrainRow {
  std::string name;
  double step_s = 0, tok_s = 0, mfu = 0, peak = 0;
  int64_t trainable = 0;
  double task_start_s = 0;
};

// One method through the real trainer loop on random tokens (loss on every token, as the peer's
// labels = input_ids): `warmup` steps, then `steps` timed steps; the mean of the timed StepInfo times.
TrainRow bench_method(const std::string& label, const std::string& method_name, const json& settings, const Args& a,
                      const at::Device& device, int64_t total_params) {
  TrainRow row;
  row.name = label;
  reset_peak();
  retain::RunContext run;
  run.device = device;
  run.model = make_model(device);
  run.seed = 0;
  retain::Task task;
  task.name = "random";
  run.tasks = {task};
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  std::vector<retain::TokenizedExample> examples;
  const int64_t n = a.batch * (a.steps + a.warmup);
  const auto ids = at::randint(3, 32000, {n, a.seq}, gen, at::kLong);
  for (int64_t i = 0; i < n; ++i) {
    retain::TokenizedExample e;
    e.ids.assign(ids[i].data_ptr<int64_t>(), ids[i].data_ptr<int64_t>() + a.seq);
    e.prompt_length = 1;
    examples.push_back(std::move(e));
  }
  run.train_data = {examples};
  auto method = retain::make_method(method_name, settings);
  method->on_run_start(run);
  retain::OptimizerSettings o;
  o.lr = 1e-5;
  o.batch_size = a.batch;
  o.max_steps = a.steps + a.warmup;
  o.max_grad_norm = 0;  // the peer does not clip
  o.schedule = retain::Schedule::Constant;
  retain::TaskContext ctx{run, 0};
  double timed = 0;
  int64_t counted = 0;
  synchronize();
  const auto t0 = Clock::now();
  retain::train_task(*method, ctx, o, [&](const retain::StepInfo& info) {
    if (info.step == 0) {
      synchronize();
      row.task_start_s = seconds_since(t0) - info.seconds;  // on_task_start etc. before the first step
    }
    if (info.step >= a.warmup) {
      timed += info.seconds;
      ++counted;
    }
  });
  row.step_s = timed / static_cast<double>(std::max<int64_t>(1, counted));
  row.tok_s = static_cast<double>(a.batch * a.seq) / row.step_s;
  row.mfu = 6.0 * static_cast<double>(total_params) * row.tok_s / 989e12;
  row.peak = peak_gib();
  for (auto& p : method->trainable(ctx)) row.trainable += p.numel();
  return row;
}

json run_train(const Args& a) {
  const at::Device device = torch::cuda::is_available() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  int64_t total = 0;
  {
    auto m = retain::CausalLM(llama_1b());
    for (auto& p : m->parameters()) total += p.numel();
  }
  std::cerr << "model: " << total / 1e9 << " B parameters, device " << device.str() << '\n';
  const std::vector<std::string> all7 = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  struct Case {
    std::string label, method;
    json settings;
  };
  const std::vector<Case> cases = {
      {"full fine-tuning (seqft)", "seqft", json::object()},
      {"LoRA r=8 on q,v (seqlora)", "seqlora", {{"r", 8}, {"alpha", 32}}},
      {"LoRA r=8 on all 7 (seqlora)", "seqlora", {{"r", 8}, {"alpha", 32}, {"target_modules", all7}}},
      {"OSFT fixed ratio 0.5, all 7", "osft", {{"rank_rule", "fixed"}, {"ratio", 0.5}}},
      {"OSFT adaptive (importance), all 7", "osft", json::object()},
      {"SETA, LoRA-r8-sized experts, all 7 (merged, default)", "seta",
       {{"lora_rank_budget", 8}, {"feature_layers", 0}}},
      {"SETA, LoRA-r8-sized experts, all 7 (csr)", "seta",
       {{"lora_rank_budget", 8}, {"feature_layers", 0}, {"kernel", "csr"}}},
      {"SETA, LoRA-r8-sized experts, all 7 (gather)", "seta",
       {{"lora_rank_budget", 8}, {"feature_layers", 0}, {"kernel", "gather"}}},
  };
  json rows = json::array();
  std::printf("| configuration | s/step | tokens/s | MFU | peak GiB | trainable | task start s |\n|---|---|---|---|---|---|---|\n");
  for (const auto& c : cases) {
    if (!a.only.empty() && std::find(a.only.begin(), a.only.end(), c.method) == a.only.end()) continue;
    TrainRow r;
    try {
      r = bench_method(c.label, c.method, c.settings, a, device, total);
    } catch (const std::exception& e) {
      std::cerr << c.label << " failed: " << e.what() << '\n';
      continue;
    }
    std::printf("| %s | %.4f | %.0f | %.3f | %.2f | %lld | %.2f |\n", r.name.c_str(), r.step_s, r.tok_s, r.mfu, r.peak,
                static_cast<long long>(r.trainable), r.task_start_s);
    std::fflush(stdout);
    rows.push_back({{"name", r.name}, {"method", c.method}, {"settings", c.settings}, {"step_s", r.step_s},
                    {"tok_s", r.tok_s}, {"mfu_vs_989", r.mfu}, {"peak_gib", r.peak}, {"trainable", r.trainable},
                    {"task_start_s", r.task_start_s}});
#if RETAIN_BENCH_CUDA_STATS
    if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  }
  // The task-boundary cost on its own: fp32 SVD of all 154 target matrices, as the peer measures it.
  {
    auto model = make_model(device);
    synchronize();
    const auto t0 = Clock::now();
    for (auto& [name, linear] : model->linear_layers())
      if (name != "lm_head") at::linalg_svd(linear->weight.to(at::kFloat), /*full_matrices=*/false);
    synchronize();
    const double s = seconds_since(t0);
    std::printf("\nSVD of all target matrices (fp32, torch.linalg.svd): %.2f s\n", s);
    rows.push_back({{"name", "svd_all_fp32"}, {"s", s}});
  }
  return rows;
}

// Router absorption alone (features already expanded, on the device): N samples of E = 10000 in
// blocks, for both solvers and both dtypes; W is read at the end (the Cholesky solve included).
json run_router(const Args& a) {
  const at::Device device = torch::cuda::is_available() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  const int64_t E = 10000, C = 8, N = 32768;
  json rows = json::array();
  std::printf("| router (E = %lld, %lld classes, %lld samples) | block | samples/s | s |\n|---|---|---|---|\n",
              static_cast<long long>(E), static_cast<long long>(C), static_cast<long long>(N));
  for (const auto dtype : {at::kDouble, at::kFloat}) {
    for (const auto solver : {retain::RlsSolver::Woodbury, retain::RlsSolver::Cholesky}) {
      for (const int64_t block : {int64_t{1024}, int64_t{4096}}) {
        retain::RlsRouterOptions o;
        o.dim = E;
        o.solver = solver;
        o.dtype = dtype;
        o.block_size = block;
        o.device = device;
        auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
        const auto X = at::randn({N, E}, gen, at::TensorOptions().dtype(at::kFloat)).to(device, dtype);
        const auto labels = at::randint(0, C, {N}, gen, at::kLong).to(device);
        const auto Y = at::one_hot(labels, C).to(dtype);
        retain::RlsRouter warm(o);  // the first call pays for cuBLAS / cuSOLVER set-up
        for (int64_t c = 0; c < C; ++c) warm.add_class();
        warm.absorb(X.narrow(0, 0, block), Y.narrow(0, 0, block));
        warm.weights();
        retain::RlsRouter router(o);
        for (int64_t c = 0; c < C; ++c) router.add_class();
        synchronize();
        const auto t0 = Clock::now();
        router.absorb(X, Y);
        router.weights();
        synchronize();
        const double s = seconds_since(t0);
        const std::string name = fmt::format("{} {}", retain::to_string(solver), dtype == at::kDouble ? "float64" : "float32");
        std::printf("| %s | %lld | %.0f | %.3f |\n", name.c_str(), static_cast<long long>(block),
                    static_cast<double>(N) / s, s);
        std::fflush(stdout);
        rows.push_back({{"name", name}, {"block", block}, {"samples_s", static_cast<double>(N) / s}, {"s", s}});
      }
    }
  }
  return rows;
}

// Mixed-adapter inference (anchors.md): batch 64, 256-token prompts, 32 new tokens, 8 random LoRA
// r=8 adapters on all 7 linear layers of every block; the base model vs one adapter for the whole
// batch vs a different adapter per sample (routes i mod 8), one batched pass each.
json run_infer(const Args& a) {
  const at::Device device = torch::cuda::is_available() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  const int64_t B = 64, P = 256, G = 32, NA = 8;
  auto model = make_model(device);
  model->eval();
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  const auto ids = at::randint(3, 32000, {B, P}, gen, at::kLong);
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t i = 0; i < B; ++i) prompts.emplace_back(ids[i].data_ptr<int64_t>(), ids[i].data_ptr<int64_t>() + P);
  const auto ids_device = ids.to(device);
  retain::GenerationOptions g;
  g.max_new_tokens = G;  // no eos: every sample generates G tokens
  auto timeit = [&](const std::function<void()>& fn, int reps = 3) {
    fn();
    synchronize();
    const auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) fn();
    synchronize();
    return seconds_since(t0) / reps;
  };
  auto prefill = [&] { model->forward({ids_device, {}, {}, nullptr}); };
  auto generate = [&] { retain::generate(model, prompts, g); };
  json r;
  r["base_prefill_tok_s"] = static_cast<double>(B * P) / timeit(prefill);
  r["base_generate_s"] = timeit(generate);
  const std::vector<std::string> all7 = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  retain::add_random_routed_lora(model, NA, 8, all7, 1);
  model->to(device, at::kBFloat16);
  retain::set_routes(model, at::zeros({B}, at::kLong).to(device));
  r["single_adapter_prefill_tok_s"] = static_cast<double>(B * P) / timeit(prefill);
  r["single_adapter_generate_s"] = timeit(generate);
  retain::set_routes(model, at::arange(B, at::kLong).remainder(NA).to(device));
  r["mixed_adapter_prefill_tok_s"] = static_cast<double>(B * P) / timeit(prefill);
  r["mixed_adapter_generate_s"] = timeit(generate);
  r["mixed_vs_base_prefill"] = r["mixed_adapter_prefill_tok_s"].get<double>() / r["base_prefill_tok_s"].get<double>();
  r["mixed_vs_base_decode_speed"] = r["base_generate_s"].get<double>() / r["mixed_adapter_generate_s"].get<double>();
  std::printf("| configuration | prefill tokens/s | generate %lld tokens (s) |\n|---|---|---|\n", static_cast<long long>(G));
  for (const char* k : {"base", "single_adapter", "mixed_adapter"})
    std::printf("| %s | %.0f | %.3f |\n", k, r[std::string(k) + "_prefill_tok_s"].get<double>(),
                r[std::string(k) + "_generate_s"].get<double>());
  std::printf("mixed / base: prefill %.3f×, decode speed %.3f×\n", r["mixed_vs_base_prefill"].get<double>(),
              r["mixed_vs_base_decode_speed"].get<double>());
  return r;
}

}  // namespace

// The rank scoring retain had before it was batched (kept here as the benchmark's baseline): one
// example at a time, its label candidates as rows, every score read back on its own.
std::vector<std::string> rank_answers_per_example(retain::CausalLM& model, const retain::Tokenizer& tokenizer,
                                                  const retain::Task& task, const retain::TokenizeOptions& tokenize,
                                                  int64_t batch_size) {
  using namespace retain;
  const auto device = model->model->embed_tokens->weight.device();
  const int64_t pad = model->config.pad_token_id.value_or(0);
  torch::NoGradGuard no_grad;
  std::vector<std::string> answers;
  for (const auto& example : task.test) {
    std::vector<TokenizedExample> candidates;
    for (const auto& label : task.labels) {
      Example as_label{example.input, label};
      candidates.push_back(tokenize_example(tokenizer, format_prompt(task, as_label), format_target(task, as_label), tokenize));
    }
    std::vector<double> scores;
    for (size_t first = 0; first < candidates.size(); first += static_cast<size_t>(batch_size)) {
      std::vector<int64_t> rows;
      for (size_t i = first; i < std::min(candidates.size(), first + static_cast<size_t>(batch_size)); ++i)
        rows.push_back(static_cast<int64_t>(i));
      Batch batch = collate(candidates, rows, pad);
      ForwardInput in;
      in.input_ids = batch.input_ids.to(device);
      in.attention_mask = batch.attention_mask.to(device);
      in.route_mask = in.attention_mask * batch.labels.to(device).eq(kIgnoreIndex);
      auto logp = at::log_softmax(model->forward(in).to(at::kFloat), -1);
      auto labels = batch.labels.to(device).narrow(1, 1, batch.labels.size(1) - 1);
      auto mask = labels.ne(kIgnoreIndex);
      auto picked = logp.narrow(1, 0, logp.size(1) - 1).gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1);
      auto row_scores = (picked * mask).sum(-1).to(at::kCPU);
      for (int64_t r = 0; r < row_scores.size(0); ++r) scores.push_back(row_scores[r].item<double>());
    }
    answers.push_back(task.labels[std::max_element(scores.begin(), scores.end()) - scores.begin()]);
  }
  return answers;
}

json run_rank(const Args& a) {
  using namespace retain;
  RETAIN_CHECK(!a.model.empty() && !a.tasks.empty(), "bench", "rank needs --model DIR and --task DIR ...");
  const auto device = torch::cuda::is_available() ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  auto model = load_model(a.model, {at::kFloat, device});
  model->eval();
  const auto tokenizer = Tokenizer::from_file(std::filesystem::path(a.model) / "tokenizer.json");
  TokenizeOptions tokenize;
  tokenize.max_length = 512;
  tokenize.eos_token_id = model->config.eos_token_ids.front();
  std::vector<Task> tasks;
  int64_t examples = 0;
  for (const auto& t : a.tasks) {
    tasks.push_back(load_task(t));
    examples += static_cast<int64_t>(tasks.back().test.size());
  }
  EvalSettings s;
  s.scoring = "rank";
  auto time_it = [&](const std::function<std::vector<std::vector<std::string>>()>& f, std::vector<std::vector<std::string>>* out) {
    f();  // warm-up
    synchronize();
    const auto t0 = Clock::now();
    *out = f();
    synchronize();
    return seconds_since(t0);
  };
  std::vector<std::vector<std::string>> before, after;
  const double old_s = time_it([&] {
    std::vector<std::vector<std::string>> r;
    for (const auto& t : tasks) r.push_back(rank_answers_per_example(model, tokenizer, t, tokenize, 16));
    return r;
  }, &before);
  json rows = json::array();
  printf("| rank scoring (%lld test examples, %zu tasks) | seconds | examples/s | speed-up | same answers |\n|---|---|---|---|---|\n",
         static_cast<long long>(examples), tasks.size());
  printf("| per example (before) | %.3f | %.0f | 1.0× | — |\n", old_s, examples / old_s);
  rows.push_back({{"path", "per_example"}, {"seconds", old_s}});
  for (int64_t batch : {16, 64}) {
    s.batch_size = batch;
    const double new_s = time_it([&] {
      std::vector<std::vector<std::string>> r;
      for (const auto& t : tasks) r.push_back(evaluate_task(model, tokenizer, t, tokenize, s).predictions);
      return r;
    }, &after);
    int64_t differ = 0;
    for (size_t t = 0; t < tasks.size(); ++t)
      for (size_t e = 0; e < before[t].size(); ++e) differ += before[t][e] != after[t][e];
    printf("| batched, %lld examples per forward | %.3f | %.0f | %.1f× | %s |\n", static_cast<long long>(batch), new_s,
           examples / new_s, old_s / new_s, differ == 0 ? "yes" : fmt::format("{} differ", differ).c_str());
    rows.push_back({{"path", "batched"}, {"batch_examples", batch}, {"seconds", new_s}, {"speedup", old_s / new_s},
                    {"answers_differing", differ}});
  }
  return {{"scenario", "rank"}, {"device", device.str()}, {"examples", examples}, {"rows", rows}};
}

int main(int argc, char** argv) {
  try {
    Args a;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&]() -> std::string {
        RETAIN_CHECK(i + 1 < argc, "bench", "{} needs a value", arg);
        return argv[++i];
      };
      if (arg == "--steps") a.steps = std::stoll(value());
      else if (arg == "--warmup") a.warmup = std::stoll(value());
      else if (arg == "--batch") a.batch = std::stoll(value());
      else if (arg == "--seq") a.seq = std::stoll(value());
      else if (arg == "--json") a.json_path = value();
      else if (arg == "--model") a.model = value();
      else if (arg == "--task") a.tasks.push_back(value());
      else if (arg == "--only") {
        std::string list = value();
        for (size_t start = 0, comma; start <= list.size(); start = comma + 1) {
          comma = list.find(',', start);
          if (comma == std::string::npos) comma = list.size();
          a.only.push_back(list.substr(start, comma - start));
        }
      }
      else if (a.scenario.empty()) a.scenario = arg;
      else retain::fail("bench", "unexpected argument \"{}\"", arg);
    }
    json out;
    if (a.scenario == "train") out = run_train(a);
    else if (a.scenario == "router") out = run_router(a);
    else if (a.scenario == "infer") out = run_infer(a);
    else if (a.scenario == "rank") out = run_rank(a);
    else retain::fail("bench", "scenario \"{}\": expected train | router | infer | rank", a.scenario);
    if (!a.json_path.empty()) retain::write_file_atomic(a.json_path, out.dump(1) + "\n", "bench");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "retain_bench: error: " << e.what() << '\n';
    return 1;
  }
}
