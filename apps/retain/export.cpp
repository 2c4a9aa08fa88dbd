// retain export: the one place where LoRA adapters are merged into the base weights — a model plus
// PEFT adapters written as a plain Hugging Face folder that transformers loads without peft.
#include "commands.h"

#include "retain/core/files.h"
#include "retain/model/loader.h"
#include "retain/model/lora.h"

#include <filesystem>
#include <iostream>
#include <memory>

namespace retain::cli {
namespace {

namespace fs = std::filesystem;

struct ExportOptions {
  std::string model;
  std::vector<std::string> adapters;
  std::string out;
  std::string dtype = "float32";
  bool overwrite = false;
};

void run_export(const ExportOptions& o) {
  const fs::path out = o.out;
  RETAIN_CHECK(fs::absolute(out).lexically_normal() != fs::absolute(o.model).lexically_normal(), "export",
               "--out must differ from --model ({}); export never writes over its input", o.model);
  const bool occupied = fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out));
  RETAIN_CHECK(!occupied || (o.overwrite && fs::is_directory(out)), "export",
               "{} exists and is not an empty folder; pass --overwrite to replace the model files in it", out.string());
  const at::ScalarType dtype = parse_dtype(o.dtype);
  // Merge in float64 so that the only rounding is the final cast to the stored dtype.
  CausalLM model = load_model(o.model, {at::kDouble, at::kCPU});
  for (size_t i = 0; i < o.adapters.size(); ++i) load_peft_adapter(model, o.adapters[i], "adapter" + std::to_string(i));
  const int64_t merged = model->merge_adapters();
  save_model(out, model, dtype);
  for (const char* extra : {"tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json"}) {
    const fs::path from = fs::path(o.model) / extra;
    if (fs::exists(from)) write_file_atomic(out / extra, read_file(from, "export"), "export");
  }
  std::cerr << "retain export: " << o.adapters.size() << " adapter(s) merged into " << merged << " layers -> "
            << out.string() << " (" << dtype_to_string(dtype) << ")\n";
}

}  // namespace

void register_export(CLI::App& app) {
  auto options = std::make_shared<ExportOptions>();
  auto* command = app.add_subcommand("export", "Merge PEFT LoRA adapters into a model and write a Hugging Face folder");
  command->add_option("--model", options->model, "Base model folder")->required();
  command->add_option("--adapter", options->adapters, "PEFT adapter folder to merge (repeatable, applied in order)");
  command->add_option("--out", options->out, "Folder to write")->required();
  command->add_option("--dtype", options->dtype, "Stored dtype: float32, bfloat16 or float16")->capture_default_str();
  command->add_flag("--overwrite", options->overwrite, "Replace the model files of an existing, non-empty folder");
  command->callback([options] { run_export(*options); });
}

}  // namespace retain::cli
