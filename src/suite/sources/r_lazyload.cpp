#include "retain/suite/sources/r_lazyload.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/suite/text_clean.h"

#include <bzlib.h>
#include <fmt/format.h>
#include <lzma.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>

namespace retain::suite {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "data";

// SEXPTYPEs and serialisation pseudo-types (serialize.c).
enum : int {
  kSpecial = 7, kBuiltin = 8, kPromise = 5, kDots = 17, kByteCode = 21, kExternalPtr = 22, kWeakRef = 23,
  kAltRep = 238, kAttrList = 239, kAttrLang = 240, kBaseEnv = 241, kEmptyEnv = 242, kBaseNamespace = 247,
  kPersist = 248, kNamespace = 249, kPackage = 250, kMissingArg = 251, kUnbound = 252, kGlobalEnv = 253,
  kNilValue = 254, kRef = 255
};
constexpr int kLatin1Mask = 1 << 2;
// The most bytes a record or stream may decompress to, and the longest vector a compact sequence may
// expand to: R's data sets in Debian packages are far below both; a file claiming more is corrupt or
// hostile, and is refused before anything is allocated.
constexpr size_t kMaxDecompressed = size_t{1} << 30;
constexpr double kMaxCompactLength = 1u << 28;

class XdrReader {
 public:
  XdrReader(const std::string& bytes, std::string origin) : bytes_(bytes), origin_(std::move(origin)) {}

  RValuePtr read_all() {
    if (bytes_.size() < 2 || bytes_.compare(0, 2, "X\n") != 0)
      fail(kComponent, "{}: not R XDR serialisation (expected \"X\\n\", found {} bytes starting {:?})", origin_,
           bytes_.size(), bytes_.substr(0, 2));
    pos_ = 2;
    const int version = read_int();
    read_int();  // writer version
    read_int();  // minimal reader version
    if (version == 3) {
      read_bytes(read_count("native encoding name length"));
    } else if (version != 2) {
      fail(kComponent, "{}: serialisation format version {} (expected 2 or 3)", origin_, version);
    }
    return read_item();
  }

