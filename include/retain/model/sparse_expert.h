// retain/model/sparse_expert.h — sparse deltas on a linear layer's weight: SETA's experts.
//
// A sparse expert on a linear layer W (out × in) is a fixed index set S (flat row-major indices into
// W, sorted, distinct) and trainable values δ on it: ΔW = scatter(δ, S). Its contribution to the
// layer's output y = x Wᵀ is computed from the entries alone, never by building a dense ΔW:
//
//     y[..., row_k] += δ_k · x[..., col_k]        for every entry k = (row_k, col_k) of S
//
// Two kernels compute this product alone (sparse_delta_matmul), both differentiable in x and δ:
//
//   gather  x's columns gathered per entry, multiplied by δ and index-added into y's columns; the
//           backward is the same in reverse (grad x) and a sampled product Σ_n gy[n,row_k] x[n,col_k]
//           (grad δ). Memory N × chunk per step (chunks of entries bound it); any dtype, any device.
//   csr     ΔW as a compressed-sparse-row matrix: y = (ΔW xᵀ)ᵀ and grad x = (ΔWᵀ gyᵀ)ᵀ by sparse ×
//           dense products (cuSPARSE SpMM on CUDA), grad δ by at::sparse_sampled_addmm (SDDMM, in
//           float32 for half-precision inputs). float32/float64 only on the CPU.
//
// A third, `merged`, computes the whole layer instead (merged_sparse_linear): with one route for the
// whole batch (training), the route's entries are written into a working copy of W — a scatter of
// nnz values, redone only when the values changed (after each optimizer step) — so the forward is
// the layer's own dense product x (W + ΔW)ᵀ; grad x = gy (W + ΔW); grad δ is the dense gyᵀ x read at
// the entries: one GEMM, the weight gradient full fine-tuning computes, which on a GPU is much
// faster than a sampled sparse product at ~1% density. It costs one copy of each target weight while
// a single route is set. Per-sample routes (inference) use csr on CUDA and gather on the CPU.
//
// SparseExperts is the adapter (adapted_linear.h) that carries every expert of one layer. Each
// expert has an owner set (bit t = task t): routing a sample to task t switches on every expert
// whose owner set contains t, summed (a unique expert and the shared experts of that task). Routes
// are set for the whole batch (set_route, training) or per sample (set_routes, inference: top-1 or
// weighted top-k). Per route, the experts' entries are merged once into one pattern (duplicates
// summed); the forward then runs one sparse product per route present in the batch, over that
// route's samples, and adds it into the layer's output. Gradients reach the experts' values only
// through the merged values (an index_add of the experts' values into the route's pattern).
#pragma once

#include "retain/model/adapted_linear.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace retain {

enum class SparseKernel { Gather, Csr, Merged };

/// "gather" | "csr" | "merged"; an error naming the accepted values otherwise.
SparseKernel parse_sparse_kernel(const std::string& name);
std::string to_string(SparseKernel kernel);

/// The entries of a sparse ΔW (out × in), with the index tensors both kernels need.
struct SparsePattern {
  int64_t out = 0, in = 0;
  at::Tensor indices;  // (nnz) int64 flat row-major indices, sorted, distinct
  at::Tensor rows;     // (nnz) indices / in
  at::Tensor cols;     // (nnz) indices % in
  at::Tensor crow;     // (out + 1) CSR row pointers of ΔW
  at::Tensor t_order;  // (nnz) entries in column-major order: the CSR of ΔWᵀ takes values[t_order]
  at::Tensor t_crow;   // (in + 1) CSR row pointers of ΔWᵀ
  at::Tensor t_cols;   // (nnz) rows[t_order]

  int64_t nnz() const { return indices.defined() ? indices.numel() : 0; }
  /// From flat indices (any order, distinct, within out × in; checked); on their device.
  static SparsePattern from_indices(const at::Tensor& indices, int64_t out, int64_t in);
};

/// x ΔWᵀ for x (N, in) and ΔW = scatter(values, pattern): (N, out) in x's dtype. Differentiable in x
/// and values (values (nnz), any floating dtype; the product runs in x's dtype).
at::Tensor sparse_delta_matmul(const at::Tensor& x, const SparsePattern& pattern, const at::Tensor& values,
                               SparseKernel kernel);

/// x (W + ΔW)ᵀ + b, where `merged` (out × in) already holds W + ΔW (ΔW = scatter(values, indices)):
/// one dense product, differentiable in x and values (grad values = (gyᵀ x) at `indices`, a dense
/// product read at the entries); `merged` and `bias` get no gradient. Autocast applies as to
/// at::linear. x (..., in); values (nnz) any floating dtype.
at::Tensor merged_sparse_linear(const at::Tensor& x, const at::Tensor& merged, const at::Tensor& bias,
                                const at::Tensor& indices, const at::Tensor& values);

