#include "retain/serve/served_model.h"

#include "retain/core/error.h"
#include "retain/model/loader.h"
#include "retain/model/routed_lora.h"
#include "retain/train/methods/asr.h"
#include "retain/train/methods/seta.h"
#include "retain/train/prompt_features.h"

#include <algorithm>
#include <regex>

namespace retain::serve {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "serve";

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
  return j;
}

fs::path resolve_checkpoint(const fs::path& checkpoint) {
  RETAIN_CHECK(fs::is_directory(checkpoint), kComponent, "--checkpoint {}: no such folder", checkpoint.string());
  auto kind_of = [](const fs::path& dir) -> std::string {
    if (fs::exists(dir / "router.safetensors")) return "asr";
    if (fs::exists(dir / "experts.json")) return "seta";
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
  RETAIN_CHECK(kind == "asr" || kind == "seta", kComponent,
               "--checkpoint {}: {}; retain serve routes asr checkpoints (router.safetensors and one adapter per "
               "task) and seta checkpoints (experts.json, experts and gate), from `retain run --save-checkpoints`; "
               "serve a full model folder (osft, seqft, ...) with --model",
               dir.string(), kind == "model" ? "a full model folder" : "neither a routed checkpoint nor a method's run folder");
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
  auto route_rows = [self, choose](const at::Tensor& scores, const std::vector<int64_t>& column_task,
                                   const std::vector<std::string>& column_name) {
    const int64_t rows = scores.size(0);
    RETAIN_CHECK(static_cast<int64_t>(self->requested_.size()) == rows, kComponent,
                 "a prefill of {} rows, but {} routes were prepared", rows, self->requested_.size());
    self->choices_.clear();
    std::vector<int64_t> routes;
    for (int64_t r = 0; r < rows; ++r) {
      self->choices_.push_back(choose(self->requested_[r], scores[r], column_task, column_name));
      routes.push_back(self->choices_.back().route);
    }
    self->apply_routes(routes);
  };
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
                     column_task, column_name);
        });
  } else {
    s->seta_ = std::make_shared<SetaCheckpoint>(load_seta_checkpoint(s->model, dir));
    RETAIN_CHECK(s->seta_->top_k == 1, kComponent,
                 "--checkpoint {}: trained with method.seta.top_k = {}; retain serve routes each request to one task "
                 "(top_k = 1)", dir.string(), s->seta_->top_k);
    s->kind = "seta";
    s->tasks = s->seta_->tasks;
    std::vector<int64_t> column_task;
    for (int64_t t = 0; t < static_cast<int64_t>(s->tasks.size()); ++t) column_task.push_back(t);
    // The gate's probabilities over the tasks; the top one routes an "auto" request (top-1, as SETA's
    // own inference).
    s->model->router = std::make_shared<PooledPromptRouter>(
        s->model->model->norm, s->seta_->feature_layers, [self, route_rows, column_task](const at::Tensor& features) {
          route_rows(at::softmax(self->seta_->gate->logits(features), -1).to(at::kCPU, at::kDouble), column_task,
                     self->tasks);
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
  if (!routed()) {
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

void ServedModel::set_decode_routes(const std::vector<int64_t>& routes) {
  if (routed()) apply_routes(routes);
}

void ServedModel::apply_routes(const std::vector<int64_t>& routes) {
  const auto t = at::tensor(routes, at::kLong).to(model->model->embed_tokens->weight.device());
  if (router_) set_routes(model, t);  // model/routed_lora.h: kRouteBase (−1) is the base model
  if (seta_) seta_->set_routes(t);    // −1: no expert
}

}  // namespace retain::serve