 private:
  int32_t read_int() {
    need(4);
    const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes_[pos_ + k])); };
    const uint32_t v = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
    pos_ += 4;
    return static_cast<int32_t>(v);
  }
  double read_double() {
    need(8);
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | static_cast<unsigned char>(bytes_[pos_ + k]);
    pos_ += 8;
    double d;
    std::memcpy(&d, &v, 8);
    return d;
  }
  std::string read_bytes(size_t n) {
    need(n);
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  void need(size_t n) const {
    if (n > bytes_.size() - pos_)
      fail(kComponent, "{}: serialised data ends early (needed {} bytes at offset {}, size {})", origin_, n, pos_,
           bytes_.size());
  }
  // Checks that `count` elements of at least `bytes_each` bytes can still follow (so that a corrupt
  // length fails here instead of reserving memory for it).
  void need_elements(size_t count, size_t bytes_each, const char* what) const {
    const size_t left = bytes_.size() - pos_;
    if (count > left / bytes_each)
      fail(kComponent, "{}: {} of length {} at offset {} cannot fit in the {} bytes left", origin_, what, count, pos_,
           left);
  }
  // A non-negative 32-bit count (a string or name length); `what` names it in the error.
  size_t read_count(const char* what) {
    const int32_t n = read_int();
    if (n < 0) fail(kComponent, "{}: {} is {} at offset {} (expected >= 0)", origin_, what, n, pos_ - 4);
    return static_cast<size_t>(n);
  }
  size_t read_length() {
    const int32_t n = read_int();
    if (n >= 0) return static_cast<size_t>(n);
    if (n != -1) fail(kComponent, "{}: negative vector length {} at offset {}", origin_, n, pos_ - 4);
    const uint64_t hi = static_cast<uint32_t>(read_int()), lo = static_cast<uint32_t>(read_int());
    const uint64_t length = (hi << 32) | lo;
    if (length > bytes_.size())  // every element takes at least one byte
      fail(kComponent, "{}: long vector length {} at offset {} exceeds the data's {} bytes", origin_, length, pos_ - 12,
           bytes_.size());
    return static_cast<size_t>(length);
  }

  std::shared_ptr<RValue> make(int type) {
    auto v = std::make_shared<RValue>();
    v->type = type;
    return v;
  }

  // A CHARSXP payload (after its flags).
  void read_char_payload(int flags, std::string& out, bool& is_na) {
    const int32_t n = read_int();
    is_na = n == -1;
    if (is_na) {
      out.clear();
      return;
    }
    if (n < 0) fail(kComponent, "{}: string length {} at offset {} (expected >= 0, or -1 for NA)", origin_, n, pos_ - 4);
    out = read_bytes(static_cast<size_t>(n));
    if ((flags >> 12) & kLatin1Mask) out = to_valid_utf8(out);  // Latin-1 bytes → UTF-8
  }

  // The attributes pairlist `attrs` appended to v's attributes.
  static void add_attributes(RValue& v, const RValue& attrs) {
    for (size_t i = 0; i < attrs.items.size(); ++i) v.attributes.emplace_back(attrs.tags[i], attrs.items[i]);
  }

  void read_attributes_into(RValue& v) { add_attributes(v, *read_item()); }

  // The name a symbol or CHARSXP holds ("" for none).
  static std::string first_string(const RValue& item) { return item.strings.empty() ? "" : item.strings[0]; }

  RValuePtr read_item() {
    if (++depth_ > 10000) fail(kComponent, "{}: objects nested deeper than 10000 levels", origin_);
    auto result = read_item_inner();
    --depth_;
    return result;
  }

  RValuePtr read_item_inner() {
    const int flags = read_int();
    const int type = flags & 0xFF;
    const bool has_attr = flags & (1 << 9), has_tag = flags & (1 << 10);
    switch (type) {
      case kNilValue: return make(RValue::Nil);
      case kEmptyEnv: case kBaseEnv: case kGlobalEnv: case kBaseNamespace: case kUnbound: case kMissingArg:
        return make(RValue::Environment);
      case kRef: {
        int index = flags >> 8;
        if (index == 0) index = read_int();
        if (index < 1 || static_cast<size_t>(index) > refs_.size())
          fail(kComponent, "{}: reference {} to an object not read yet ({} so far)", origin_, index, refs_.size());
        return refs_[static_cast<size_t>(index - 1)];
      }
      case kPersist: case kPackage: case kNamespace: {
        auto v = make(type == kPersist ? RValue::String : RValue::Environment);
        if (read_int() != 0) fail(kComponent, "{}: unexpected persistent-name format", origin_);
        const size_t n = read_length();
        need_elements(n, 4, "a persistent name list");
        for (size_t i = 0; i < n; ++i) v->strings.push_back(first_string(*read_item()));
        refs_.push_back(v);
        return v;
      }
      case RValue::Symbol: {
        auto v = make(RValue::Symbol);
        v->strings.push_back(first_string(*read_item()));
        refs_.push_back(v);
        return v;
      }
      case RValue::Environment: {
        auto v = make(RValue::Environment);
        refs_.push_back(v);
        read_int();    // locked
        read_item();   // enclosure
        read_item();   // frame
        read_item();   // hash table
        read_item();   // attributes
        return v;
      }
      case RValue::PairList: case RValue::Language: case RValue::Closure: case kPromise: case kDots: case kAttrList:
      case kAttrLang: {
        // A chain of nodes: read iteratively along the CDR.
        auto v = make(type == RValue::Language || type == kAttrLang ? RValue::Language : RValue::PairList);
        int node_flags = flags;
        while (true) {
          const int t = node_flags & 0xFF;
          const bool attr = node_flags & (1 << 9), tag = node_flags & (1 << 10);
          if (attr) read_attributes_into(*v);
          v->tags.push_back(tag ? first_string(*read_item()) : "");
          v->items.push_back(read_item());
          (void)t;
          node_flags = read_int();
          const int next = node_flags & 0xFF;
          if (next == RValue::PairList || next == RValue::Language || next == kAttrList || next == kAttrLang ||
              next == RValue::Closure || next == kPromise || next == kDots)
            continue;
          pos_ -= 4;
          read_item();  // the final CDR (normally NULL)
          break;
        }
        return v;
      }
      case kAltRep: {
        auto info = read_item();
        auto state = read_item();
        auto attrs = read_item();
        const std::string cls = !info->items.empty() && !info->items[0]->strings.empty() ? info->items[0]->strings[0] : "?";
        std::shared_ptr<RValue> v;
        if (cls == "compact_intseq" || cls == "compact_realseq") {
          const bool is_int = cls == "compact_intseq";
          v = make(is_int ? RValue::Integer : RValue::Real);
          if (state->reals.size() < 3) fail(kComponent, "{}: malformed {} state", origin_, cls);
          const double length = state->reals[0];
          if (!(length >= 0 && length <= kMaxCompactLength))
            fail(kComponent, "{}: {} of length {} (expected 0..{})", origin_, cls, length, kMaxCompactLength);
          const auto n = static_cast<size_t>(length);
          for (size_t i = 0; i < n; ++i) {
            const double x = state->reals[1] + static_cast<double>(i) * state->reals[2];
            if (is_int) v->ints.push_back(static_cast<int32_t>(x));
            else v->reals.push_back(x);
          }
        } else if (cls.rfind("wrap_", 0) == 0 && !state->items.empty()) {
          v = std::make_shared<RValue>(*state->items[0]);
        } else if (cls == "deferred_string" && !state->items.empty()) {
          v = make(RValue::String);
          const auto& arg = *state->items[0];
          if (arg.type != RValue::Integer && arg.type != RValue::Real)
            fail(kComponent, "{}: deferred_string over R type {} (expected an integer or double vector)", origin_, arg.type);
          for (size_t i = 0; i < arg.length(); ++i) {
            v->strings.push_back(arg.type == RValue::Integer ? std::to_string(arg.ints[i]) : fmt::format("{}", arg.reals[i]));
            v->na.push_back(false);
          }
        } else {
          fail(kComponent, "{}: ALTREP class \"{}\" is not supported", origin_, cls);
        }
        add_attributes(*v, *attrs);
        return v;
      }
      default: break;
    }
    std::shared_ptr<RValue> v = make(type);
    switch (type) {
      case RValue::Char: {
        std::string s;
        bool is_na;
        read_char_payload(flags, s, is_na);
        v->strings.push_back(s);
        v->na.push_back(is_na);
        break;
      }
      case RValue::Logical: case RValue::Integer: {
        const size_t n = read_length();
        need_elements(n, 4, "an integer vector");
        v->ints.reserve(n);
        for (size_t i = 0; i < n; ++i) v->ints.push_back(read_int());
        break;
      }
      case RValue::Real: case RValue::Complex: {
        const size_t length = read_length();
        need_elements(length, type == RValue::Complex ? 16 : 8, "a double vector");
        const size_t n = length * (type == RValue::Complex ? 2 : 1);
        v->reals.reserve(n);
        for (size_t i = 0; i < n; ++i) v->reals.push_back(read_double());
        break;
      }
      case RValue::String: {
        const size_t n = read_length();
        need_elements(n, 8, "a character vector");  // each element: flags and a length
        v->strings.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          const int f = read_int();
          if ((f & 0xFF) != RValue::Char)
            fail(kComponent, "{}: element {} of a character vector has type {} (expected CHARSXP 9)", origin_, i, f & 0xFF);
          std::string s;
          bool is_na;
          read_char_payload(f, s, is_na);
          v->strings.push_back(std::move(s));
          v->na.push_back(is_na);
        }
        break;
      }
      case RValue::List: case RValue::Expression: {
        const size_t n = read_length();
        need_elements(n, 4, "a list");
        for (size_t i = 0; i < n; ++i) v->items.push_back(read_item());
        break;
      }
      case RValue::Raw: {
        const size_t n = read_length();
        v->strings.push_back(read_bytes(n));
        break;
      }
      case RValue::S4: break;
      case kSpecial: case kBuiltin: {
        v->strings.push_back(read_bytes(read_count("a builtin's name length")));
        break;
      }
      case kExternalPtr:
        refs_.push_back(v);
        read_item();
        read_item();
        break;
      case kWeakRef: refs_.push_back(v); break;
      default:
        fail(kComponent, "{}: R object type {} at offset {} is not supported by this reader (data frames of "
             "character, factor and numeric columns are)", origin_, type, pos_ - 4);
    }
    if (has_attr) {
      if (type == RValue::Char) read_item();  // old files: ignored, as R does
      else read_attributes_into(*v);
    }
    (void)has_tag;
    return v;
  }

  const std::string& bytes_;
  std::string origin_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::vector<RValuePtr> refs_;
};

