#include "retain/serve/served_model.h"

#include "retain/core/error.h"
#include "retain/model/loader.h"
#include "retain/model/routed_lora.h"
#include "retain/train/adapter_checkpoint.h"
#include "retain/train/methods/asr.h"
#include "retain/train/methods/pertask.h"
#include "retain/train/methods/seta.h"
#include "retain/train/prompt_features.h"

#include <algorithm>
#include <functional>
#include <regex>

namespace retain::serve {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "serve";
/// Adapter checkpoints: route 0 of their one routed adapter is every trained adapter, summed.
constexpr int64_t kRouteAdapters = 0;
constexpr const char* kSummedAdapters = "adapters";

/// tokenizer_config.json's `key`: a string, or {"content": ...} (AddedToken); "" when absent.
std::string special_token(const json& config, const std::string& key) {
  if (!config.contains(key) || config[key].is_null()) return "";
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

}  // namespace

json RouteChoice::to_json() const {
  json j = {{"route", name}, {"routed_by", routed_by}};
  if (score) j["score"] = *score;
  if (!mix.empty()) {
    j["mix"] = json::array();
    for (const auto& part : mix) j["mix"].push_back({{"route", part.name}, {"weight", part.weight}});
  }
  return j;
}

fs::path resolve_checkpoint(const fs::path& checkpoint) {
  RETAIN_CHECK(fs::is_directory(checkpoint), kComponent, "--checkpoint {}: no such folder", checkpoint.string());
  auto kind_of = [](const fs::path& dir) -> std::string {
    if (fs::exists(dir / "router.safetensors")) return "asr";
    if (fs::exists(dir / "experts.json")) return "seta";
    if (fs::exists(dir / kAdapterManifest)) return "adapters";
    if (fs::exists(dir / "config.json")) return "model";
    return "";
  };
  fs::path dir = checkpoint;
  if (kind_of(dir).empty() && fs::is_directory(checkpoint / "checkpoints")) {
    int64_t best = -1;
    static const std::regex task_dir("task_([0-9]+)");
    for (const auto& entry : fs::directory_iterator(checkpoint / "checkpoints")) {
      std::smatch m;
      const std::string name = entry.path().filename().string();
      if (entry.is_directory() && std::regex_match(name, m, task_dir)) best = std::max<int64_t>(best, std::stoll(m[1]));
    }
    RETAIN_CHECK(best >= 0, kComponent, "--checkpoint {}: {}/checkpoints holds no task_<k> folder", checkpoint.string(),
                 checkpoint.string());
    dir = checkpoint / "checkpoints" / ("task_" + std::to_string(best));
  }
  const std::string kind = kind_of(dir);
  RETAIN_CHECK(kind == "asr" || kind == "seta" || kind == "adapters", kComponent,
               "--checkpoint {}: {}; retain serve takes the checkpoints of `retain run --save-checkpoints` of asr "
               "(router.safetensors and one adapter per task), seta (experts.json, experts and gate) and seqlora, "
               "inclora, olora or inflora (adapters.json and their PEFT adapters); serve a full model folder (osft, "
               "seqft, ...) with --model",
               dir.string(), kind == "model" ? "a full model folder" : "not such a checkpoint, nor a method's run folder");
  return dir;
}

std::unique_ptr<ServedModel> ServedModel::load(const ServedModelOptions& o) {
  RETAIN_CHECK(fs::is_regular_file(o.model_dir / "tokenizer.json"), kComponent, "{}: no tokenizer.json",
               o.model_dir.string());
  std::unique_ptr<ServedModel> s(new ServedModel(Tokenizer::from_file(o.model_dir / "tokenizer.json")));
  LoadOptions load;
  load.dtype = parse_dtype(o.dtype);
  load.device = parse_device(o.device);
  s->model = load_model(o.model_dir, load);
  s->model->eval();
  s->name = fs::absolute(o.model_dir).lexically_normal().filename().string();
  if (s->name.empty()) s->name = fs::absolute(o.model_dir).lexically_normal().parent_path().filename().string();
  s->generation = read_generation_defaults(o.model_dir, s->model->config);
  const int64_t positions = s->model->config.max_position_embeddings;
  s->max_model_len = o.max_model_len > 0 ? o.max_model_len : positions;
  RETAIN_CHECK(positions <= 0 || s->max_model_len <= positions, kComponent,
               "--max-model-len {} is longer than the model's max_position_embeddings {}", s->max_model_len, positions);

  const auto template_source = find_chat_template(o.model_dir);
  if (template_source) s->chat_template = ChatTemplate::parse(*template_source, (o.model_dir / "tokenizer_config.json").string());
  json tokenizer_config = json::object();
  if (fs::exists(o.model_dir / "tokenizer_config.json"))
    tokenizer_config = read_json_file(o.model_dir / "tokenizer_config.json", kComponent);
  s->bos_token = special_token(tokenizer_config, "bos_token");
  s->eos_token = special_token(tokenizer_config, "eos_token");
  const auto& config = s->model->config;
  if (s->bos_token.empty() && config.bos_token_id && *config.bos_token_id < s->tokenizer.vocab_size())
    s->bos_token = s->tokenizer.id_to_token(*config.bos_token_id);
  if (s->eos_token.empty() && !s->generation.eos_token_ids.empty())
    s->eos_token = s->tokenizer.id_to_token(s->generation.eos_token_ids.front());

  if (o.checkpoint.empty()) return s;
  const fs::path dir = resolve_checkpoint(o.checkpoint);
  ServedModel* self = s.get();
  // The choice of one row: the router's (scores over the columns, column_task[c] the route of column
  // c) for kRouteAuto, else the route the request named.
  auto choose = [self](int64_t asked, const at::Tensor& scores, const std::vector<int64_t>& column_task,
                       const std::vector<std::string>& column_name) {
    RouteChoice c;
    if (asked == kRouteAuto) {
      const int64_t column = scores.argmax().item<int64_t>();
      c.route = column_task[column];
      c.name = column_name[column];
      c.routed_by = "router";
      c.score = scores[column].item<double>();
    } else {
      c.route = asked;
      c.name = asked == kRouteBase ? "base" : self->tasks[asked];
      c.routed_by = "request";
    }
    return c;
  };
  // Every row's choice, then the routes applied. `mixed` (SETA, top_k > 1) rewrites a router row's
  // choice as the top-k mix.
  using Mixer = std::function<void(int64_t row, RouteChoice&)>;
  auto route_rows = [self, choose](const at::Tensor& scores, const std::vector<int64_t>& column_task,
                                   const std::vector<std::string>& column_name, const Mixer& mixed) {
    const int64_t rows = scores.size(0);
    RETAIN_CHECK(static_cast<int64_t>(self->requested_.size()) == rows, kComponent,
                 "a prefill of {} rows, but {} routes were prepared", rows, self->requested_.size());
    self->choices_.clear();
    for (int64_t r = 0; r < rows; ++r) {
      self->choices_.push_back(choose(self->requested_[r], scores[r], column_task, column_name));
      if (mixed && self->requested_[r] == kRouteAuto) mixed(r, self->choices_.back());
    }
    self->apply_routes(self->choices_);
  };
  if (fs::exists(dir / kAdapterManifest)) {
    // No router and no task at inference: every adapter on every row, summed, as the method's own
    // evaluation. One routed adapter of rank Σ r holds them all, so a "base" row can skip it.
    s->adapters_ = std::make_shared<AdapterCheckpoint>(load_adapter_checkpoint(s->model, dir));
    add_routed_lora_sums(s->model, {s->adapters_->adapters}, kSummedAdapters);
    enable_only_adapter(s->model, kSummedAdapters);
    s->kind = s->adapters_->method;
    s->tasks = s->adapters_->tasks;
    return s;
  }
  if (fs::exists(dir / "router.safetensors")) {
    s->router_ = load_asr_checkpoint(s->model, dir);
    s->kind = "asr";
    for (const auto& c : s->router_->classes)
      if (c != AsrRouter::kGeneralClass) s->tasks.push_back(c);
    std::vector<int64_t> column_task;
    std::vector<std::string> column_name;
    int64_t t = 0;
    for (const auto& c : s->router_->classes) {
      column_task.push_back(c == AsrRouter::kGeneralClass ? kRouteBase : t++);
      column_name.push_back(c == AsrRouter::kGeneralClass ? "base" : c);
    }
    // Our own prompt router: the checkpoint's, plus routes a request names itself and the scores.
    s->model->router = std::make_shared<PooledPromptRouter>(
        s->model->model->norm, s->router_->feature_layers, [self, route_rows, column_task, column_name](const at::Tensor& features) {
          auto& router = *self->router_;
          route_rows(router.expand(features.to(router.expansion.scalar_type())).matmul(router.rls.weights()).to(at::kCPU, at::kDouble),
                     column_task, column_name, {});
        });
  } else {
    s->seta_ = std::make_shared<SetaCheckpoint>(load_seta_checkpoint(s->model, dir));
    RETAIN_CHECK(s->seta_->top_k >= 1, kComponent, "--checkpoint {}: gate.safetensors says top_k = {}", dir.string(),
                 s->seta_->top_k);
    s->kind = "seta";
    s->tasks = s->seta_->tasks;
    std::vector<int64_t> column_task;
    for (int64_t t = 0; t < static_cast<int64_t>(s->tasks.size()); ++t) column_task.push_back(t);
    // The gate's probabilities over the tasks; the top one routes an "auto" request (top-1, as SETA's
    // own inference). With top_k > 1, as SETA::prepare_evaluation: the gate's top k (SetaGate::route),
    // weighted by their probabilities renormalised; the score stays the top task's probability.
    s->model->router = std::make_shared<PooledPromptRouter>(
        s->model->model->norm, s->seta_->feature_layers, [self, route_rows, column_task](const at::Tensor& features) {
          const auto& seta = *self->seta_;
          const auto probs = at::softmax(seta.gate->logits(features), -1).to(at::kCPU, at::kDouble);
          Mixer mixed;
          if (seta.top_k > 1) {
            auto [routes, weights] = seta.gate->route(features, seta.top_k);
            routes = routes.to(at::kCPU, at::kLong);
            weights = weights.to(at::kCPU, at::kFloat);
            mixed = [self, routes, weights, probs](int64_t row, RouteChoice& c) {
              c.mix.clear();
              for (int64_t i = 0; i < routes.size(1); ++i) {
                const int64_t t = routes[row][i].item<int64_t>();
                c.mix.push_back({t, self->tasks[t], weights[row][i].item<double>()});
              }
              c.route = c.mix.front().route;
              c.name = c.mix.front().name;
              c.score = probs[row][c.route].item<double>();
            };
          }
          route_rows(probs, column_task, self->tasks, mixed);
        });
  }
  return s;
}

std::vector<std::string> ServedModel::model_ids() const {
  std::vector<std::string> ids = {"auto", "base"};
  ids.insert(ids.end(), tasks.begin(), tasks.end());
  return ids;
}

std::optional<int64_t> ServedModel::resolve(const std::string& id) const {
  if (id == "auto" || id.empty()) return kRouteAuto;
  if (id == "base") return kRouteBase;
  for (size_t t = 0; t < tasks.size(); ++t)
    if (tasks[t] == id) return static_cast<int64_t>(t);
  return std::nullopt;
}

void ServedModel::prepare_prefill(const std::vector<int64_t>& requested) {
  requested_ = requested;
  choices_.clear();
  if (adapters_) {  // nothing to choose: the trained adapters, or none
    for (int64_t asked : requested) {
      RouteChoice c;
      if (asked == kRouteBase) {
        c.routed_by = "request";
      } else {
        c.route = kRouteAdapters;
        c.name = adapters_->method;
      }
      choices_.push_back(c);
    }
    apply_routes(choices_);
  } else if (!routed()) {
    for (size_t r = 0; r < requested.size(); ++r) {
      RouteChoice c;
      c.name = "model";
      choices_.push_back(c);
    }
  }
}

std::vector<RouteChoice> ServedModel::take_choices() {
  RETAIN_CHECK(choices_.size() == requested_.size(), kComponent, "the prefill routed {} of {} rows", choices_.size(),
               requested_.size());
  return std::move(choices_);
}

void ServedModel::set_decode_routes(const std::vector<RouteChoice>& routes) {
  if (routed()) apply_routes(routes);
}

void ServedModel::apply_routes(const std::vector<RouteChoice>& choices) {
  const auto device = model->model->embed_tokens->weight.device();
  if (seta_ && seta_->top_k > 1) {
    // (B, k) routes and weights, as SETA's top-k inference: a mixed row its k tasks, a single route
    // [t, −1, …] with weight 1, base all −1.
    const int64_t b = static_cast<int64_t>(choices.size());
    const int64_t k = std::min<int64_t>(seta_->top_k, static_cast<int64_t>(tasks.size()));
    auto routes = at::full({b, k}, kRouteBase, at::kLong);
    auto weights = at::zeros({b, k}, at::kFloat);
    for (int64_t r = 0; r < b; ++r) {
      const auto& c = choices[r];
      RETAIN_CHECK(static_cast<int64_t>(c.mix.size()) <= k, kComponent, "a mix of {} tasks, at most {}", c.mix.size(), k);
      if (c.mix.empty() && c.route >= 0) {
        routes[r][0] = c.route;
        weights[r][0] = 1.0;
      }
      for (size_t i = 0; i < c.mix.size(); ++i) {
        routes[r][static_cast<int64_t>(i)] = c.mix[i].route;
        weights[r][static_cast<int64_t>(i)] = c.mix[i].weight;
      }
    }
    seta_->set_routes(routes.to(device), weights.to(device));
    return;
  }
  std::vector<int64_t> routes;
  for (const auto& c : choices) routes.push_back(c.route);
  const auto t = at::tensor(routes, at::kLong).to(device);
  if (router_ || adapters_) set_routes(model, t);  // model/routed_lora.h: kRouteBase (−1) is the base model
  if (seta_) seta_->set_routes(t);                  // −1: no expert
}

}  // namespace retain::serve
