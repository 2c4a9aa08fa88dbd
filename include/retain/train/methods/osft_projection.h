// retain/train/methods/osft_projection.h — the linear algebra of OSFT (methods.md §3) as free functions:
// projections onto the complement of a frozen singular subspace, and the frozen-rank rules.
//
// Notation: W (m × n, out × in) = U Σ Vᵀ with singular values descending; the first k directions
// are frozen, U_h = U[:, :k] (m × k) and V_h = V[:, :k] (n × k), orthonormal columns. A change G of
// W (a gradient, or an applied update) is projected
//
//   strict  (I − U_h U_hᵀ) G (I − V_h V_hᵀ)     the frozen rows and columns both stay untouched
//   block   G − U_h (U_hᵀ G V_h) V_hᵀ           only the frozen block U_hᵀ G V_h is removed (the paper)
//
// always as products with thin bases (G − U_h (U_hᵀ G), then − (G V_h) V_hᵀ): the m × m and n × n
// projectors are never formed. Nothing here allocates per call except the convenience functions
// project_strict / project_block.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace retain {

enum class OsftProjection { strict, block };

/// "strict" | "block"; anything else is an error naming `where`.
OsftProjection parse_osft_projection(const std::string& name, const std::string& where = "method.osft.projection");

/// (I − U_h U_hᵀ) G (I − V_h V_hᵀ) as a new tensor. G: (m, n); U_h: (m, k); V_h: (n, k); k may be 0.
at::Tensor project_strict(const at::Tensor& G, const at::Tensor& U_h, const at::Tensor& V_h);
/// G − U_h (U_hᵀ G V_h) V_hᵀ as a new tensor.
at::Tensor project_block(const at::Tensor& G, const at::Tensor& U_h, const at::Tensor& V_h);
/// In place; G must be contiguous. Temporaries of size k × max(m, n) are allocated.
void project_strict_(at::Tensor& G, const at::Tensor& U_h, const at::Tensor& V_h);
void project_block_(at::Tensor& G, const at::Tensor& U_h, const at::Tensor& V_h);

/// Frozen rank from a normalised layer importance I (paper's rule): r = clamp(mrr + I·(trr − mrr),
/// 0, 1), k = ⌊r · min_dim⌋ (the product is nudged by 1e-9 before the floor, so that 0.29 × 100 = 29
/// and not 28.999… → 28).
int64_t importance_rank(double importance, double mrr, double trr, int64_t min_dim);
/// Fixed ratio (PEFT's effective_rank as a fraction, training_hub's 1 − unfreeze_rank_ratio):
/// k = ⌊clamp(ratio, 0, 1) · min_dim⌋ (same nudge).
int64_t fixed_rank(double ratio, int64_t min_dim);
/// Progressive schedule: task t (0-based) of T freezes t/T of the rank, k = ⌊t · min_dim / T⌋
/// (exact integer arithmetic): nothing for the first task, (T−1)/T for the last.
int64_t progressive_rank(int64_t task_index, int64_t num_tasks, int64_t min_dim);

/// The projection of one matrix for one task, built once from its weight and applied in place at
/// every step. With `strict`, each side is stored in whichever form is cheaper: the frozen basis
/// (G ← G − B (Bᵀ G)) when k ≤ dim / 2, else the basis of the allowed directions, its orthogonal
/// complement (G ← B (Bᵀ G)), so that each side costs two products of m·n·min(k, dim − k)
/// multiply-adds. (The paper's importance rule freezes ~80% of the rank on average, where the
/// complement is ~4× cheaper.) `block` keeps U_h and V_h themselves: 2·m·n·k + 2·n·k² multiply-adds;
/// with k = min(m, n) it reduces exactly to a one-sided projection (G (I − V_h V_hᵀ) when k = m),
/// evaluated as such.
class SubspaceProjector {
 public:
  SubspaceProjector() = default;
  /// From the SVD of `weight` (m × n) — computed in float32, or float64 for a float64 weight — with
  /// its first k directions frozen (0 ≤ k ≤ min(m, n)). Bases are stored in `dtype` on the weight's
  /// device. Full U or V are computed only where a complement on the long side needs them.
  SubspaceProjector(const at::Tensor& weight, int64_t k, OsftProjection mode, at::ScalarType dtype);

  /// G ← P(G) in place. G: (m, n), contiguous, of dtype(); `scratch`: a flat contiguous tensor of
  /// dtype() with at least scratch_elements() elements (its contents are overwritten).
  void apply_(at::Tensor& G, at::Tensor& scratch) const;
  /// Elements of scratch apply_ needs (0 when the projection is the identity).
  int64_t scratch_elements() const;

  int64_t rank() const { return k_; }
  int64_t rows() const { return m_; }
  int64_t cols() const { return n_; }
  OsftProjection mode() const { return mode_; }
  at::ScalarType dtype() const { return dtype_; }
  /// k = 0: nothing is frozen, apply_ does nothing.
  bool is_identity() const { return k_ == 0; }
  /// Columns stored for the left (U) and right (V) side (0 for a side that is not projected), and
  /// whether they span the allowed directions (complement form) rather than the frozen ones.
  int64_t left_columns() const { return left_.basis.defined() ? left_.basis.size(1) : 0; }
  int64_t right_columns() const { return right_.basis.defined() ? right_.basis.size(1) : 0; }
  bool left_is_complement() const { return left_.keep; }
  bool right_is_complement() const { return right_.keep; }

 private:
  // basis: (dim, c), orthonormal columns. keep = true: X ← B Bᵀ X (B spans the allowed directions);
  // keep = false: X ← X − B Bᵀ X (B spans the frozen directions).
  struct Side {
    at::Tensor basis;
    bool keep = false;
  };
  Side left_, right_;             // an undefined basis: that side is not projected
  bool two_sided_block_ = false;  // G − U_h (U_hᵀ G V_h) V_hᵀ with left_ = U_h, right_ = V_h
  int64_t m_ = 0, n_ = 0, k_ = 0;
  OsftProjection mode_ = OsftProjection::strict;
  at::ScalarType dtype_ = at::kFloat;
};

}  // namespace retain