// Runs `end` when the scope ends, thrown out of or not: each decompressor's state is freed even when
// growing its output fails.
class EndOnExit {
 public:
  explicit EndOnExit(std::function<void()> end) : end_(std::move(end)) {}
  ~EndOnExit() { end_(); }
  EndOnExit(const EndOnExit&) = delete;
  EndOnExit& operator=(const EndOnExit&) = delete;

 private:
  std::function<void()> end_;
};

void check_decompressed_size(size_t expected, const std::string& origin) {
  if (expected > kMaxDecompressed)
    fail(kComponent, "{}: a record of {} bytes after decompression is over the {} byte limit", origin, expected,
         kMaxDecompressed);
}

// The next output buffer size while decompressing: doubled, up to kMaxDecompressed.
size_t grown_size(size_t size, const std::string& origin) {
  if (size >= kMaxDecompressed)
    fail(kComponent, "{}: decompresses to more than {} bytes (corrupt, or not one of R's data files)", origin,
         kMaxDecompressed);
  return std::min(size * 2, kMaxDecompressed);
}

uint32_t big_endian_u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t k = 0; k < 4; ++k) v = (v << 8) | static_cast<unsigned char>(s[at + k]);
  return v;
}

}  // namespace

std::string inflate_zlib(const std::string& data, const std::string& origin, size_t expected) {
  check_decompressed_size(expected, origin);
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) fail(kComponent, "{}: zlib initialisation failed", origin);
  const EndOnExit end_stream([&] { inflateEnd(&z); });  // also when growing the output throws
  std::string out;
  out.resize(expected ? expected : data.size() * 4 + 1024);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (true) {
    if (z.total_out >= out.size()) out.resize(grown_size(out.size(), origin));
    z.next_out = reinterpret_cast<Bytef*>(&out[z.total_out]);
    z.avail_out = static_cast<uInt>(out.size() - z.total_out);
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
  }
  const size_t size = z.total_out;
  if (rc != Z_STREAM_END) fail(kComponent, "{}: zlib/gzip data is corrupt or truncated (zlib code {})", origin, rc);
  out.resize(size);
  return out;
}

