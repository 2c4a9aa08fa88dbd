// retain/train/methods/asr.h — ASR: Analytic Subspace Routing (Any-SSR, Tong et al., arXiv 2503.13575,
// ICCV 2025). methods.md §2; decisions in docs/methods/asr.md.
//
// Each task gets its own LoRA (q_proj, v_proj of the layers ≥ L_f only; r 8, α 32, dropout 0.1),
// trained from the base model with every other adapter out of the forward. A closed-form router picks
// the task for each input:
//
//   feature   f = mean over the prompt's tokens of norm(hidden after the first L_f decoder layers)
//             (the model's final norm; no adapter sits below L_f, so features never change)
//   expand    φ(f) = act(f Φᵀ), Φ: E × d frozen, N(0, 0.02²), fixed seed (rls_router.h)
//   route     argmax φ(f) W, W the ridge regression onto one-hot task ids (λ 100), absorbed task by
//             task by exact recursive least squares — the same W as training on all prompts at once
//
// Inference (scoring and generation): the prompt runs through the first L_f layers once, the router
// picks a task per sample, and the deep layers run one batched pass in which every sample uses its
// own adapter (model/routed_lora.h). L_f = min(feature_layers, n_layers / 2): 4 for a 32-layer model,
// 1 for the 2-layer test model; the resolved value is written into the run's saved config.
//
// Optional general branch (`general_task`): that task's training prompts are absorbed first as class
// "<general>" (column 0), routed to the base model without adapter.
//
// Checkpoints (--save-checkpoints), per task k: router.safetensors (AsrRouter::save) and one PEFT
// adapter folder "task<t>" per task trained so far.
#pragma once

#include "retain/model/routed_lora.h"
#include "retain/train/methods/baselines.h"
#include "retain/train/prompt_features.h"  // resolve_feature_layers, prompt_features: the router's features
#include "retain/train/rls_router.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace retain {

struct AsrSettings {
  LoraSettings lora = [] {
    LoraSettings s;
    s.dropout = 0.1;  // the paper's setting
    return s;
  }();
  int64_t feature_layers = 4;
  int64_t expansion_dim = 10000;
  std::string activation = "relu";
  int64_t expansion_seed = 0;
  double lambda = 100;
  std::string solver = "woodbury";
  std::string router_dtype = "float64";
  int64_t block_size = 1024;
  int64_t feature_batch_size = 16;
  std::string general_task;

  template <class V>
  void visit(V& v) {
    lora.visit(v);
    v("feature_layers", feature_layers, "L_f: decoder layers of the frozen feature extractor (at most n_layers / 2)");
    v("expansion_dim", expansion_dim, "E: size of the frozen random expansion of the features");
    v("activation", activation, "relu (the paper's text) | none (its released code): after the expansion");
    v("expansion_seed", expansion_seed, "seed of the random expansion");
    v("lambda", lambda, "ridge λ of the router");
    v("solver", solver, "woodbury (recursive R = (Σ XᵀX + λI)⁻¹) | cholesky (A = Σ XᵀX + λI, solved on use)");
    v("router_dtype", router_dtype, "float64 | float32: precision of the router");
    v("block_size", block_size, "prompts absorbed per router update");
    v("feature_batch_size", feature_batch_size, "prompts per forward when computing router features");
    v("general_task", general_task, "task folder whose train prompts route to the base model (\"\": no general branch)");
  }
  /// Throws naming the bad key (`where`.key).
  void validate(const std::string& where = "method.asr") const;
};

/// The whole router: expansion Φ, the RLS ridge router and the names of its columns.
struct AsrRouter {
  static constexpr const char* kGeneralClass = "<general>";

  int64_t feature_layers = 0;  // L_f
  ExpansionActivation activation = ExpansionActivation::Relu;
  int64_t expansion_seed = 0;
  at::Tensor expansion;              // Φ (E, d), the router's dtype and device
  RlsRouter rls;
  std::vector<std::string> classes;  // column names: tasks in training order ("<general>" first if any)

