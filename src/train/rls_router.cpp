#include "retain/train/rls_router.h"

#include "retain/core/error.h"

#include <ATen/CPUGeneratorImpl.h>

namespace retain {

namespace {
constexpr const char* kComponent = "router";

std::string shape(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

void check_block(const at::Tensor& W, const at::Tensor& X, const at::Tensor& Y) {
  RETAIN_CHECK(X.dim() == 2 && Y.dim() == 2 && X.size(0) == Y.size(0), kComponent,
               "a block needs X (b × E) and Y (b × C) with the same rows, got X {} and Y {}", shape(X), shape(Y));
  RETAIN_CHECK(X.size(1) == W.size(0) && Y.size(1) == W.size(1), kComponent,
               "block X {} / Y {} does not fit W {} (E × C)", shape(X), shape(Y), shape(W));
}
}  // namespace

void rls_absorb(at::Tensor& R, at::Tensor& W, const at::Tensor& X, const at::Tensor& Y) {
  check_block(W, X, Y);
  const int64_t b = X.size(0);
  if (b == 0) return;
  auto K = at::matmul(R, X.t());                                      // (E, b) = R Xᵀ
  auto S = at::addmm(at::eye(b, X.options()), X, K);                  // (b, b) = I + X R Xᵀ
  auto L = at::linalg_cholesky(S);
  auto M = at::cholesky_solve(K.t().contiguous(), L);                 // (b, E) = S⁻¹ Kᵀ
  auto residual = at::addmm(Y, X, W, /*beta=*/1, /*alpha=*/-1);       // (b, C) = Y − X W
  W.addmm_(M.t(), residual);                                          // W += K S⁻¹ (Y − X W)
  R.addmm_(K, M, /*beta=*/1, /*alpha=*/-1);                           // R −= K S⁻¹ Kᵀ
}

void gram_absorb(at::Tensor& A, at::Tensor& B, const at::Tensor& X, const at::Tensor& Y) {
  check_block(B, X, Y);
  A.addmm_(X.t(), X);
  B.addmm_(X.t(), Y);
}

at::Tensor cholesky_weights(const at::Tensor& A, const at::Tensor& B) {
  return at::cholesky_solve(B, at::linalg_cholesky(A));
}

at::Tensor ridge_weights(const at::Tensor& X, const at::Tensor& Y, double lambda) {
  auto A = at::matmul(X.t(), X) + lambda * at::eye(X.size(1), X.options());
  return at::linalg_solve(A, at::matmul(X.t(), Y));
}

RlsSolver parse_rls_solver(const std::string& name) {
  if (name == "woodbury") return RlsSolver::Woodbury;
  if (name == "cholesky") return RlsSolver::Cholesky;
  fail(kComponent, "unknown solver \"{}\" (expected \"woodbury\" or \"cholesky\")", name);
}

std::string to_string(RlsSolver solver) { return solver == RlsSolver::Woodbury ? "woodbury" : "cholesky"; }

RlsRouter::RlsRouter(RlsRouterOptions options) : options_(options) {
  RETAIN_CHECK(options_.dim >= 1, kComponent, "the expanded dimension must be at least 1, got {}", options_.dim);
  RETAIN_CHECK(options_.lambda > 0, kComponent, "λ must be positive, got {}", options_.lambda);
  RETAIN_CHECK(options_.block_size >= 1, kComponent, "block_size must be at least 1, got {}", options_.block_size);
  RETAIN_CHECK(options_.dtype == at::kDouble || options_.dtype == at::kFloat, kComponent,
               "the router computes in float64 or float32, not {}", c10::toString(options_.dtype));
  const auto o = at::TensorOptions().dtype(options_.dtype).device(options_.device);
  const int64_t E = options_.dim;
  if (options_.solver == RlsSolver::Woodbury) {
    R_ = at::eye(E, o).div_(options_.lambda);
  } else {
    A_ = at::eye(E, o).mul_(options_.lambda);
    B_ = at::zeros({E, 0}, o);
  }
  W_ = at::zeros({E, 0}, o);
}

int64_t RlsRouter::add_class() {
  RETAIN_CHECK(W_.defined(), kComponent, "the router was default-constructed; give it options first");
  W_ = at::cat({W_, at::zeros({options_.dim, 1}, W_.options())}, 1);
  if (B_.defined()) B_ = at::cat({B_, at::zeros({options_.dim, 1}, B_.options())}, 1);
  return classes_++;
}

void RlsRouter::absorb(const at::Tensor& X_in, const at::Tensor& Y_in) {
  RETAIN_CHECK(X_in.dim() == 2 && X_in.size(1) == options_.dim, kComponent, "X must be (N, {}), got {}", options_.dim,
               shape(X_in));
  RETAIN_CHECK(Y_in.dim() == 2 && Y_in.size(0) == X_in.size(0) && Y_in.size(1) == classes_, kComponent,
               "Y must be (N, classes) = ({}, {}), got {}", X_in.size(0), classes_, shape(Y_in));
  const auto o = W_.options();
  const auto X = X_in.to(o), Y = Y_in.to(o);
  const int64_t n = X.size(0);
  for (int64_t first = 0; first < n; first += options_.block_size) {
    const int64_t b = std::min(options_.block_size, n - first);
    const auto x = X.narrow(0, first, b), y = Y.narrow(0, first, b);
    if (options_.solver == RlsSolver::Woodbury) {
      rls_absorb(R_, W_, x, y);
    } else {
      gram_absorb(A_, B_, x, y);
      stale_ = true;
    }
  }
}

void RlsRouter::absorb_class(const at::Tensor& X, int64_t label) {
  RETAIN_CHECK(0 <= label && label < classes_, kComponent, "label {} is not a class (the router has {})", label, classes_);
  auto Y = at::zeros({X.size(0), classes_}, W_.options());
  Y.select(1, label).fill_(1);
  absorb(X, Y);
}

const at::Tensor& RlsRouter::weights() {
  if (stale_) {
    W_ = cholesky_weights(A_, B_);
    stale_ = false;
  }
  return W_;
}

at::Tensor RlsRouter::predict(const at::Tensor& X) {
  RETAIN_CHECK(classes_ > 0, kComponent, "the router has no classes yet");
  const auto& W = weights();
  return at::matmul(X.to(W.options()), W).argmax(-1);
}

std::vector<std::pair<std::string, at::Tensor>> RlsRouter::tensors() {
  if (options_.solver == RlsSolver::Woodbury) return {{"W", weights()}, {"R", R_}};
  return {{"W", weights()}, {"A", A_}, {"B", B_}};
}

RlsRouter RlsRouter::from_tensors(RlsRouterOptions options, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                  const std::string& where) {
  auto get = [&](const std::string& name) {
    for (const auto& [n, t] : tensors)
      if (n == name) return t;
    fail(kComponent, "{}: no tensor \"{}\" (the {} form keeps {})", where, name, to_string(options.solver),
         options.solver == RlsSolver::Woodbury ? "W and R" : "W, A and B");
  };
  RlsRouter router(options);
  const int64_t E = options.dim;
  const auto o = router.W_.options();
  auto W = get("W");
  RETAIN_CHECK(W.dim() == 2 && W.size(0) == E, kComponent, "{}: W has shape {}, expected ({}, classes)", where,
               shape(W), E);
  auto square = [&](const char* name) {
    auto t = get(name);
    RETAIN_CHECK(t.sizes() == at::IntArrayRef({E, E}), kComponent, "{}: {} has shape {}, expected ({}, {})", where, name,
                 shape(t), E, E);
    return t.to(o).clone();
  };
  router.classes_ = W.size(1);
  router.W_ = W.to(o).clone();
  if (options.solver == RlsSolver::Woodbury) {
    router.R_ = square("R");
  } else {
    router.A_ = square("A");
    auto B = get("B");
    RETAIN_CHECK(B.sizes() == W.sizes(), kComponent, "{}: B has shape {}, expected {} (as W)", where, shape(B),
                 shape(W));
    router.B_ = B.to(o).clone();
  }
  return router;
}

ExpansionActivation parse_expansion_activation(const std::string& name) {
  if (name == "relu") return ExpansionActivation::Relu;
  if (name == "none") return ExpansionActivation::None;
  fail(kComponent, "unknown activation \"{}\" (expected \"relu\" or \"none\")", name);
}

std::string to_string(ExpansionActivation activation) {
  return activation == ExpansionActivation::Relu ? "relu" : "none";
}

at::Tensor random_expansion(int64_t in_dim, int64_t out_dim, uint64_t seed, at::ScalarType dtype) {
  RETAIN_CHECK(in_dim >= 1 && out_dim >= 1, kComponent, "expansion must be at least 1 × 1, got {} × {}", out_dim, in_dim);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto phi = at::empty({out_dim, in_dim}, at::kDouble);
  phi.normal_(0.0, 0.02, generator);
  return phi.to(dtype);
}

at::Tensor expand_features(const at::Tensor& features, const at::Tensor& expansion, ExpansionActivation activation) {
  RETAIN_CHECK(features.dim() == 2 && features.size(1) == expansion.size(1), kComponent,
               "features {} do not fit the expansion {} (E × d)", shape(features), shape(expansion));
  auto x = at::matmul(features.to(expansion.options()), expansion.t());
  return activation == ExpansionActivation::Relu ? x.relu_() : x;
}

}  // namespace retain