std::string decompress_xz(const std::string& data, const std::string& origin, size_t expected) {
  check_decompressed_size(expected, origin);
  lzma_stream s = LZMA_STREAM_INIT;
  // An .xz container starts with FD 37 7A 58 5A 00; R's lazy-load records are raw LZMA2 streams
  // written with preset 9 (serialize.c R_compress3), which a raw decoder with the same dictionary reads.
  const bool container = data.size() >= 6 && data.compare(0, 6, std::string("\xFD" "7zXZ\0", 6)) == 0;
  lzma_options_lzma lzma2{};
  lzma_filter filters[2];
  lzma_ret init;
  if (container) {
    init = lzma_auto_decoder(&s, UINT64_MAX, 0);
  } else {
    if (lzma_lzma_preset(&lzma2, 9)) fail(kComponent, "{}: xz preset 9 unavailable", origin);
    filters[0] = {LZMA_FILTER_LZMA2, &lzma2};
    filters[1] = {LZMA_VLI_UNKNOWN, nullptr};
    init = lzma_raw_decoder(&s, filters);
  }
  if (init != LZMA_OK) fail(kComponent, "{}: xz initialisation failed", origin);
  const EndOnExit end_stream([&] { lzma_end(&s); });
  std::string out(expected ? expected : data.size() * 4 + 1024, '\0');
  s.next_in = reinterpret_cast<const uint8_t*>(data.data());
  s.avail_in = data.size();
  lzma_ret rc = LZMA_OK;
  while (true) {
    if (s.total_out >= out.size()) out.resize(grown_size(out.size(), origin));
    s.next_out = reinterpret_cast<uint8_t*>(&out[s.total_out]);
    s.avail_out = out.size() - s.total_out;
    rc = lzma_code(&s, LZMA_FINISH);
    if (rc != LZMA_OK) break;
  }
  const size_t size = s.total_out;
  if (rc != LZMA_STREAM_END) fail(kComponent, "{}: xz data is corrupt or truncated (lzma code {})", origin, static_cast<int>(rc));
  out.resize(size);
  return out;
}