  /// φ(features): (N, d) → (N, E).
  at::Tensor expand(const at::Tensor& features) const;
  /// Column chosen for each row of features (N, d): (N,) int64.
  at::Tensor predict(const at::Tensor& features);
  /// Adapter index chosen for each row: the task's position among the task columns, −1 for the
  /// general class. (N,) int64 on the router's device.
  at::Tensor routes(const at::Tensor& features);
  /// Adds a zero column named `name`; returns its index.
  int64_t add_class(const std::string& name);
  /// Absorbs features (N, d), all labelled `column`, `block_size` rows at a time.
  void absorb(const at::Tensor& features, int64_t column);
  /// Number of task columns (the general class excluded).
  int64_t tasks() const;

  /// router.safetensors: tensors "W" (E × classes), "expansion" (E × d), "R" (woodbury) or "A" and
  /// "B" (cholesky); metadata "format" = "retain.asr_router/1", "tasks" = JSON list of column names,
  /// "adapters" = JSON list of the adapter folders (task order), "lambda", "activation",
  /// "feature_layers", "dtype", "solver", "block_size", "expansion_seed".
  void save(const std::filesystem::path& path, const std::vector<std::string>& adapter_folders);
  /// Reads what save() wrote onto `device`; errors name the file and the key or tensor.
  static AsrRouter load(const std::filesystem::path& path, at::Device device = at::kCPU);
  /// The "adapters" list of a saved router.
  static std::vector<std::string> saved_adapters(const std::filesystem::path& path);
};

/// Installs routed inference on the model: a PromptRouter that pools the features after
/// router->feature_layers layers and sets each sample's route on the RoutedLora adapters `routed_name`
/// (which must exist: add_routed_lora). The model keeps a reference to `router`.
void install_asr_routing(CausalLM& model, std::shared_ptr<AsrRouter> router, const std::string& routed_name);
/// Removes the PromptRouter and clears every route.
void remove_asr_routing(CausalLM& model);

/// Loads an ASR checkpoint folder (router.safetensors + the PEFT adapter folders it lists) onto a
/// base model and installs routed inference (adapters "task<t>" disabled, routed adapter "asr").
/// Returns the router.
std::shared_ptr<AsrRouter> load_asr_checkpoint(CausalLM& model, const std::filesystem::path& dir);

class ASR : public Method {
 public:
  /// Validates the settings (AsrSettings::validate).
  explicit ASR(AsrSettings settings);
  std::string name() const override { return "asr"; }
  /// The router's features are computed in shards and gathered: every rank absorbs the same rows.
  bool supports_data_parallel() const override { return true; }
  /// Resolves L_f, draws Φ, creates the router (and absorbs the general branch).
  void on_run_start(RunContext& run) override;
  /// Removes routing, adds task t's LoRA on the layers ≥ L_f and disables every other adapter.
  void on_task_start(TaskContext& ctx) override;
  std::vector<at::Tensor> trainable(TaskContext& ctx) override;
  /// Absorbs the task's training prompts into the router (a new column).
  void on_task_end(TaskContext& ctx) override;
  /// Routed inference over the tasks seen (the base model before the first).
  void prepare_evaluation(RunContext& run, int64_t tasks_seen) override;
  std::optional<std::vector<double>> routing_accuracy(RunContext& run, int64_t tasks_seen) override;
  json resolved_settings(RunContext& run) const override;
  void save(RunContext& run, const std::filesystem::path& dir) override;
  MethodState state(RunContext& run) override;
  void load_state(RunContext& run, int64_t tasks_done, const MethodState& state) override;

  /// Adapter name of task t: "task<t>"; the routed adapter is "asr".
  static std::string adapter_name(int64_t task_index) { return "task" + std::to_string(task_index); }
  static constexpr const char* kRoutedName = "asr";
  const AsrSettings& settings() const { return settings_; }
  const std::shared_ptr<AsrRouter>& router() const { return router_; }
  int64_t feature_layers() const { return feature_layers_; }
  /// The per-task LoRA configuration for a model of `n_layers` layers (layers ≥ L_f only).
  LoraConfig lora_config(int64_t n_layers) const;

 private:
  std::vector<std::string> adapter_names(int64_t tasks) const;
  AsrSettings settings_;
  int64_t feature_layers_ = 0;
  std::shared_ptr<AsrRouter> router_;
};

}  // namespace retain
