#include "retain/train/adapter_checkpoint.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/model/lora.h"

namespace retain {

namespace {
constexpr const char* kComponent = "adapters";
constexpr const char* kFormat = "retain.adapters/1";
}  // namespace

void write_adapter_manifest(const std::filesystem::path& dir, const AdapterCheckpoint& c) {
  std::filesystem::create_directories(dir);
  const json manifest = {{"format", kFormat}, {"method", c.method}, {"tasks", c.tasks}, {"adapters", c.adapters}};
  write_file_atomic(dir / kAdapterManifest, manifest.dump(2) + "\n", kComponent);
}

AdapterCheckpoint read_adapter_manifest(const std::filesystem::path& dir) {
  const auto path = dir / kAdapterManifest;
  RETAIN_CHECK(std::filesystem::is_regular_file(path), kComponent,
               "{}: no {} (an adapter checkpoint of seqlora, inclora, olora or inflora holds it, with its PEFT "
               "adapter folders)", dir.string(), kAdapterManifest);
  const json manifest = read_json_file(path, kComponent);
  AdapterCheckpoint c;
  try {
    const std::string format = manifest.at("format").get<std::string>();
    RETAIN_CHECK(format == kFormat, kComponent, "{}: \"format\" is \"{}\", expected \"{}\"", path.string(), format, kFormat);
    c.method = manifest.at("method").get<std::string>();
    c.tasks = manifest.at("tasks").get<std::vector<std::string>>();
    c.adapters = manifest.at("adapters").get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    fail(kComponent, "{}: malformed ({})", path.string(), e.what());
  }
  RETAIN_CHECK(!c.method.empty(), kComponent, "{}: \"method\" is empty", path.string());
  RETAIN_CHECK(!c.tasks.empty(), kComponent, "{}: \"tasks\" is empty", path.string());
  RETAIN_CHECK(!c.adapters.empty(), kComponent, "{}: \"adapters\" is empty", path.string());
  for (const auto& a : c.adapters) {
    RETAIN_CHECK(!a.empty() && a != "." && a != ".." && a.find('/') == std::string::npos, kComponent,
                 "{}: adapter \"{}\" is not a folder name", path.string(), a);
    RETAIN_CHECK(std::filesystem::is_directory(dir / a), kComponent, "{}: lists adapter \"{}\", but {} is no folder",
                 path.string(), a, (dir / a).string());
  }
  return c;
}

AdapterCheckpoint load_adapter_checkpoint(CausalLM& model, const std::filesystem::path& dir) {
  AdapterCheckpoint c = read_adapter_manifest(dir);
  for (const auto& a : c.adapters) load_peft_adapter(model, dir / a, a);
  return c;
}

}  // namespace retain
