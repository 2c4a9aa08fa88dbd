// retain/serve/served_model.h — what `retain serve` serves: a base model, and optionally a method's
// checkpoint that routes each request to a task by itself.
//
//   --model DIR                     a Hugging Face folder, served as it is (ids "auto" and "base" are the
//                                   same model)
//   --model DIR --checkpoint CK     CK = OUT/asr/checkpoints/task_<k> (router.safetensors + one PEFT
//                                   adapter per task), or OUT/asr for its last one: ids "auto" (the RLS
//                                   router picks the task from the prompt), "base" (no adapter) and
//                                   one per task (that task's adapter; the router is not asked)
//
// Routing happens in the prefill: the prompt runs through the first L_f layers, the router scores
// every task, and the deep layers run with each sample's own adapter (model/routed_lora.h), so one
// batch mixes tasks. Other checkpoints (seta's experts and gate, adapters without a router) are an
// error at start-up that says what is supported.
#pragma once

#include "retain/core/json.h"
#include "retain/model/causal_lm.h"
#include "retain/model/generation_config.h"
#include "retain/serve/chat_template.h"
#include "retain/tokenizer/tokenizer.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace retain {
struct AsrRouter;
struct SetaCheckpoint;
}

namespace retain::serve {

/// Route of a request: a task index, kRouteBase (no adapter) or kRouteAuto (the router decides).
inline constexpr int64_t kRouteBase = -1;
inline constexpr int64_t kRouteAuto = -2;

/// Where a sample went: {"route": task name | "base", "routed_by": "router" | "request" | "none",
/// "score": the router's output for the chosen task (router only)}.
struct RouteChoice {
  int64_t route = kRouteBase;
  std::string name = "base";
  std::string routed_by = "none";
  std::optional<double> score;
  json to_json() const;
};

struct ServedModelOptions {
  std::filesystem::path model_dir;
  std::filesystem::path checkpoint;  // empty: none
  std::string device = "cpu";
  std::string dtype = "float32";
  int64_t max_model_len = 0;  // 0: the config's max_position_embeddings
};

class ServedModel {
 public:
  /// Loads everything; errors name the file and what was expected.
  static std::unique_ptr<ServedModel> load(const ServedModelOptions& options);

  CausalLM model{nullptr};
  Tokenizer tokenizer;
  std::string name;                 // the model folder's name (for logs and /v1/models' owned_by)
  std::string kind = "model";       // "model" | "asr" | "seta"
  std::vector<std::string> tasks;   // routed tasks, in training order (asr, seta)
  int64_t max_model_len = 0;
  GenerationDefaults generation;
  std::optional<ChatTemplate> chat_template;
  std::string bos_token, eos_token;  // for the chat template

  /// Model ids of /v1/models: "auto", "base", then the tasks.
  std::vector<std::string> model_ids() const;
  /// The route a model id asks for; nullopt for an unknown id.
  std::optional<int64_t> resolve(const std::string& id) const;

  /// Before a prefill forward of a batch whose rows ask for `requested` routes: makes the model
  /// route each row (the router's choice for kRouteAuto rows). After the forward, take_choices()
  /// returns where every row went. Scheduler thread only.
  void prepare_prefill(const std::vector<int64_t>& requested);
  std::vector<RouteChoice> take_choices();
  /// Before a decode step: each row's adapter (task index or kRouteBase).
  void set_decode_routes(const std::vector<int64_t>& routes);

 private:
  explicit ServedModel(Tokenizer t) : tokenizer(std::move(t)) {}
  std::shared_ptr<AsrRouter> router_;
  std::shared_ptr<SetaCheckpoint> seta_;
  bool routed() const { return router_ || seta_; }
  /// Applies each row's route (task index or kRouteBase) to the model's adapters.
  void apply_routes(const std::vector<int64_t>& routes);
  std::vector<int64_t> requested_;
  std::vector<RouteChoice> choices_;
};

/// A checkpoint argument resolved to a task_<k> folder: CK itself when it holds router.safetensors (asr)
/// or experts.json (seta),
/// else CK/checkpoints/task_<largest k>. Errors say what the folder holds and what was expected.
std::filesystem::path resolve_checkpoint(const std::filesystem::path& checkpoint);

}  // namespace retain::serve
