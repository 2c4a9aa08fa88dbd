// retain/train/methods/seta.h — SETA: a mixture of sparse experts for task-agnostic continual learning
// ("Split-on-Share", arXiv 2601.17616; adaptive anchoring and routing-aware regularisation from
// arXiv 2606.07500). methods.md §4; every decision, its alternatives and the options in
// docs/methods/seta.md.
//
// Experts are sparse deltas on the target matrices (q, k, v, o, gate, up, down of the layers ≥ L_g),
// each an index set and trainable values (model/sparse_expert.h), never merged into W.
//
//   selection     before task t, per target matrix W: s = |W ⊙ ∇_W L_t| (`sensitivity`, the gradient
//                 of the loss summed over `selection_batches` batches of task t at the base model) or
//                 Σ_b (∇_W L_b)² (`fisher`); M_t = the top-k entries of s (select_top_k), k = ρ·|W|
//                 with ρ chosen so that `trainable_share` of the model's parameters train, or `density`,
//                 or k = r·(in + out) (`lora_rank_budget` r: a rank-r LoRA's size, for benchmarks).
//   split-on-share  entries of M_t nobody owns form task t's unique expert `unique_t<t>` (values 0).
//                 An owned entry joins the shared expert keyed by its new owner set K ∪ {t}, where K
//                 is the set of tasks whose M contained it (split_on_share): first shared (K = {s},
//                 owned by unique_t<s>): a new value 0 in `shared_t<s>_t<t>`, added on top of s's
//                 unique value, which never changes; already shared (in S_K): the value moves, as it is,
//                 from S_K to S_{K∪{t}}. Every entry thus has at most one unique and one shared value.
//   route t       W + Σ_{experts e with t ∈ owners(e)} scatter(δ_e): task t's unique expert and every
//                 shared expert it belongs to.
//   training t    the unique expert trains freely; each shared expert created at t trains under
//                 elastic anchoring λ Σ_j Ω̂_j (δ_j − δ*_j)² (anchoring_penalty), δ* = its values at the
//                 start of the task, Ω_j = Σ_{s ∈ K} F_s(j) the accumulated importance of its earlier
//                 owners, normalised per expert (normalise_importance: divided by its mean, default).
//   importance    after task t: F_t(j) = mean over `importance_samples` training examples of the
//                 squared gradient of the example's answer loss w.r.t. δ_j on route t (diagonal
//                 empirical Fisher, as EWC), for every entry j of M_t.
//   gate          features f = mean over the prompt tokens of norm(hidden after L_g layers) (the
//                 model's final norm, as ASR; no expert sits below L_g, so features never change). A
//                 linear layer or a 1-hidden-layer ReLU MLP → one logit per task. After task t: a
//                 class is added and the gate trains (full batch, Adam) on task t's features (label
//                 t) and on pseudo-features of every earlier task s drawn from N(μ_s, Σ_s) (stored
//                 mean and shrunk covariance of its features; no raw data), class-balanced
//                 cross-entropy plus the routing-aware term γ · KL(p_old ‖ p_new) on the
//                 pseudo-features (p_old: the gate before this task, zero on the new class).
//   inference     a PromptRouter (model/causal_lm.h, as ASR) pools the prompt after L_g layers, the
//                 gate picks top-1 (or top-k, weights renormalised) and every sample of the batch
//                 gets its routes' experts in the same pass.
//
// Checkpoints (--save-checkpoints), per task k: experts.safetensors ("<module>.seta.<expert>.indices"
// int64 and ".values", e.g. "model.layers.1.self_attn.q_proj.seta.unique_t0.values"),
// gate.safetensors, feature_stats.safetensors and experts.json (ownership: each expert's owner tasks
// and size, per-task counts).
#pragma once

#include "retain/model/sparse_expert.h"
#include "retain/train/method.h"
#include "retain/train/methods/seta_gate.h"
#include "retain/train/methods/seta_selection.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace retain {

