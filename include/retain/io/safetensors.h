// retain/io/safetensors.h — strict reader and atomic writer of the safetensors format.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data block; offsets are relative to the data block. The reader memory-maps the file and
// checks everything before handing out a tensor: header length within the file, every tensor's
// byte range within the data block and equal to numel × element size, no two ranges overlapping.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace retain::safetensors {

/// One entry of the header.
struct TensorInfo {
  std::string name;
  std::string dtype_name;  // as written: "F32", "BF16", ...
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets within the data block
  uint64_t end = 0;
};

/// A validated, memory-mapped safetensors file.
class File {
 public:
  /// Opens and validates; errors name the file and the offending tensor.
  static File open(const std::filesystem::path& path);

  const std::filesystem::path& path() const;
  /// Entries in the order of their data offsets.
  const std::vector<TensorInfo>& tensors() const;
  bool contains(const std::string& name) const;
  /// Throws "[safetensors] FILE: no tensor NAME" when absent.
  const TensorInfo& info(const std::string& name) const;
  /// The tensor on the CPU, in its stored dtype. Shares the mapping (copy-on-write) when aligned.
  at::Tensor tensor(const std::string& name) const;
  /// The "__metadata__" string map (empty when absent).
  const std::map<std::string, std::string>& metadata() const;

 private:
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

/// Writes tensors (any device; stored contiguous, on the CPU) to PATH atomically: a temporary file
/// beside it is renamed over PATH only when complete.
void save(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
          const std::map<std::string, std::string>& metadata = {});

/// "F32" ↔ at::kFloat etc. Throws for dtypes retain does not support (e.g. F8_E4M3).
at::ScalarType dtype_from_name(const std::string& name, const std::string& where);
std::string dtype_name(at::ScalarType type);

}  // namespace retain::safetensors
