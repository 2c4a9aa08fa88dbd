#include "retain/dist/process_group.h"

#include "retain/core/error.h"
#include "retain/core/torch_compat.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#if RETAIN_HAS_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if RETAIN_HAS_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <chrono>
#include <thread>

namespace retain {

struct DistContext::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::C10dGroup> group;
  std::string backend;
  at::Device comm_device = at::kCPU;  // where collectives' tensors must live (CUDA for NCCL)
};

bool nccl_available() { return RETAIN_HAS_NCCL != 0; }

std::shared_ptr<DistContext> single_process_context() {
  static const std::shared_ptr<DistContext> single = std::make_shared<DistContext>();
  return single;
}

DistContext::~DistContext() = default;

namespace {

std::chrono::milliseconds timeout_of(const DistSettings& s) {
  return std::chrono::milliseconds(static_cast<int64_t>(s.timeout_s * 1000));
}

std::string message_of(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

// Every rank announces itself, then waits for all the others; the ones missing at the deadline are
// named (a rank that crashed before set-up, a wrong WORLD_SIZE, a port another job holds).
void wait_for_ranks(c10d::Store& store, const DistEnvironment& env, const DistSettings& s) {
  store.set("retain/arrived/" + std::to_string(env.rank), std::vector<uint8_t>{1});
  std::vector<std::string> keys;
  for (int r = 0; r < env.world_size; ++r) keys.push_back("retain/arrived/" + std::to_string(r));
  const auto deadline = std::chrono::steady_clock::now() + timeout_of(s);
  while (!store.check(keys)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::vector<int> missing, arrived;
      for (int r = 0; r < env.world_size; ++r) (store.check({keys[r]}) ? arrived : missing).push_back(r);
      fail("dist", "rank {} of {}: rank{} {} did not arrive within {} s at {}:{} (arrived: {}); check that every rank "
           "was started with the same WORLD_SIZE and MASTER_PORT, or raise dist.timeout_s",
           env.rank, env.world_size, missing.size() == 1 ? "" : "s", fmt::join(missing, ", "), s.timeout_s,
           env.master_addr, env.master_port, fmt::join(arrived, ", "));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool is_loopback(const std::string& addr) {
  return addr == "127.0.0.1" || addr == "localhost" || addr == "::1";
}

}  // namespace

void DistSettings::validate() const {
  RETAIN_CHECK(bucket_mb > 0, "config", "dist.bucket_mb must be > 0, got {}", bucket_mb);
  RETAIN_CHECK(timeout_s > 0, "config", "dist.timeout_s must be > 0, got {}", timeout_s);
  RETAIN_CHECK(simulate_ranks >= 1, "config", "dist.simulate_ranks must be >= 1 (1: off), got {}", simulate_ranks);
  RETAIN_CHECK(backend != DistBackend::Nccl || nccl_available(), "config",
               "dist.backend = nccl, but this build of retain has no NCCL (libtorch {} without CUDA, or no "
               "ProcessGroupNCCL.hpp): use gloo or auto", TORCH_VERSION);
  RETAIN_CHECK(reduce_dtype != ReduceDtype::Bf16 || backend == DistBackend::Nccl, "config",
               "dist.reduce_dtype = bf16 needs dist.backend = nccl (Gloo has no bfloat16 allreduce)");
}

std::shared_ptr<DistContext> DistContext::open(const DistEnvironment& env, const DistSettings& settings,
                                               at::Device device) {
  settings.validate();
  if (env.single()) {
    auto alone = std::make_shared<DistContext>();
    alone->settings_ = settings;
    return alone;
  }
  RETAIN_CHECK(settings.simulate_ranks == 1, "config",
               "dist.simulate_ranks = {} is for one process alone, but this is rank {} of {}", settings.simulate_ranks,
               env.rank, env.world_size);
  const bool nccl = settings.backend == DistBackend::Nccl || (settings.backend == DistBackend::Auto && device.is_cuda() &&
                                                             nccl_available());
  RETAIN_CHECK(!nccl || device.is_cuda(), "dist", "dist.backend = nccl needs run.device = cuda, got {}", device.str());
  RETAIN_CHECK(nccl || RETAIN_HAS_GLOO, "dist",
               "this build of retain has no Gloo (built without its headers, libgloo-dev): use dist.backend = nccl "
               "with run.device = cuda");
  auto ctx = std::make_shared<DistContext>();
  ctx->rank_ = env.rank;
  ctx->world_ = env.world_size;
  ctx->settings_ = settings;
  auto impl = std::make_unique<Impl>();
  impl->backend = nccl ? "nccl" : "gloo";
  impl->comm_device = nccl ? device : at::Device(at::kCPU);

  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(env.master_port);
  options.isServer = !env.agent_store && env.rank == 0;
  options.numWorkers = env.world_size;
  options.waitWorkers = false;  // wait_for_ranks waits, and names who is missing
  options.timeout = timeout_of(settings);
  try {
    c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    impl->store = tcp;
    if (!env.store_prefix.empty()) impl->store = c10::make_intrusive<c10d::PrefixStore>(env.store_prefix, tcp);
  } catch (const std::exception& e) {
    fail("dist", "rank {} of {}: cannot {} the store at {}:{} ({} hosts it) within {} s: {}", env.rank, env.world_size,
         options.isServer ? "host" : "reach", env.master_addr, env.master_port,
         env.agent_store ? "torchrun's agent" : "rank 0", settings.timeout_s, message_of(e));
  }
  wait_for_ranks(*impl->store, env, settings);
  auto group_store = c10::make_intrusive<c10d::PrefixStore>("retain_pg", impl->store);
  try {
    if (nccl) {
#if RETAIN_HAS_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout_of(settings);
      impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(group_store, env.rank, env.world_size, o);
#endif
    } else {
#if RETAIN_HAS_GLOO
      auto o = c10d::ProcessGroupGloo::Options::create(timeout_of(settings));
      o->devices.push_back(is_loopback(env.master_addr) ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                                         : c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 1;
      impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(group_store, env.rank, env.world_size, o);
#endif
    }
  } catch (const std::exception& e) {
    fail("dist", "rank {} of {}: the {} process group could not be set up: {}", env.rank, env.world_size, impl->backend,
         message_of(e));
  }
  ctx->impl_ = std::move(impl);
  return ctx;
}

std::string DistContext::backend_name() const { return impl_ ? impl_->backend : "none"; }

namespace {

template <class F>
void run_collective(const char* op, const std::string& what, int rank, int world, F&& start) {
  try {
    c10::intrusive_ptr<c10d::Work> work = start();
    work->wait();
  } catch (const std::exception& e) {
    fail("dist", "{} of {} failed on rank {} of {}: {} (another rank may have died, or exceeded dist.timeout_s)", op,
         what, rank, world, message_of(e));
  }
}

}  // namespace

void DistContext::all_reduce_sum(at::Tensor& tensor, const std::string& what) const {
  if (!impl_) return;
  RETAIN_CHECK(tensor.is_contiguous(), "dist", "allreduce of {}: the tensor must be contiguous", what);
  const bool move = tensor.device() != impl_->comm_device;
  std::vector<at::Tensor> io = {move ? tensor.to(impl_->comm_device) : tensor};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  run_collective("allreduce", what, rank_, world_, [&] { return impl_->group->allreduce(io, o); });
  if (move) tensor.copy_(io[0]);
}

void DistContext::all_reduce_sum(std::vector<at::Tensor>& tensors, const std::string& what) const {
  if (!impl_ || tensors.empty()) return;
  std::vector<at::ScalarType> dtypes;
  for (const auto& t : tensors)
    if (std::find(dtypes.begin(), dtypes.end(), t.scalar_type()) == dtypes.end()) dtypes.push_back(t.scalar_type());
  for (const auto dtype : dtypes) {  // in order of first appearance: the same on every rank
    std::vector<at::Tensor> flat;
    for (const auto& t : tensors)
      if (t.scalar_type() == dtype) flat.push_back(t.reshape({-1}).to(impl_->comm_device));
    at::Tensor buffer = at::cat(flat);
    all_reduce_sum(buffer, what);
    int64_t offset = 0;
    for (auto& t : tensors) {
      if (t.scalar_type() != dtype) continue;
      t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

void DistContext::broadcast(at::Tensor& tensor, int root, const std::string& what) const {
  if (!impl_) return;
  RETAIN_CHECK(root >= 0 && root < world_, "dist", "broadcast of {} from rank {}: the world has {} ranks", what, root,
               world_);
  const bool move = tensor.device() != impl_->comm_device || !tensor.is_contiguous();
  std::vector<at::Tensor> io = {move ? tensor.to(impl_->comm_device).contiguous() : tensor};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  run_collective("broadcast", what, rank_, world_, [&] { return impl_->group->broadcast(io, o); });
  if (move) tensor.copy_(io[0]);
}

std::vector<at::Tensor> DistContext::all_gather(const at::Tensor& tensor, const std::string& what) const {
  if (!impl_) return {tensor.clone()};
  std::vector<at::Tensor> input = {tensor.to(impl_->comm_device).contiguous()};
  std::vector<std::vector<at::Tensor>> output(1);
  for (int r = 0; r < world_; ++r) output[0].push_back(at::empty_like(input[0]));
  run_collective("allgather", what, rank_, world_, [&] { return impl_->group->allgather(output, input); });
  for (auto& t : output[0]) t = t.to(tensor.device());
  return output[0];
}

at::Tensor DistContext::all_gather_rows(const at::Tensor& rows, const std::string& what) const {
  if (!impl_) return rows;
  at::Tensor count = at::full({1}, rows.size(0), at::kLong);
  const auto counts = all_gather(count, what + " (row counts)");
  int64_t longest = 0;
  for (const auto& c : counts) longest = std::max(longest, c.item<int64_t>());
  std::vector<int64_t> shape = rows.sizes().vec();
  shape[0] = longest;
  at::Tensor padded = at::zeros(shape, rows.options());
  padded.narrow(0, 0, rows.size(0)).copy_(rows);
  auto gathered = all_gather(padded, what);
  std::vector<at::Tensor> parts;
  for (int r = 0; r < world_; ++r) parts.push_back(gathered[r].narrow(0, 0, counts[r].item<int64_t>()));
  return at::cat(parts);
}

void DistContext::barrier(const std::string& what) const {
  if (!impl_) return;
  run_collective("barrier", what, rank_, world_, [&] { return impl_->group->barrier(); });
}

}  // namespace retain