struct SetaSettings {
  std::vector<std::string> target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  double trainable_share = 0.01;
  double density = 0;
  int64_t lora_rank_budget = 0;
  std::string selection = "sensitivity";
  int64_t selection_batches = 4;
  int64_t selection_batch_size = 8;
  double anchor_lambda = 1.0;
  std::string importance_norm = "mean";
  int64_t importance_samples = 32;
  int64_t feature_layers = 4;
  int64_t feature_batch_size = 16;
  int64_t gate_hidden = 0;
  double gate_lr = 1e-2;
  int64_t gate_steps = 300;
  double gate_kl = 1.0;
  bool gate_replay = true;
  int64_t pseudo_samples = 64;
  std::string covariance = "full";
  double covariance_shrinkage = 0.1;
  int64_t top_k = 1;
  std::string kernel = "auto";

  template <class V>
  void visit(V& v) {
    v("target_modules", target_modules, "matrices that carry experts (suffix match on module names), layers ≥ L_g");
    v("trainable_share", trainable_share, "share of all model parameters selected per task (sets ρ when density = 0)");
    v("density", density, "ρ: share of each target matrix selected per task (0: from trainable_share)");
    v("lora_rank_budget", lora_rank_budget,
      "r > 0: each matrix selects r·(in + out) entries, the size of a rank-r LoRA on it (overrides ρ)");
    v("selection", selection, "sensitivity (|W ⊙ ∇W L| of the summed batch losses) | fisher (Σ over batches of ∇W L²)");
    v("selection_batches", selection_batches, "batches of the new task's training data scored before it trains");
    v("selection_batch_size", selection_batch_size, "examples per selection batch");
    v("anchor_lambda", anchor_lambda, "λ of the elastic anchoring λ Σ Ω̂ (δ − δ*)² of shared experts");
    v("importance_norm", importance_norm, "mean | max | none: how Ω is normalised within each shared expert");
    v("importance_samples", importance_samples, "examples per task for the diagonal Fisher of its experts");
    v("feature_layers", feature_layers, "L_g: decoder layers below the gate's features (at most n_layers / 2)");
    v("feature_batch_size", feature_batch_size, "prompts per forward when computing gate features");
    v("gate_hidden", gate_hidden, "0: linear gate; > 0: one hidden ReLU layer of this width");
    v("gate_lr", gate_lr, "Adam learning rate of the gate");
    v("gate_steps", gate_steps, "full-batch gate updates after each task");
    v("gate_kl", gate_kl, "γ of the routing-aware KL term on pseudo-features of earlier tasks");
    v("gate_replay", gate_replay, "train the gate on pseudo-features of earlier tasks (cross-entropy and KL)");
    v("pseudo_samples", pseudo_samples, "pseudo-features drawn per earlier task");
    v("covariance", covariance, "full | diagonal: the stored feature covariance of each task");
    v("covariance_shrinkage", covariance_shrinkage, "α: pseudo-features use (1 − α) Σ + α (tr Σ / d) I");
    v("top_k", top_k, "experts per sample at inference: 1 (top-1) or k (gate probabilities renormalised)");
    v("kernel", kernel,
      "auto (= merged) | gather | csr | merged: how experts enter the product in training");
  }
  /// Throws naming the bad key (`where`.key).
  void validate(const std::string& where = "method.seta") const;
};

/// A SETA checkpoint (what SETA::save writes: experts.json, experts.safetensors, gate.safetensors)
/// installed on a base model: every expert on its matrix as the "seta" adapter, and the gate. Routes
/// are per sample, by task index (−1: no expert, the base model).
struct SetaCheckpoint {
  std::vector<std::string> tasks;  // the gate's classes, in training order
  std::shared_ptr<SetaGate> gate;
  std::vector<SparseExperts> adapters;
  int64_t feature_layers = 0;  // L_g: the gate reads the prompt after this many layers
  int64_t top_k = 1;           // as trained (method.seta.top_k)
  /// Every adapter's per-sample routes: (B,) or (B, k) task ids, weights as SparseExperts::set_routes.
  void set_routes(const at::Tensor& routes, const at::Tensor& weights = {}) const;
};

/// Loads a SETA checkpoint folder onto `model` (its base weights, as SETA leaves them) and checks it
/// against the model: every module exists with the saved shape, the expert tensors and the gate are
/// there and agree with experts.json. Errors name the file and the key or tensor. Installs no router.
SetaCheckpoint load_seta_checkpoint(CausalLM& model, const std::filesystem::path& dir);

