#include "model_options.h"

#include "retain/model/loader.h"
#include "retain/model/lora.h"

namespace retain::cli {

void add_model_options(CLI::App& command, ModelOptions& options) {
  command.add_option("--model", options.model_dir, "Hugging Face model folder (config.json, *.safetensors)")
      ->required();
  command.add_option("--adapter", options.adapter_dirs,
                     "PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors); repeat it to apply "
                     "several, summed (inclora's task adapters)");
  command.add_option("--dtype", options.dtype, "Compute dtype: float32 or bfloat16")->capture_default_str();
  command.add_option("--device", options.device, "cpu, cuda or cuda:N")->capture_default_str();
}

CausalLM load_for_inference(const ModelOptions& options) {
  LoadOptions load;
  load.dtype = parse_dtype(options.dtype);
  load.device = parse_device(options.device);
  CausalLM model = load_model(options.model_dir, load);
  for (size_t i = 0; i < options.adapter_dirs.size(); ++i)
    load_peft_adapter(model, options.adapter_dirs[i], i == 0 ? "default" : "default" + std::to_string(i));
  model->eval();
  return model;
}

}  // namespace retain::cli
