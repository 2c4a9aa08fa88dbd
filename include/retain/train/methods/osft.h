// retain/train/methods/osft.h — OSFT, "Sculpting Subspaces: Constrained Full Fine-Tuning in LLMs for
// Continual Learning" (Nayak et al., arXiv 2504.07097, ICLR 2026), methods.md §3.
//
// Full fine-tuning in which every target matrix W (m × n) may change only outside the singular
// directions that carry earlier knowledge. At the start of every task, from the current weights:
//
//   1. W = U Σ Vᵀ (SVD in float32; float64 for a float64 model).
//   2. Layer importance I of every target matrix (see osft_importance below; by default the cosine
//      of its decoder block's input and output hidden states), normalised by its mean over all
//      target matrices.
//   3. Frozen rank k (osft_projection.h): `importance` k = ⌊clamp(mrr + I·(trr − mrr), 0, 1) ·
//      min(m, n)⌋ (paper, mrr 0.1, trr 0.8); `fixed` k = ⌊ratio · min(m, n)⌋; `progressive` task t
//      of T freezes ⌊t·min(m, n)/T⌋.
//   4. Only U_h = U[:, :k] and V_h = V[:, :k] are kept (or their complements, whichever is cheaper,
//      see SubspaceProjector); W stays one dense parameter, U Σ Vᵀ is never rebuilt.
//
// Every step: after backward the gradient of each target is projected (`strict` (I − U_hU_hᵀ) G
// (I − V_hV_hᵀ), default; `block` G − U_h U_hᵀ G V_h V_hᵀ), before clipping; and after the optimizer
// step the update that was actually applied is projected again, W ← W_old + P(W_new − W_old),
// because AdamW's element-wise scaling and its weight decay (which pulls W along its own, frozen,
// directions) move the step out of the allowed subspace. W_old is a snapshot taken in
// after_backward. Hence within a task, strict: U_hᵀ ΔW = 0 and ΔW V_h = 0; block: U_hᵀ ΔW V_h = 0,
// to rounding. A matrix with k = 0 is left alone entirely (no snapshot, no re-projection), so that
// frozen rank 0 everywhere is exactly `seqft`.
//
// Non-target parameters (embeddings, norms, lm_head, biases of target layers) train freely as in
// the paper's code (`non_target = "train"`) or stay frozen (`"freeze"`). Nothing is kept between
// tasks but the weights: the split is recomputed from the merged weights at every task start.
//
// Cost per step (strict): two projections, each 2·m·n·(min(k, m−k) + min(k, n−k)) multiply-adds
// per matrix (the long side of a non-square W keeps the k frozen columns when k ≤ dim/2), in the basis
// dtype (`auto` = the parameter's, so bfloat16 matmuls for a bfloat16 model; bfloat16 also for
// float32 parameters under bf16 autocast on CUDA, where float32 GEMMs would cost more than the step).
// bfloat16 bases are orthonormal only to ~4e-3, so ~1e-3 of each update then leaks into the frozen
// subspace; `float32` makes the projection exact to float32 rounding. Nothing is allocated per step.
// Memory: one snapshot of every target matrix, the stored bases (≤ min(k, dim − k) columns per
// side), and one scratch buffer of the largest matrix plus its projection temporaries.
//
// Checkpoints: save() writes `osft_ranks.json`, {HF tensor name ("model.layers.0.self_attn.q_proj
// .weight"): frozen rank used while training the task}.
#pragma once

#include "retain/core/settings.h"
#include "retain/train/method.h"
#include "retain/train/methods/osft_projection.h"

#include <map>
#include <string>
#include <vector>

namespace retain {

/// How many top singular directions of each matrix a task freezes (methods.md §3).
enum class RankRule { Importance, Fixed, Progressive };

}  // namespace retain

namespace retain::settings {
template <>
struct EnumNames<RankRule> {
  static constexpr std::pair<const char*, RankRule> values[] = {
      {"importance", RankRule::Importance}, {"fixed", RankRule::Fixed}, {"progressive", RankRule::Progressive}};
};
}  // namespace retain::settings

namespace retain {

struct OsftSettings {
  RankRule rank_rule = RankRule::Importance;
  double mrr = 0.1;
  double trr = 0.8;
  double ratio = 0.5;
  std::string projection = "strict";
  int64_t importance_examples = 128;
  std::string importance_scope = "block";
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  std::string non_target = "train";
  std::string basis_dtype = "auto";

