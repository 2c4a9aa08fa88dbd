// retain/train/methods/inflora.h — InfLoRA (Liang & Li, CVPR 2024, "InfLoRA: Interference-Free Low-Rank
// Adaptation for Continual Learning"; reference code liangyanshuo/InfLoRA, methods/inflora.py).
// methods.md §1, `inflora`.
//
// A new LoRA per task, earlier ones frozen and kept summed in the forward (as inclora), but the
// down-projection A_t (r × in; the paper's B_t) is not trained: before task t it is fixed, in every
// targeted layer, to
//
//     A_t = top-r eigenvectors (as rows) of  C̃ = (I − M Mᵀ) C (I − M Mᵀ)
//
// where C = mean over the real (non-padding) tokens of x xᵀ, x the layer's input under the current
// model (earlier adapters on), on `samples` training examples of task t, and M (in × k, orthonormal
// columns) the basis of the earlier tasks' input subspace. Only the up-projection B_t (out × r, zero
// at the start) trains. As the rows of A_t are orthogonal to M, the update ΔW = s B_t A_t leaves
// every input in span(M) — the earlier tasks' inputs, up to the energy threshold — unchanged.
//
// After task t the basis grows as in GPM (Saha et al. 2021, eq. 8–9) with the inputs of task t under
// the trained model (same examples): with λ̂_1 ≥ λ̂_2 ≥ … and u_i the eigenpairs of C̃,
//
//     k_new = the fewest leading directions with  tr(Mᵀ C M) + Σ_{i ≤ k_new} λ̂_i ≥ ε_t · tr(C),
//     M ← [M, u_1 … u_k_new]
//
// (tr(C) = ‖R‖²/N for the representation matrix R of the N tokens: GPM's energy criterion), and
// ε_t = threshold_start + (threshold_end − threshold_start) · (t − 1)/(T − 1) for task t of T
// (threshold_start alone when T = 1): 0.95 for the first task, rising linearly to 1.0 for the last.
// Directions carrying less than 1e-10 of tr(C) are never added (they are round-off, not inputs),
// so with ε = 1 the basis grows to the numerical rank of the inputs, not to the whole space.
//
// What the paper and its reference code do, and what we do:
//  * The paper keeps the old-task subspace with DualGPM: it stores M, or its orthogonal complement
//    when that is smaller — the same projector, stored more cheaply. We always store M (in × k,
//    float64, in CPU memory, moved to the device one layer at a time); k ≤ in.
//  * Paper: A_t from the principal directions of the projected inputs (I − MMᵀ)H (H = the layer's
//    inputs as columns), i.e. the eigenvectors of C̃ above. The reference code takes the SVD of the
//    covariance matrix itself: A_t = left singular vectors of (I − MMᵀ)C, i.e. eigenvectors of
//    (I − MMᵀ)C²(I − MMᵀ), and its basis update applies GPM's criterion to C as if C were the
//    representation matrix (energies = squared eigenvalues of C). `spectrum = "covariance"`
//    reproduces that exactly (C² in place of C everywhere); the default "inputs" is the paper's.
//  * The reference code scales A_t by 1/√3 (the row norm of PEFT's Kaiming-uniform A); our rows are
//    orthonormal. Only the scale of B_t's effective learning rate differs: alpha/√3 reproduces it.
//  * The reference code's threshold is ε_t = start + (end − start)·(t − 1)/T, never reaching `end`;
//    methods.md asks for 0.95 → 1.0 over the sequence, which we follow. For the first task the
//    reference takes one direction fewer than the criterion asks (its `r` before a commented-out
//    "+1"); we apply the same criterion after every task.
//  * The reference uses every training example (one no-grad pass before and one after training);
//    we use a seeded random subset of `samples` examples (all when the task has fewer, or when
//    samples = 0), the same subset before and after training.
//  * Where fewer than r directions are left outside span(M) (k > in − r), the remaining rows of A_t
//    are zero: those rank-one parts of the adapter then do nothing (the paper does not say).
// Numerics: C is accumulated in float64 (inputs cast before the product); the eigen-decompositions
// run in float64 on the model's device on Qᵀ C Q, Q an orthonormal basis of span(M)'s complement
// (complete QR of M), so every direction found lies outside span(M) even where eigenvalues are
// zero or repeated. Eigenvector signs are fixed (largest-magnitude entry positive), so results
// do not depend on the solver's sign choice. A_t is then cast to the model's dtype.
//
// Memory: during a capture pass one in × in float64 matrix per distinct layer input, on the device
// (layers whose input is the same tensor — q_proj and v_proj of one block — share one, computed
// once: 32 × 128 MiB for a 7B Llama); the bases stay in CPU memory (at most in × in float64 each).
#pragma once

#include "retain/train/methods/baselines.h"

#include <map>
#include <string>
#include <vector>

namespace retain {

struct InfLoraSettings {
  LoraSettings lora;
  int64_t samples = 256;
  int64_t capture_batch_size = 8;
  double threshold_start = 0.95;
  double threshold_end = 1.0;
  std::string spectrum = "inputs";

