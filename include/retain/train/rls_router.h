// retain/train/rls_router.h — the closed-form router of ASR (Any-SSR, arXiv 2503.13575, methods.md §2):
// ridge regression from expanded features to one-hot class ids, learned by recursive least squares.
//
// Joint solution on every block absorbed so far (X_i: b_i × E features, Y_i: b_i × C targets):
//
//     W = (Σ_i X_iᵀX_i + λI)⁻¹ Σ_i X_iᵀY_i                                         (E × C)
//
// Woodbury form (the paper's recursion, one block at a time), with R = (Σ XᵀX + λI)⁻¹ (E × E):
//
//     K = R Xᵀ,  S = I_b + X K,  R ← R − K S⁻¹ Kᵀ,  W ← W + K S⁻¹ (Y − X W)
//
// (K S⁻¹ is the updated R Xᵀ.) S is solved by Cholesky, never inverted; each block costs two
// E × E × b matrix products. Cholesky form: keep A = Σ XᵀX + λI and B = Σ XᵀY (one E × E × b
// product per block) and solve W = A⁻¹B by Cholesky when W is asked for. Both equal the joint
// solution up to rounding in any block order and any block size: the router forgets nothing.
// A new class adds a zero column to W (and B): exact, since every earlier sample's target for it is 0.
//
// Features are expanded first by a frozen random map (the paper's "buffer layer"):
//     φ(f) = act(f Φᵀ),  Φ: E × d with entries N(0, 0.02²) from a fixed seed,  act = relu | none.
// The paper's text has the ReLU, its released code none; retain defaults to relu.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace retain {

/// One exact Woodbury step for the block X (b × E), Y (b × C), in place on R (E × E, symmetric
/// positive definite) and W (E × C). All in one dtype and on one device.
void rls_absorb(at::Tensor& R, at::Tensor& W, const at::Tensor& X, const at::Tensor& Y);

/// Cholesky form: A += XᵀX, B += XᵀY, in place.
void gram_absorb(at::Tensor& A, at::Tensor& B, const at::Tensor& X, const at::Tensor& Y);

/// W = A⁻¹B through the Cholesky factor of A (symmetric positive definite).
at::Tensor cholesky_weights(const at::Tensor& A, const at::Tensor& B);

/// The joint ridge solution (XᵀX + λI)⁻¹ XᵀY of all rows at once, by a direct solve (an oracle).
at::Tensor ridge_weights(const at::Tensor& X, const at::Tensor& Y, double lambda);

enum class RlsSolver { Woodbury, Cholesky };
/// "woodbury" | "cholesky"; throws naming the accepted values.
RlsSolver parse_rls_solver(const std::string& name);
std::string to_string(RlsSolver solver);

struct RlsRouterOptions {
  int64_t dim = 0;  // E, the expanded feature size
  double lambda = 100;
  RlsSolver solver = RlsSolver::Woodbury;
  at::ScalarType dtype = at::kDouble;  // float64 (default) or float32
  int64_t block_size = 1024;           // rows per Woodbury / Gram update
  at::Device device = at::kCPU;
};

/// The recursive ridge router: classes are added one by one (a zero column each), samples absorbed
/// in blocks, W read at any time.
class RlsRouter {
 public:
  RlsRouter() = default;
  /// R = I/λ (Woodbury) or A = λI (Cholesky), no classes yet.
  explicit RlsRouter(RlsRouterOptions options);

  const RlsRouterOptions& options() const { return options_; }
  int64_t classes() const { return classes_; }
  /// Appends a zero column; returns its index.
  int64_t add_class();
  /// Absorbs X (N × E) with targets Y (N × classes()) in blocks of options().block_size. X and Y are
  /// converted to the router's dtype and device (pass them there already to time the math alone).
  void absorb(const at::Tensor& X, const at::Tensor& Y);
  /// Absorbs X (N × E), every row labelled `label` (one-hot targets).
  void absorb_class(const at::Tensor& X, int64_t label);
  /// W (E × classes()). Cholesky form: solved when samples were absorbed since the last call.
  const at::Tensor& weights();
  /// argmax over classes of X W: (N,) int64.
  at::Tensor predict(const at::Tensor& X);

  /// The state: {"W", "R"} (Woodbury) or {"W", "A", "B"} (Cholesky).
  std::vector<std::pair<std::string, at::Tensor>> tensors();
  /// A router from tensors() (shapes checked against options and each other); `where` names the source.
  static RlsRouter from_tensors(RlsRouterOptions options, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                const std::string& where);

 private:
  RlsRouterOptions options_;
  int64_t classes_ = 0;
  at::Tensor R_;  // Woodbury: (Σ XᵀX + λI)⁻¹
  at::Tensor A_;  // Cholesky: Σ XᵀX + λI
  at::Tensor B_;  // Cholesky: Σ XᵀY
  at::Tensor W_;
  bool stale_ = false;  // Cholesky: W_ not solved since the last absorb
};

enum class ExpansionActivation { None, Relu };
/// "none" | "relu"; throws naming the accepted values.
ExpansionActivation parse_expansion_activation(const std::string& name);
std::string to_string(ExpansionActivation activation);

/// Φ (out_dim × in_dim), entries N(0, 0.02²) drawn in float64 on the CPU from `seed` (the same on
/// every machine), then converted to `dtype`.
at::Tensor random_expansion(int64_t in_dim, int64_t out_dim, uint64_t seed, at::ScalarType dtype = at::kDouble);

/// φ(features) = act(features Φᵀ): (N, d) → (N, E), in Φ's dtype and on its device.
at::Tensor expand_features(const at::Tensor& features, const at::Tensor& expansion, ExpansionActivation activation);

}  // namespace retain