  template <class V>
  void visit(V& v) {
    v("rank_rule", rank_rule,
      "importance (paper: mrr + I·(trr − mrr)) | fixed (ratio) | progressive (t/T at task t+1)");
    v("mrr", mrr, "minimum retention ratio of the importance rule");
    v("trr", trr, "target retention ratio of the importance rule");
    v("ratio", ratio, "frozen share of each matrix's rank for rank_rule = fixed");
    v("projection", projection, "strict ((I−UUᵀ) G (I−VVᵀ), PEFT / mini_trainer) | block (G − UUᵀGVVᵀ, paper)");
    v("importance_examples", importance_examples, "examples of the previous task for layer importance");
    v("importance_scope", importance_scope,
      "block (every matrix: cos of its decoder block's input and output) | matrix (square W: cos(x, Wx) of its "
      "own input; others: block) | truncate (every W: cos of the first min(m,n) coordinates of x and Wx, as the "
      "paper's research code)");
    v("targets", targets, "module names whose weight is split and projected (suffix match, as PEFT)");
    v("non_target", non_target, "train | freeze: what happens to every other parameter");
    v("basis_dtype", basis_dtype,
      "auto (the parameter's dtype; bfloat16 under run.autocast = bf16) | float32 | bfloat16: dtype of the bases "
      "and projections");
  }
  /// Throws retain::Error naming the bad key.
  void validate(const std::string& where = "method.osft") const;
};

/// Where layer importance reads its activations (OsftSettings::importance_scope).
enum class ImportanceScope { block, matrix, truncate };
/// "block" | "matrix" | "truncate"; anything else is an error naming `where`.
ImportanceScope parse_importance_scope(const std::string& name,
                                       const std::string& where = "method.osft.importance_scope");

/// Layer importance of the target matrices on `examples` (unnormalised), by HF module name
/// ("model.layers.0.self_attn.q_proj"). The paper (§3.2) takes "the cosine similarity between a
/// layer's input activations X and its outputs Y = W X", averaged over samples of the previous task;
/// its research code (Red-Hat-AI-Innovation-Team/orthogonal-subspace-learning,
/// auto_generate_target_svd_config, left commented out there) does it per matrix and, for non-square
/// W, slices x and W x to their first min(m, n) coordinates. Per `scope`:
///
///   block     every W: mean over tokens of cos(h, h'), h and h' the hidden states entering and
///             leaving the decoder block that holds W (one value per block, as AdaSVD's layer
///             importance, which the paper cites). The default: the only variant whose values are
///             comparable across matrix types (below).
///   matrix    square W (m = n): cos(x, W x) of the matrix's own input x (bias excluded);
///             non-square W: as `block` (methods.md §3 read literally)
///   truncate  every W: cos(x[:d], (W x)[:d]), d = min(m, n) (the research code)
///
/// Why `block` is the default: for q/o/gate/... the coordinates of x and W x belong to unrelated
/// spaces, so cos(x, W x) is near 0, while a residual block's cos(h, h') is near 1; mixing both
/// (`matrix`) and dividing by the mean freezes every non-square matrix entirely (r clamped to 1) and
/// gives the square ones just mrr. `truncate` has means near 0, so the normalisation is unstable.
///
/// The mean runs over every token (prompt and answer) of every example, token-weighted. Examples run
/// one at a time, unpadded, as in training (causal attention, no cache); an example longer than the
/// model's shortest sliding window is cut to it. Cosines are taken in float32 (float64 for a float64
/// model) and summed in float64. The model is left as it was (the probes that read the inputs of
/// matrices are removed again). Modules outside decoder blocks (lm_head) need scope `truncate`.
/// With `dist` (several ranks), each rank runs its contiguous share of the examples and the cosine
/// sums and token counts are all-reduced (float64): every rank returns the same importance.
std::map<std::string, double> osft_importance(CausalLM& model, const std::vector<std::string>& modules,
                                              const std::vector<TokenizedExample>& examples, at::Device device,
                                              ImportanceScope scope,
                                              const DistContext* dist = nullptr);

/// I / mean(I) over all entries; an error when the mean is not positive (the rule would invert).
std::map<std::string, double> normalise_importance(const std::map<std::string, double>& importance);

/// HF module names of the linear layers of `model` whose name matches one of `targets` (equal, or
/// ending in "." + target), in the model's order.
std::vector<std::string> osft_target_modules(CausalLM& model, const std::vector<std::string>& targets);

class OSFT : public Method {
 public:
  /// Validates the settings (see OsftSettings::validate).
  explicit OSFT(OsftSettings settings);
  std::string name() const override { return "osft"; }
  /// Importance is sharded over the ranks and all-reduced; the SVD and projections run on every rank
  /// on identical weights and summed gradients.
  bool supports_data_parallel() const override { return true; }
  bool updates_base() const override { return true; }
  void on_task_start(TaskContext& ctx) override;
  /// Every base parameter (non_target = train) or only the target weights (freeze), in the model's order.
  std::vector<at::Tensor> trainable(TaskContext& ctx) override;
  void after_backward(TaskContext& ctx) override;
  void after_step(TaskContext& ctx) override;
  /// Frees the bases, snapshots and scratch (the ranks stay for save() and state()).
  void on_task_end(TaskContext& ctx) override;
  void save(RunContext& run, const std::filesystem::path& dir) override;
  /// No tensors; meta {"ranks": {tensor name: k}, "tasks": n} of the last task, for reporting.
  MethodState state(RunContext& run) override;
  void load_state(RunContext& run, int64_t tasks_done, const MethodState& state) override;

  const OsftSettings& settings() const { return settings_; }
  /// Frozen rank per HF tensor name of the current (or last) task.
  const std::map<std::string, int64_t>& ranks() const { return ranks_; }
  /// Normalised importance per HF tensor name of the current (or last) task (rank_rule importance).
  const std::map<std::string, double>& importance() const { return importance_; }
  /// The projector of a target weight (HF tensor name) during a task; an error outside one.
  const SubspaceProjector& projector(const std::string& tensor_name) const;
  /// Tasks whose training has started since the run began (or were restored by load_state).
  int64_t tasks_started() const { return tasks_; }

 private:
  struct Target {
    std::string name;  // HF tensor name
    at::Tensor weight;
    SubspaceProjector projector;
    at::Tensor snapshot;   // W before the optimizer step (empty when k = 0)
    bool stepped = false;  // had a gradient this step
  };
  OsftSettings settings_;
  OsftProjection projection_;
  std::vector<Target> targets_;
  at::Tensor scratch_;  // flat, the basis dtype: the update of the largest matrix + the projection's temporaries
  std::map<std::string, int64_t> ranks_;
  std::map<std::string, double> importance_;
  int64_t tasks_ = 0;
};

}  // namespace retain