class SETA : public Method {
 public:
  /// Validates the settings.
  explicit SETA(SetaSettings settings);
  std::string name() const override { return "seta"; }
  /// Selection statistics, importance (Fisher) and the gate's features are sharded over the ranks
  /// and reduced; the anchoring penalty depends on parameters only.
  bool supports_data_parallel() const override { return true; }
  /// Resolves L_g and the entries per matrix, attaches an empty SparseExperts "seta" to every target.
  void on_run_start(RunContext& run) override;
  /// Selects M_t, splits it into the unique and shared experts, routes every sample to task t.
  void on_task_start(TaskContext& ctx) override;
  /// The values of the experts created for task t (its unique and new shared experts).
  std::vector<at::Tensor> trainable(TaskContext& ctx) override;
  /// The elastic anchoring of the shared experts (undefined when there are none or λ = 0).
  at::Tensor extra_loss(TaskContext& ctx, const Batch& batch, const at::Tensor& logits) override;
  /// Importance of task t's entries, feature statistics, gate update.
  void on_task_end(TaskContext& ctx) override;
  void prepare_evaluation(RunContext& run, int64_t tasks_seen) override;
  std::optional<std::vector<double>> routing_accuracy(RunContext& run, int64_t tasks_seen) override;
  json resolved_settings(RunContext& run) const override;
  /// {"experts": [per task {"task", "unique", "shared", "shared_new", "shared_moved", "new_values",
  /// "total_values"}]}.
  json report(RunContext& run) override;
  void save(RunContext& run, const std::filesystem::path& dir) override;
  MethodState state(RunContext& run) override;
  void load_state(RunContext& run, int64_t tasks_done, const MethodState& state) override;

  static constexpr const char* kAdapterName = "seta";
  /// "unique_t3", "shared_t0_t3".
  static std::string expert_name(uint64_t owners, bool unique);

  /// Entry counts of one task's experts when it started.
  struct TaskExperts {
    std::string task;
    int64_t unique = 0;        // entries of its unique expert
    int64_t shared = 0;        // entries of M_t already owned (its shared experts)
    int64_t shared_new = 0;    // of those, first shared (a new value)
    int64_t shared_moved = 0;  // of those, already shared (the value moved)
    int64_t new_values = 0;    // parameters added: unique + shared_new
    int64_t total_values = 0;  // all expert values after the split
  };
  const std::vector<TaskExperts>& task_experts() const { return task_experts_; }
  const SetaSettings& settings() const { return settings_; }
  int64_t feature_layers() const { return feature_layers_; }
  const std::shared_ptr<SetaGate>& gate() const { return gate_; }
  /// Module name and adapter of every target matrix.
  std::vector<std::pair<std::string, SparseExperts>> expert_layers() const;
  /// The anchoring term at the current values (undefined outside a task with shared experts).
  at::Tensor anchoring() const;

 private:
  struct Layer {
    std::string module;
    SparseExperts adapter{nullptr};
    at::Tensor weight;
    int64_t entries = 0;                                        // |M_t| per task
    std::vector<std::pair<at::Tensor, at::Tensor>> importance;  // per task: (M_t indices, F_t)
  };
  struct Anchor {
    at::Tensor values;  // the shared expert's parameter
    at::Tensor start;   // δ*
    at::Tensor omega;   // Ω̂
  };
  std::vector<at::Tensor> select_entries(TaskContext& ctx);  // M_t of every target matrix
  void split_layer(Layer& layer, const at::Tensor& selected, int64_t task, TaskExperts& counts);
  void compute_importance(TaskContext& ctx);
  void attach(RunContext& run);

  SetaSettings settings_;
  SparseKernel kernel_ = SparseKernel::Gather;
  int64_t feature_layers_ = 0;
  double density_ = 0;  // resolved ρ (0 with lora_rank_budget)
  std::vector<Layer> layers_;
  std::vector<Anchor> anchors_;
  std::shared_ptr<SetaGate> gate_;
  std::vector<FeatureStats> stats_;
  std::vector<TaskExperts> task_experts_;
};

}  // namespace retain
