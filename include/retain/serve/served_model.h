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
//   --model DIR --checkpoint CK     CK = OUT/seta/checkpoints/task_<k> (experts.json, experts and gate),
//                                   or OUT/seta: as asr, the gate's top task for "auto" (its probability
//                                   as the score); trained with top_k = k > 1, "auto" mixes the gate's
//                                   top k tasks' experts weighted, as SETA's own inference (per
//                                   sample, so such rows batch with the others), and a task id is
//                                   that task alone
//   --model DIR --checkpoint CK     CK = OUT/<m>/checkpoints/task_<k> or OUT/<m> for m = seqlora,
//                                   inclora, olora, inflora (adapters.json + PEFT adapters,
//                                   train/adapter_checkpoint.h): these methods have no router and are
//                                   told no task, so "auto" and every task id run what their own
//                                   evaluation runs — every trained adapter, summed — and say so:
//                                   {"route": "<m>", "routed_by": "none"}, no score; "base" is the
//                                   base model
//
// Routing happens in the prefill: the prompt runs through the first L_f layers, the router scores
// every task, and the deep layers run with each sample's own adapter (model/routed_lora.h), so one
// batch mixes tasks. Adapter checkpoints hold their adapters as one routed adapter of rank Σ r
// (add_routed_lora_sums), so "base" rows mix with the others too. Any other folder is an error at
// start-up that says what is supported.
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
struct AdapterCheckpoint;
struct AsrRouter;
struct SetaCheckpoint;
}

namespace retain::serve {

/// Route of a request: a task index, kRouteBase (no adapter) or kRouteAuto (the router decides).
inline constexpr int64_t kRouteBase = -1;
inline constexpr int64_t kRouteAuto = -2;

/// Where a sample went: {"route": task name | "base" | "model" (no checkpoint) | the method (adapter
/// checkpoints: every adapter), "routed_by": "router" | "request" | "none", "score": the router's
/// output for the chosen task (router only)}.
/// SETA trained with top_k > 1 mixes, for an "auto" request, the gate's top k tasks:
/// "mix": [{"route": task name, "weight": its probability renormalised over the k}], the first one
/// `route` (and `score` its probability before renormalising).
struct RouteChoice {
  struct Part {
    int64_t route;
    std::string name;
    double weight;
  };
  int64_t route = kRouteBase;
  std::string name = "base";
  std::string routed_by = "none";
  std::optional<double> score;
  std::vector<Part> mix;  // empty: `route` alone
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
  std::string kind = "model";       // "model" | "asr" | "seta" | "seqlora" | "inclora" | "olora" | "inflora"
  std::vector<std::string> tasks;   // the checkpoint's tasks, in training order
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
  /// Before a decode step: each row's route, as its prefill chose it.
  void set_decode_routes(const std::vector<RouteChoice>& routes);

 private:
  explicit ServedModel(Tokenizer t) : tokenizer(std::move(t)) {}
  std::shared_ptr<AsrRouter> router_;
  std::shared_ptr<SetaCheckpoint> seta_;
  std::shared_ptr<AdapterCheckpoint> adapters_;
  bool routed() const { return router_ || seta_ || adapters_; }
  /// Applies each row's route (a task index, its mix, or kRouteBase) to the model's adapters.
  void apply_routes(const std::vector<RouteChoice>& choices);
  std::vector<int64_t> requested_;
  std::vector<RouteChoice> choices_;
};

/// A checkpoint argument resolved to a task_<k> folder: CK itself when it holds router.safetensors (asr),
/// experts.json (seta) or adapters.json (seqlora, inclora, olora, inflora), else CK/checkpoints/task_<largest k>. Errors say what the folder holds and what was expected.
std::filesystem::path resolve_checkpoint(const std::filesystem::path& checkpoint);

}  // namespace retain::serve