std::string decompress_bzip2(const std::string& data, const std::string& origin, size_t expected) {
  bz_stream s{};
  check_decompressed_size(expected, origin);
  if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) fail(kComponent, "{}: bzip2 initialisation failed", origin);
  const EndOnExit end_stream([&] { BZ2_bzDecompressEnd(&s); });
  std::string out(expected ? expected : data.size() * 4 + 1024, '\0');
  s.next_in = const_cast<char*>(data.data());
  s.avail_in = static_cast<unsigned>(data.size());
  int rc = BZ_OK;
  size_t produced = 0;
  while (true) {
    if (produced >= out.size()) out.resize(grown_size(out.size(), origin));
    s.next_out = &out[produced];
    s.avail_out = static_cast<unsigned>(out.size() - produced);
    rc = BZ2_bzDecompress(&s);
    produced = out.size() - s.avail_out;
    if (rc != BZ_OK) break;
    if (s.avail_in == 0 && s.avail_out > 0) break;
  }
  if (rc != BZ_STREAM_END) fail(kComponent, "{}: bzip2 data is corrupt or truncated (bzip2 code {})", origin, rc);
  out.resize(produced);
  return out;
}

const RValue* RValue::attribute(const std::string& name) const {
  for (const auto& [key, value] : attributes)
    if (key == name) return value.get();
  return nullptr;
}

size_t RValue::length() const {
  switch (type) {
    case String: case Char: return strings.size();
    case Integer: case Logical: return ints.size();
    case Real: return reals.size();
    case Complex: return reals.size() / 2;
    default: return items.size();
  }
}

RValuePtr parse_r_serialized(const std::string& bytes, const std::string& origin) {
  return XdrReader(bytes, origin).read_all();
}

std::string decode_rdb_record(const std::string& record, const std::string& origin) {
  if (record.size() < 5) fail(kComponent, "{}: record of {} bytes is too short (expected length + data)", origin, record.size());
  const size_t length = big_endian_u32(record, 0);
  const char type = record[4];
  std::string out;
  if (type == 'Z') out = decompress_xz(record.substr(5), origin, length);
  else if (type == '2') out = decompress_bzip2(record.substr(5), origin, length);
  else if (type == '0') out = record.substr(5);
  else out = inflate_zlib(record.substr(4), origin, length);
  if (out.size() != length)
    fail(kComponent, "{}: record decompresses to {} bytes, its header says {}", origin, out.size(), length);
  return out;
}

RLazyLoadDb::RLazyLoadDb(const fs::path& stem) : stem_(stem) {
  const fs::path rdx = stem.string() + ".rdx";
  const auto index = parse_r_serialized(inflate_zlib(read_file(rdx, kComponent), rdx.string()), rdx.string());
  const RValue* names = index->attribute("names");
  const RValue* variables = nullptr;
  for (size_t i = 0; names && i < names->strings.size() && i < index->items.size(); ++i)
    if (names->strings[i] == "variables") variables = index->items[i].get();
  if (!variables) fail(kComponent, "{}: no \"variables\" list (is this an R lazy-load index?)", rdx.string());
  const RValue* var_names = variables->attribute("names");
  if (var_names && var_names->strings.size() != variables->items.size())
    fail(kComponent, "{}: {} variable names for {} keys", rdx.string(), var_names->strings.size(), variables->items.size());
  for (size_t i = 0; var_names && i < variables->items.size(); ++i) {
    const RValue& key = *variables->items[i];
    int64_t offset, length;
    if (key.type == RValue::Integer && key.ints.size() == 2) {
      offset = key.ints[0];
      length = key.ints[1];
    } else if (key.type == RValue::Real && key.reals.size() == 2 && key.reals[0] >= 0 && key.reals[0] < 9e15 &&
               key.reals[1] >= 0 && key.reals[1] < 9e15) {
      offset = static_cast<int64_t>(key.reals[0]);
      length = static_cast<int64_t>(key.reals[1]);
    } else {
      fail(kComponent, "{}: the key of \"{}\" is not c(offset, length)", rdx.string(), var_names->strings[i]);
    }
    if (offset < 0 || length < 5 || static_cast<uint64_t>(length) > kMaxDecompressed)
      fail(kComponent, "{}: the key of \"{}\" is offset {} length {} (expected offset >= 0, 5 <= length <= {})",
           rdx.string(), var_names->strings[i], offset, length, kMaxDecompressed);
    index_[var_names->strings[i]] = {offset, length};
  }
}

