#include "retain/train/methods/osft_projection.h"

#include "retain/core/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <tuple>

namespace retain {

namespace {

std::string shape(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

// X (d, n), B (d, c), T scratch (c, n): X ← B (Bᵀ X) when keep, else X ← X − B (Bᵀ X).
void side_left_(at::Tensor& X, const at::Tensor& B, bool keep, at::Tensor T) {
  if (B.size(1) == 0) {
    if (keep) X.zero_();
    return;
  }
  at::mm_out(T, B.t(), X);
  if (keep)
    at::mm_out(X, B, T);
  else
    X.addmm_(B, T, /*beta=*/1, /*alpha=*/-1);
}

// X (m, d), B (d, c), T scratch (m, c): X ← (X B) Bᵀ when keep, else X ← X − (X B) Bᵀ.
void side_right_(at::Tensor& X, const at::Tensor& B, bool keep, at::Tensor T) {
  if (B.size(1) == 0) {
    if (keep) X.zero_();
    return;
  }
  at::mm_out(T, X, B);
  if (keep)
    at::mm_out(X, T, B.t());
  else
    X.addmm_(T, B.t(), /*beta=*/1, /*alpha=*/-1);
}

// G ← G − U (Uᵀ G V) Vᵀ; scratch holds k·n + k·k elements.
void block_(at::Tensor& G, const at::Tensor& U, const at::Tensor& V, at::Tensor& scratch) {
  const int64_t k = U.size(1), n = G.size(1);
  if (k == 0) return;
  at::Tensor T1 = scratch.narrow(0, 0, k * n).view({k, n});
  at::Tensor T2 = scratch.narrow(0, k * n, k * k).view({k, k});
  at::mm_out(T1, U.t(), G);   // Uᵀ G          (k, n)
  at::mm_out(T2, T1, V);      // Uᵀ G V        (k, k)
  at::mm_out(T1, T2, V.t());  // (Uᵀ G V) Vᵀ   (k, n), over Uᵀ G which is no longer needed
  G.addmm_(U, T1, /*beta=*/1, /*alpha=*/-1);
}

void check_bases(const at::Tensor& G, const at::Tensor& U, const at::Tensor& V) {
  RETAIN_CHECK(G.dim() == 2 && U.dim() == 2 && V.dim() == 2, "osft", "projection needs matrices, got G {}, U {}, V {}",
               shape(G), shape(U), shape(V));
  RETAIN_CHECK(U.size(0) == G.size(0) && V.size(0) == G.size(1) && U.size(1) == V.size(1), "osft",
               "projection shapes do not fit: G {} needs U (m, k) and V (n, k), got U {}, V {}", shape(G), shape(U),
               shape(V));
}

at::Tensor flat_scratch(const at::Tensor& like, int64_t elements) {
  return at::empty({std::max<int64_t>(elements, 1)}, like.options());
}

// ⌊x⌋ of a non-negative product of decimal settings, robust to their binary representation.
int64_t floor_nudged(double x) { return static_cast<int64_t>(std::floor(x + 1e-9)); }

}  // namespace

OsftProjection parse_osft_projection(const std::string& name, const std::string& where) {
  if (name == "strict") return OsftProjection::strict;
  if (name == "block") return OsftProjection::block;
  fail("config", "{} = \"{}\" is not known: expected \"strict\" or \"block\"", where, name);
}

void project_strict_(at::Tensor& G, const at::Tensor& U_h, const at::Tensor& V_h) {
  check_bases(G, U_h, V_h);
  RETAIN_CHECK(G.is_contiguous(), "osft", "in-place projection needs a contiguous G");
  const int64_t m = G.size(0), n = G.size(1), k = U_h.size(1);
  at::Tensor scratch = flat_scratch(G, k * std::max(m, n));
  side_left_(G, U_h, false, scratch.narrow(0, 0, k * n).view({k, n}));
  side_right_(G, V_h, false, scratch.narrow(0, 0, m * k).view({m, k}));
}

void project_block_(at::Tensor& G, const at::Tensor& U_h, const at::Tensor& V_h) {
  check_bases(G, U_h, V_h);
  RETAIN_CHECK(G.is_contiguous(), "osft", "in-place projection needs a contiguous G");
  const int64_t n = G.size(1), k = U_h.size(1);
  at::Tensor scratch = flat_scratch(G, k * n + k * k);
  block_(G, U_h, V_h, scratch);
}

at::Tensor project_strict(const at::Tensor& G, const at::Tensor& U_h, const at::Tensor& V_h) {
  at::Tensor out = G.clone(at::MemoryFormat::Contiguous);
  project_strict_(out, U_h, V_h);
  return out;
}

at::Tensor project_block(const at::Tensor& G, const at::Tensor& U_h, const at::Tensor& V_h) {
  at::Tensor out = G.clone(at::MemoryFormat::Contiguous);
  project_block_(out, U_h, V_h);
  return out;
}

int64_t importance_rank(double importance, double mrr, double trr, int64_t min_dim) {
  const double r = std::clamp(mrr + importance * (trr - mrr), 0.0, 1.0);
  return std::min(min_dim, floor_nudged(r * static_cast<double>(min_dim)));
}

int64_t fixed_rank(double ratio, int64_t min_dim) {
  return std::min(min_dim, floor_nudged(std::clamp(ratio, 0.0, 1.0) * static_cast<double>(min_dim)));
}

int64_t progressive_rank(int64_t task_index, int64_t num_tasks, int64_t min_dim) {
  RETAIN_CHECK(num_tasks >= 1 && task_index >= 0 && task_index < num_tasks, "osft",
               "progressive rank needs 0 ≤ task < tasks, got task {} of {}", task_index, num_tasks);
  return task_index * min_dim / num_tasks;
}

SubspaceProjector::SubspaceProjector(const at::Tensor& weight, int64_t k, OsftProjection mode, at::ScalarType dtype)
    : k_(k), mode_(mode), dtype_(dtype) {
  RETAIN_CHECK(weight.dim() == 2, "osft", "a projector needs a matrix, got a tensor of shape {}", shape(weight));
  m_ = weight.size(0);
  n_ = weight.size(1);
  const int64_t d = std::min(m_, n_);
  RETAIN_CHECK(k >= 0 && k <= d, "osft", "frozen rank {} is outside [0, {}] for a {}×{} matrix", k, d, m_, n_);
  if (k == 0) return;
  at::NoGradGuard no_grad;
  const at::Tensor W = weight.detach().to(weight.scalar_type() == at::kDouble ? at::kDouble : at::kFloat);
  // On CUDA the columns are padded with zeros to a multiple of 64: B Bᵀ is unchanged (exactly: the
  // zero columns add exact zeros), and the products get aligned leading dimensions — with k from the
  // importance rule (e.g. 1638) cuBLAS otherwise falls back to far slower bf16 kernels.
  auto store = [&](const at::Tensor& basis) {
    at::Tensor b = basis.to(dtype);
    const int64_t c = b.size(1), padded = (c + 63) / 64 * 64;
    if (b.is_cuda() && padded != c) b = at::cat({b, at::zeros({b.size(0), padded - c}, b.options())}, 1);
    return b.contiguous();
  };
  if (mode == OsftProjection::block && k < d) {
    auto [U, S, Vh] = at::linalg_svd(W, /*full_matrices=*/false);
    left_ = {store(U.narrow(1, 0, k)), false};
    right_ = {store(Vh.narrow(0, 0, k).t()), false};
    two_sided_block_ = true;
    return;
  }
  // Strict: per side, the cheaper of the frozen basis (k columns) and its complement (dim − k).
  // Block with k = min(m, n) = m: U_h U_hᵀ = I, so G − U_h U_hᵀ G V_h V_hᵀ = G (I − V_h V_hᵀ), the
  // right side of strict alone (and the left side alone when k = n, both when square: zero);
  // evaluated so, it is exact.
  const bool use_left = mode == OsftProjection::strict || k == n_;
  const bool use_right = mode == OsftProjection::strict || k == m_;
  const bool left_complement = use_left && m_ - k < k, right_complement = use_right && n_ - k < k;
  const bool full = (left_complement && m_ > d) || (right_complement && n_ > d);
  auto [U, S, Vh] = at::linalg_svd(W, full);
  if (use_left) left_ = {store(left_complement ? U.narrow(1, k, m_ - k) : U.narrow(1, 0, k)), left_complement};
  if (use_right)
    right_ = {store(right_complement ? Vh.narrow(0, k, n_ - k).t() : Vh.narrow(0, 0, k).t()), right_complement};
}

int64_t SubspaceProjector::scratch_elements() const {
  if (k_ == 0) return 0;
  if (two_sided_block_) {
    const int64_t k = left_.basis.size(1);  // padded on CUDA
    return k * n_ + k * k;
  }
  return std::max(left_columns() * n_, m_ * right_columns());
}

void SubspaceProjector::apply_(at::Tensor& G, at::Tensor& scratch) const {
  if (k_ == 0) return;
  RETAIN_CHECK(G.dim() == 2 && G.size(0) == m_ && G.size(1) == n_, "osft",
               "projector for {}×{} got a tensor of shape {}", m_, n_, shape(G));
  RETAIN_CHECK(G.scalar_type() == dtype_ && scratch.scalar_type() == dtype_, "osft",
               "projector in {} got G in {} and scratch in {}", c10::toString(dtype_), c10::toString(G.scalar_type()),
               c10::toString(scratch.scalar_type()));
  RETAIN_CHECK(G.is_contiguous() && scratch.is_contiguous() && scratch.numel() >= scratch_elements(), "osft",
               "projector needs a contiguous G and ≥ {} elements of contiguous scratch (got {})", scratch_elements(),
               scratch.numel());
  if (two_sided_block_) {
    block_(G, left_.basis, right_.basis, scratch);
    return;
  }
  const int64_t cl = left_columns(), cr = right_columns();
  if (left_.basis.defined()) side_left_(G, left_.basis, left_.keep, scratch.narrow(0, 0, cl * n_).view({cl, n_}));
  if (right_.basis.defined()) side_right_(G, right_.basis, right_.keep, scratch.narrow(0, 0, m_ * cr).view({m_, cr}));
}

}  // namespace retain