  template <class V>
  void visit(V& v) {
    lora.visit(v);
    v("samples", samples, "training examples per task whose layer inputs give A_t and the basis (0: all)");
    v("capture_batch_size", capture_batch_size, "examples per no-grad forward pass while collecting layer inputs");
    v("threshold_start", threshold_start, "GPM energy threshold ε after the first task");
    v("threshold_end", threshold_end, "ε after the last task (linear in between)");
    v("spectrum", spectrum,
      "inputs (paper: eigenvectors of the projected input covariance C) | covariance (reference code: SVD of C "
      "itself, i.e. C² in place of C)");
  }
  /// Throws retain::Error naming the bad key (r < 1, thresholds outside (0, 1] or decreasing, ...).
  void validate(const std::string& where = "method.inflora") const;
};

/// An orthonormal basis (in × (in − k), float64) of the orthogonal complement of span(basis), for
/// `basis` in × k with orthonormal columns (k may be 0: then the identity).
at::Tensor orthogonal_complement(const at::Tensor& basis);

/// The eigen-decomposition of C restricted to the orthogonal complement of span(basis):
/// eigenvalues of (I − MMᵀ) C (I − MMᵀ) on that complement, descending and clamped at 0, and their
/// eigenvectors as columns (in × (in − k)), each orthogonal to `basis`, signs fixed. Float64.
struct ProjectedSpectrum {
  at::Tensor values;   // (in − k)
  at::Tensor vectors;  // (in, in − k)
};
ProjectedSpectrum projected_spectrum(const at::Tensor& covariance, const at::Tensor& basis);

/// InfLoRA's down-projection: the top-`rank` eigenvectors of (I − MMᵀ) C (I − MMᵀ) as rows
/// (rank × in, float64, orthonormal and orthogonal to `basis`); rows past in − k are zero.
at::Tensor inflora_down_projection(const at::Tensor& covariance, const at::Tensor& basis, int64_t rank);

/// GPM's basis growth (see above): `basis` followed by the fewest leading eigenvectors of the
/// projected covariance that bring the captured energy to `threshold` · tr(C). Float64, in × k'.
/// The columns of `basis` are kept bit for bit; the new ones are re-orthonormalised against them.
at::Tensor gpm_extend_basis(const at::Tensor& covariance, const at::Tensor& basis, double threshold);

/// ε for task `task_index` (0-based) of `tasks`: start + (end − start) · task_index / (tasks − 1).
double inflora_threshold(int64_t task_index, int64_t tasks, double start, double end);

/// Attaches InfLoRA adapters named `name` to the layers `config` targets: LoRA adapters (A and B
/// zero; A with requires_grad off) that can also record their layer's inputs. Returns their count.
int64_t add_inflora_adapter(CausalLM& model, const LoraConfig& config, const std::string& name);

/// For every layer carrying the InfLoRA adapter `adapter_name`: C = mean over the real tokens of
/// `examples` of x xᵀ (in × in, float64, on `device`), x the layer's input in the model as it is
/// (eval mode, no gradient; the training mode is restored). Batches of `batch_size`, right-padded;
/// padding tokens are left out. Keyed by module name ("model.layers.0.self_attn.q_proj").
/// With `dist` (several ranks), each rank captures its contiguous share of `examples` (at least one
/// each) and the sums of x xᵀ and the token count are all-reduced: every rank returns the same C.
std::map<std::string, at::Tensor> inflora_input_covariances(CausalLM& model,
                                                            const std::vector<TokenizedExample>& examples,
                                                            const std::string& adapter_name, int64_t batch_size,
                                                            at::Device device, const DistContext* dist = nullptr);

class InfLoRA : public Method {
 public:
  /// Validates the settings (see InfLoraSettings::validate).
  explicit InfLoRA(InfLoraSettings settings);
  std::string name() const override { return "inflora"; }
  /// The input covariances are captured in shards and all-reduced (inflora_input_covariances).
  bool supports_data_parallel() const override { return true; }
  /// Adds task t's adapter and fixes its A from the projected input covariance.
  void on_task_start(TaskContext& ctx) override;
  /// B_t of every layer (A_t stays fixed).
  std::vector<at::Tensor> trainable(TaskContext& ctx) override;
  /// Grows the basis with task t's inputs under the trained model.
  void on_task_end(TaskContext& ctx) override;
  /// PEFT folders <dir>/task<i> (A fixed, B trained: plain LoRA adapters) and <dir>/inflora.safetensors
  /// (the bases, "basis.<module>", in × k float64), and <dir>/adapters.json (train/adapter_checkpoint.h).
  void save(RunContext& run, const std::filesystem::path& dir) override;
  /// Tensors "basis.<module>" (in × k, float64); meta: tasks_done and each basis' width.
  MethodState state(RunContext& run) override;
  /// Re-creates task 0 … tasks_done−1's adapters (values come from the runner) and the bases.
  void load_state(RunContext& run, int64_t tasks_done, const MethodState& state) override;

  /// The old-task basis of each adapted layer (in × k, float64, CPU; absent before the first task ends).
  const std::map<std::string, at::Tensor>& bases() const { return bases_; }
  /// Tasks whose inputs the bases hold.
  int64_t tasks_done() const { return tasks_done_; }
  const InfLoraSettings& settings() const { return settings_; }
  /// Adapter name of task t: "task<t>" (as inclora).
  static std::string adapter_name(int64_t task_index) { return IncLoRA::adapter_name(task_index); }

 private:
  std::map<std::string, at::Tensor> covariances(TaskContext& ctx) const;

  InfLoraSettings settings_;
  std::map<std::string, at::Tensor> bases_;
  int64_t tasks_done_ = 0;
};

}  // namespace retain