/// The dense ΔW (out × in) of flat `indices` and `values` (duplicates summed): for tests, merging
/// and export only — the forward never builds it.
at::Tensor sparse_to_dense(const at::Tensor& indices, const at::Tensor& values, int64_t out, int64_t in);

/// One expert: an index set (not a parameter: fixed once created) and its values (parameter
/// "values", the weight's dtype), switched on for every task in `owners`.
class SparseExpertImpl : public torch::nn::Module {
 public:
  SparseExpertImpl(at::Tensor indices, const at::Tensor& values, uint64_t owners);
  at::Tensor indices;    // (nnz) int64, sorted, distinct
  torch::Tensor values;  // (nnz)
  uint64_t owners;       // bit t set: task t's route uses this expert
};
TORCH_MODULE(SparseExpert);

class SparseExpertsImpl : public LinearAdapterImpl {
 public:
  SparseExpertsImpl(int64_t in_features, int64_t out_features, SparseKernel kernel);

  /// Adds expert `name`, or replaces the one of that name (its parameter is then a new tensor).
  /// indices: sorted, distinct flat indices within out × in (checked); values: same length.
  void set_expert(const std::string& name, const at::Tensor& indices, const at::Tensor& values, uint64_t owners);
  void remove_expert(const std::string& name);
  /// The expert `name`, or nullptr.
  std::shared_ptr<SparseExpertImpl> expert(const std::string& name) const;
  /// Every expert, in the order they were added.
  const std::vector<std::pair<std::string, std::shared_ptr<SparseExpertImpl>>>& experts() const { return experts_; }

  /// Every sample of every batch uses task `task`'s experts (training); −1: none.
  void set_route(int64_t task);
  /// Per sample: routes (B,) or (B, k) of task ids (−1: no expert) and weights of the same shape
  /// (undefined: all 1). Sample b gets Σ_i weights[b,i] · ΔW_{routes[b,i]}.
  void set_routes(const at::Tensor& routes, const at::Tensor& weights = {});
  /// No routes: the adapter adds nothing.
  void clear_routes();
  bool has_routes() const { return single_route_ >= 0 || !groups_.empty(); }

  /// Task `task`'s merged experts: pattern and values (differentiable in the experts' values).
  std::pair<SparsePattern, at::Tensor> route_delta(int64_t task);
  /// The dense ΔW of task `task` (Σ of its experts; tests and export).
  at::Tensor delta_weight_for(int64_t task) const;

  at::Tensor forward(const at::Tensor& x) override;
  at::Tensor add_to(at::Tensor y, const at::Tensor& x) override;
  /// Kernel merged with one route set and W frozen: the whole layer through the working copy of W;
  /// otherwise undefined (add_to() then adds the sparse product).
  at::Tensor product(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) override;
  /// ΔW of the route set by set_route(); an error with per-sample routes (no single ΔW) or none.
  at::Tensor delta_weight() const override;

  int64_t in_features, out_features;
  SparseKernel kernel;

 private:
  struct RouteCache {
    SparsePattern pattern;
    std::vector<std::shared_ptr<SparseExpertImpl>> experts;  // those switched on by the route
    at::Tensor slots;  // position in the pattern of each concatenated expert entry; undefined: identity
  };
  struct Group {
    int64_t route;
    at::Tensor samples;  // (n) int64 on the layer's device; undefined: the whole batch in order
    at::Tensor weights;  // (n, 1, 1); undefined: 1
  };
  const RouteCache& cache_for(int64_t task);
  at::Tensor delta(const at::Tensor& x);  // Σ over groups, (..., out)
  SparseKernel product_kernel(const at::Tensor& x) const;  // merged → csr on CUDA, gather on the CPU
  /// The merged kernel's working copy of `weight` with `pattern`'s entries = W + values, brought up
  /// to date (recopied when W changed, rewritten when the route or the values changed).
  const at::Tensor& working_weight(const at::Tensor& weight, const SparsePattern& pattern, const at::Tensor& values,
                                   const RouteCache& cache);

  struct WorkingWeight {
    at::Tensor tensor;                        // W with the written entries replaced
    const void* source = nullptr;             // W's TensorImpl
    uint32_t source_version = 0;              // W's version counter when copied
    at::Tensor written;                       // flat indices currently holding W + values
    std::vector<std::pair<const void*, uint32_t>> values_versions;  // the experts' values when written
  };
  WorkingWeight work_;
  std::vector<std::pair<std::string, std::shared_ptr<SparseExpertImpl>>> experts_;
  std::map<int64_t, RouteCache> caches_;
  int64_t single_route_ = -1;
  int64_t batch_ = 0;  // samples of the per-sample routes
  std::vector<Group> groups_;
};
TORCH_MODULE(SparseExperts);

}  // namespace retain
