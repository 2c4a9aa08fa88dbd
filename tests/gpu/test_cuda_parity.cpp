// Every registered method trains on CUDA as it does on the CPU: the same two toy tasks, seed, data
// and settings through run_method on each device in float32, then the loss of every optimizer step
// and everything the method saves after the last task (model weights, adapters, experts, gates,
// routers) are compared. Skips cleanly without CUDA.
//
// What differs between the devices is only arithmetic order: cuBLAS against OpenBLAS GEMMs, CUDA's
// reductions, and AdamW's fused multi-tensor kernel against the per-parameter ops (1e-6 after 5
// steps, test_cuda_train.cpp). Randomness does not differ: every random draw of retain (adapter
// init, subsets, expansions, gates) comes from CPU generators, and dropout, the one device draw, is
// set to 0 here. float32 rounding (6e-8) grows through a few layers and 8 AdamW steps at lr 1e-2;
// AdamW's m/√v then amplifies it wherever a gradient entry is near zero (a sum of cancelling terms:
// norm weights, rarely used embedding rows), where the step's sign is decided by rounding. Measured
// on the H200 (worst over the 13 methods): step loss 9e-5 and general-text loss 1.2e-5 relative
// (replay), whole-model update 1.4e-3 (seqft), one tensor's update 3.5e-2 (replay's layer-1 input
// norm, 192 entries). Bounds: losses 5e-4 relative; the update of everything saved, all tensors
// together, 2e-3 of its norm; each tensor's own update 0.1 (a tensor that does not train on one
// device is off by 1). A method whose CUDA path does not train — SETA's merged kernel reading stale
// expert values, before the fused AdamW moved version counters — misses the loss bound from the
// second step on: its CUDA loss stays at the untrained value.
#include "common/toy_run.h"
#include "retain/core/files.h"
#include "retain/core/torch_compat.h"
#include "retain/io/safetensors.h"
#include "retain/train/registry.h"
#include "retain/train/runner.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>

namespace {

using namespace retain::testing;

constexpr double kLossTolerance = 5e-4;         // relative, every step and every general-text row
constexpr double kUpdateTolerance = 2e-3;       // ‖Δ_cuda − Δ_cpu‖ / ‖Δ_cpu‖ over everything saved
constexpr double kTensorUpdateTolerance = 0.1;  // the same for each tensor alone

std::vector<double> step_losses(const fs::path& metrics) {
  std::vector<double> out;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) out.push_back(retain::json::parse(line)["loss"].get<double>());
  return out;
}

// Every tensor of every safetensors file under `dir`, keyed "file:tensor".
std::map<std::string, at::Tensor> saved_tensors(const fs::path& dir) {
  std::map<std::string, at::Tensor> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".safetensors") continue;
    const auto file = retain::safetensors::File::open(entry.path());
    const std::string rel = fs::relative(entry.path(), dir).string();
    for (const auto& info : file.tensors()) out[rel + ":" + info.name] = file.tensor(info.name).clone();
  }
  return out;
}

class CudaParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!retain::compat::cuda_available()) GTEST_SKIP() << "CUDA not available";
  }
};