std::vector<std::string> RLazyLoadDb::names() const {
  std::vector<std::string> out;
  for (const auto& [name, key] : index_) out.push_back(name);
  return out;
}

RValuePtr RLazyLoadDb::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    std::string known;
    for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
    fail(kComponent, "{}.rdx: no object \"{}\" (it has: {})", stem_.string(), name, known);
  }
  const fs::path rdb = stem_.string() + ".rdb";
  std::ifstream in(rdb, std::ios::binary);
  if (!in) fail(kComponent, "cannot read {}", rdb.string());
  std::error_code ec;
  const auto file_size = fs::file_size(rdb, ec);
  if (ec || static_cast<uint64_t>(it->second.first) + static_cast<uint64_t>(it->second.second) > file_size)
    fail(kComponent, "{}: object \"{}\" at offset {} length {} runs past the end of the file ({} bytes)", rdb.string(),
         name, it->second.first, it->second.second, ec ? 0 : file_size);
  in.seekg(it->second.first);
  std::string record(static_cast<size_t>(it->second.second), '\0');
  in.read(record.data(), static_cast<std::streamsize>(record.size()));
  if (in.gcount() != static_cast<std::streamsize>(record.size()))
    fail(kComponent, "{}: object \"{}\" at offset {} length {} runs past the end of the file", rdb.string(), name,
         it->second.first, it->second.second);
  const std::string origin = rdb.string() + " [" + name + "]";
  return parse_r_serialized(decode_rdb_record(record, origin), origin);
}

std::vector<std::string> r_as_strings(const RValue& v, const std::string& origin) {
  std::vector<std::string> out;
  if (v.type == RValue::String) {
    for (size_t i = 0; i < v.strings.size(); ++i) out.push_back(v.na[i] ? "" : v.strings[i]);
  } else if (v.type == RValue::Integer && v.attribute("levels")) {
    const auto& levels = v.attribute("levels")->strings;
    for (int32_t code : v.ints) {
      if (code == INT32_MIN) out.emplace_back();
      else if (code < 1 || static_cast<size_t>(code) > levels.size())
        fail(kComponent, "{}: factor code {} outside its {} levels", origin, code, levels.size());
      else out.push_back(levels[static_cast<size_t>(code - 1)]);
    }
  } else if (v.type == RValue::Integer || v.type == RValue::Logical) {
    for (int32_t x : v.ints) out.push_back(x == INT32_MIN ? "" : std::to_string(x));
  } else if (v.type == RValue::Real) {
    for (double x : v.reals) out.push_back(std::isnan(x) ? "" : fmt::format("{}", x));
  } else {
    fail(kComponent, "{}: R type {} cannot be read as strings (expected a character, factor or numeric vector)", origin, v.type);
  }
  return out;
}

std::vector<std::string> r_column_as_strings(const RValue& frame, const std::string& name, const std::string& origin) {
  const RValue* names = frame.attribute("names");
  if (frame.type != RValue::List || !names) fail(kComponent, "{}: not a data frame (a list with names)", origin);
  for (size_t i = 0; i < names->strings.size() && i < frame.items.size(); ++i)
    if (names->strings[i] == name) return r_as_strings(*frame.items[i], origin + " column " + name);
  std::string known;
  for (const auto& n : names->strings) known += (known.empty() ? "" : ", ") + n;
  fail(kComponent, "{}: no column \"{}\" (columns: {})", origin, name, known);
}

}  // namespace retain::suite
