#include "retain/io/safetensors.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/json.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace retain::safetensors {

namespace {
constexpr const char* kComponent = "safetensors";
constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference implementation's limit

struct DtypeEntry {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeEntry kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},
};
}  // namespace

at::ScalarType dtype_from_name(const std::string& name, const std::string& where) {
  for (const auto& entry : kDtypes)
    if (name == entry.name) return entry.type;
  fail(kComponent, "{}: dtype \"{}\" is not supported (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)",
       where, name);
}

std::string dtype_name(at::ScalarType type) {
  for (const auto& entry : kDtypes)
    if (type == entry.type) return entry.name;
  fail(kComponent, "cannot store dtype {} in safetensors", c10::toString(type));
}

struct File::Mapping {
  void* base = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (base && base != MAP_FAILED) ::munmap(base, size);
  }
};

File File::open(const std::filesystem::path& path) {
  File file;
  file.path_ = path;
  const std::string where = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(kComponent, "cannot open {}: {}", where, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(kComponent, "cannot stat {}: {}", where, std::strerror(errno));
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail(kComponent, "{}: file is {} bytes, too short for a safetensors header (truncated?)", where, size);
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = size;
  mapping->base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping->base == MAP_FAILED) fail(kComponent, "cannot map {}: {}", where, std::strerror(errno));
  file.mapping_ = mapping;
  const auto* bytes = static_cast<const unsigned char*>(mapping->base);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeader || header_len > size - 8)
    fail(kComponent, "{}: header length {} runs past the end of the file ({} bytes; truncated or not safetensors)",
         where, header_len, size);
  const std::string header(reinterpret_cast<const char*>(bytes + 8), header_len);
  json doc = parse_json(header, where + " (header)", kComponent);
  if (!doc.is_object()) fail(kComponent, "{}: header is not a JSON object", where);
  const uint64_t data_size = size - 8 - header_len;

  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(kComponent, "{}: __metadata__ must be an object of strings", where);
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(kComponent, "{}: __metadata__.{} must be a string", where, m.key());
        file.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string tensor_where = where + ": tensor '" + it.key() + "'";
    TensorInfo info;
    info.name = it.key();
    info.dtype_name = json_get<std::string>(*it, "dtype", tensor_where, kComponent);
    info.dtype = dtype_from_name(info.dtype_name, tensor_where);
    const json& shape = (*it)["shape"];
    if (!shape.is_array()) fail(kComponent, "{}: \"shape\" must be a list of integers", tensor_where);
    uint64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        fail(kComponent, "{}: \"shape\" must be a list of non-negative integers", tensor_where);
      info.shape.push_back(d.get<int64_t>());
      numel *= static_cast<uint64_t>(d.get<int64_t>());
    }
    const json& offsets = (*it)["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
      fail(kComponent, "{}: \"data_offsets\" must be [begin, end]", tensor_where);
    info.begin = offsets[0].get<uint64_t>();
    info.end = offsets[1].get<uint64_t>();
    if (info.begin > info.end || info.end > data_size)
      fail(kComponent, "{}: data [{}, {}) lies outside the data block of {} bytes (truncated file?)", tensor_where,
           info.begin, info.end, data_size);
    const uint64_t expected = numel * c10::elementSize(info.dtype);
    if (info.end - info.begin != expected)
      fail(kComponent, "{}: holds {} bytes, but {} {} needs {}", tensor_where, info.end - info.begin,
           info.dtype_name, fmt::format("[{}]", fmt::join(info.shape, ", ")), expected);
    file.tensors_.push_back(std::move(info));
  }
  std::sort(file.tensors_.begin(), file.tensors_.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
  for (size_t i = 0; i < file.tensors_.size(); ++i) {
    if (i > 0 && file.tensors_[i].begin < file.tensors_[i - 1].end)
      fail(kComponent, "{}: tensors '{}' and '{}' overlap", where, file.tensors_[i - 1].name, file.tensors_[i].name);
    file.index_[file.tensors_[i].name] = i;
  }
  return file;
}

const std::filesystem::path& File::path() const { return path_; }
const std::vector<TensorInfo>& File::tensors() const { return tensors_; }
bool File::contains(const std::string& name) const { return index_.count(name) != 0; }
const std::map<std::string, std::string>& File::metadata() const { return metadata_; }

const TensorInfo& File::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(kComponent, "{}: no tensor '{}'", path_.string(), name);
  return tensors_[it->second];
}

at::Tensor File::tensor(const std::string& name) const {
  const TensorInfo& ti = info(name);
  auto* bytes = static_cast<unsigned char*>(mapping_->base);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  unsigned char* data = bytes + 8 + header_len + ti.begin;
  const auto options = at::TensorOptions().dtype(ti.dtype).device(at::kCPU);
  if (reinterpret_cast<uintptr_t>(data) % c10::elementSize(ti.dtype) != 0) {
    auto out = at::empty(ti.shape, options);
    std::memcpy(out.data_ptr(), data, ti.end - ti.begin);
    return out;
  }
  auto keep = mapping_;
  return at::from_blob(data, ti.shape, [keep](void*) {}, options);
}

void save(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
          const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    RETAIN_CHECK(!header.contains(name), kComponent, "{}: tensor name '{}' appears twice", path.string(), name);
    const auto type = t.scalar_type();  // (a structured binding cannot be captured in C++17)
    if (std::none_of(std::begin(kDtypes), std::end(kDtypes), [&](const DtypeEntry& e) { return e.type == type; }))
      fail(kComponent, "{}: cannot store tensor '{}' of dtype {} (safetensors dtypes: F64, F32, F16, BF16, I64, I32, "
           "I16, I8, U8, BOOL)", path.string(), name, c10::toString(t.scalar_type()));
    auto c = t.detach().to(at::kCPU).contiguous();
    const uint64_t n = c.numel() * c.element_size();
    header[name] = {{"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
    cpu.push_back(c);
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // align the data block to 8 bytes
  write_file_atomic(
      path,
      [&](std::ostream& out) {
        uint64_t n = text.size();
        unsigned char len[8];
        for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
        out.write(reinterpret_cast<const char*>(len), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        for (const auto& c : cpu) out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
      },
      kComponent);
}

}  // namespace retain::safetensors