TEST_P(CudaParity, TrainsOnCudaAsOnTheCpu) {
  const std::string method = GetParam();
  const auto root = temp_dir("cuda_parity_" + method);
  std::vector<retain::Task> tasks = {retain::load_task(make_task(root, "colors", {"red", "blue", "green"}, 3)),
                                     retain::load_task(make_task(root, "animals", {"cat", "dog", "cow"}, 3))};
  retain::RunConfig config;
  config.optim.lr = 1e-2;
  config.optim.batch_size = 3;
  config.optim.max_steps = 4;
  config.eval.scoring = "rank";
  config.run.max_length = 64;
  config.run.save_checkpoints = true;
  config.run.resumable = false;
  for (const char* lora : {"seqlora", "inclora", "olora", "pertask", "asr"}) config.set(std::string("method.") + lora + ".dropout=0");
  config.set("method.asr.expansion_dim=256");
  config.set("method.seta.gate_steps=20");
  config.set("method.seta.importance_samples=4");
  config.set("method.ewc.fisher_samples=4");
  // The general text's loss in every row runs the inference path (routed models included: SETA's
  // per-sample csr kernel exists only on CUDA) on both devices.
  retain::write_file_atomic(root / "general.txt", "say red and then say blue\nthe cat and the dog say green\n");
  config.eval.general_text = (root / "general.txt").string();

  std::vector<double> losses[2];
  std::map<std::string, at::Tensor> saved[2];
  retain::MethodResults results[2];
  for (int d = 0; d < 2; ++d) {
    config.run.device = d == 0 ? "cpu" : "cuda";
    const auto out = root / config.run.device;
    results[d] = retain::run_method(method, kTinyModel, tasks, config, out);
    losses[d] = step_losses(out / method / "metrics.jsonl");
    saved[d] = saved_tensors(out / method / "checkpoints" / "task_2");
  }
  // 4 steps per task; mtl's stage t trains (t + 1) × 4 on the union (the same examples seen).
  ASSERT_EQ(losses[0].size(), method == "mtl" ? 12u : 8u);
  ASSERT_EQ(losses[1].size(), losses[0].size());
  double worst_loss = 0;
  for (size_t i = 0; i < losses[0].size(); ++i) {
    const double rel = std::abs(losses[1][i] - losses[0][i]) / std::max(std::abs(losses[0][i]), 1e-12);
    worst_loss = std::max(worst_loss, rel);
    EXPECT_LT(rel, kLossTolerance) << "step " << i << ": cpu " << losses[0][i] << ", cuda " << losses[1][i];
  }

  // Evaluation: the general text's loss after every task (inference path), and the answers.
  ASSERT_TRUE(results[0].general_loss && results[1].general_loss);
  double worst_general = 0;
  for (size_t j = 0; j < results[0].general_loss->size(); ++j) {
    const double a = (*results[0].general_loss)[j], b = (*results[1].general_loss)[j];
    worst_general = std::max(worst_general, std::abs(a - b) / a);
    EXPECT_LT(std::abs(a - b) / a, kLossTolerance) << "general text loss, row " << j << ": cpu " << a << ", cuda " << b;
  }
  EXPECT_EQ(results[0].matrix.scores, results[1].matrix.scores) << "the answers differ between the devices";

  // Base-model weights are compared as updates from the base (their values are mostly the base's).
  const auto base = retain::safetensors::File::open(kTinyModel / "model.safetensors");
  ASSERT_FALSE(saved[0].empty()) << "the method saved nothing to compare";
  ASSERT_EQ(saved[0].size(), saved[1].size());
  double worst_update = 0, all_diff = 0, all_norm = 0;
  std::string worst_tensor;
  int64_t compared = 0;
  for (const auto& [key, cpu] : saved[0]) {
    ASSERT_TRUE(saved[1].count(key)) << key << " saved on the CPU only";
    const at::Tensor& cuda = saved[1].at(key);
    ASSERT_EQ(cpu.sizes(), cuda.sizes()) << key;
    if (!cpu.is_floating_point()) {  // indices (seta's experts), counts
      EXPECT_TRUE(at::equal(cpu, cuda)) << key << ": integer tensors differ";
      continue;
    }
    at::Tensor a = cuda.to(at::kDouble), b = cpu.to(at::kDouble);
    const std::string tensor = key.substr(key.find(':') + 1);
    if (key.rfind("model.safetensors:", 0) == 0 && base.contains(tensor)) {
      const auto w0 = base.tensor(tensor).to(at::kDouble);
      a = a - w0;
      b = b - w0;
    }
    const double nb = b.norm().item<double>(), diff = (a - b).norm().item<double>();
    all_diff += diff * diff;
    all_norm += nb * nb;
    const double rel = nb > 0 ? diff / nb : diff;
    if (rel > worst_update) worst_update = rel, worst_tensor = key;
    EXPECT_LT(rel, kTensorUpdateTolerance) << key << ": ‖cpu‖ " << nb << ", ‖cuda − cpu‖ " << diff;
    ++compared;
  }
  const double overall = all_norm > 0 ? std::sqrt(all_diff / all_norm) : std::sqrt(all_diff);
  EXPECT_LT(overall, kUpdateTolerance) << "everything saved, together";
  EXPECT_GT(compared, 0);
  std::cout << "[ parity ] " << method << ": worst step loss " << worst_loss << ", general text " << worst_general
            << ", update " << overall << " (worst tensor " << worst_update << ", " << worst_tensor << ") over "
            << compared << " tensors\n";
}

INSTANTIATE_TEST_SUITE_P(EveryMethod, CudaParity, ::testing::ValuesIn(retain::method_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
