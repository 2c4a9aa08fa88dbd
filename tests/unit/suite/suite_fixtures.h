// Test-only writers for the binary formats `retain data build` reads, built from their specs (not
// from the reader): R's XDR serialisation of a data frame, an R lazy-load database (.rdx gzip, .rdb
// records with raw-LZMA2 'Z' or zlib payloads, as R's serialize.c writes them), gzip and dictd
// indexes. The reader tests check the reader against these; the suite test uses them for a fake cache.
#pragma once

#include <lzma.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace retain::testing {

inline void put_int(std::string& out, int32_t v) {
  const auto u = static_cast<uint32_t>(v);
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((u >> shift) & 0xFF);
}

/// Serialises (R XDR, version 3) a data frame whose columns are character vectors, except those
/// listed in `factors`, written as factors (integer codes + "levels" + class "factor"). The frame
/// carries names, class c("tbl_df","tbl","data.frame") and compact row.names c(NA, -n). The symbol
/// "class" is written once and then as a reference, as R does.
class RFrameWriter {
 public:
  std::string serialize(const std::vector<std::pair<std::string, std::vector<std::string>>>& columns,
                        const std::vector<std::string>& factors = {}) {
    out_ = "X\n";
    put_int(out_, 3);
    put_int(out_, 0x040201);
    put_int(out_, 0x030500);
    put_int(out_, 5);
    out_ += "UTF-8";
    symbols_.clear();
    put_int(out_, 19 | (1 << 8) | (1 << 9));  // VECSXP, object, attributes
    put_int(out_, static_cast<int32_t>(columns.size()));
    const size_t rows = columns.empty() ? 0 : columns[0].second.size();
    for (const auto& [name, values] : columns) {
      if (std::find(factors.begin(), factors.end(), name) != factors.end()) {
        std::vector<std::string> levels;
        for (const auto& v : values)
          if (std::find(levels.begin(), levels.end(), v) == levels.end()) levels.push_back(v);
        std::sort(levels.begin(), levels.end());
        put_int(out_, 13 | (1 << 8) | (1 << 9));  // INTSXP, object, attributes
        put_int(out_, static_cast<int32_t>(values.size()));
        for (const auto& v : values)
          put_int(out_, static_cast<int32_t>(std::find(levels.begin(), levels.end(), v) - levels.begin() + 1));
        attribute("levels", [&] { strings(levels); });
        attribute("class", [&] { strings({"factor"}); }, true);
      } else {
        strings(values);
      }
    }
    std::vector<std::string> names;
    for (const auto& c : columns) names.push_back(c.first);
    attribute("names", [&] { strings(names); });
    attribute("row.names", [&] {
      put_int(out_, 13);
      put_int(out_, 2);
      put_int(out_, INT32_MIN);
      put_int(out_, -static_cast<int32_t>(rows));
    });
    attribute("class", [&] { strings({"tbl_df", "tbl", "data.frame"}); }, true);
    return out_;
  }

  /// A plain character vector (janeaustenr stores each novel as one).
  std::string serialize_strings(const std::vector<std::string>& values) {
    out_ = "X\n";
    put_int(out_, 2);
    put_int(out_, 0x040201);
    put_int(out_, 0x020300);
    strings(values);
    return out_;
  }

  /// list(variables = list(NAME = c(offset, length), ...), references = list(), compressed = 3L).
  std::string serialize_index(const std::vector<std::pair<std::string, std::pair<int32_t, int32_t>>>& variables) {
    out_ = "X\n";
    put_int(out_, 2);
    put_int(out_, 0x040201);
    put_int(out_, 0x020300);
    symbols_.clear();
    put_int(out_, 19 | (1 << 9));
    put_int(out_, 3);
    put_int(out_, 19 | (1 << 9));
    put_int(out_, static_cast<int32_t>(variables.size()));
    std::vector<std::string> names;
    for (const auto& [name, key] : variables) {
      put_int(out_, 13);
      put_int(out_, 2);
      put_int(out_, key.first);
      put_int(out_, key.second);
      names.push_back(name);
    }
    attribute("names", [&] { strings(names); }, true);
    put_int(out_, 19);
    put_int(out_, 0);
    put_int(out_, 13);
    put_int(out_, 1);
    put_int(out_, 3);
    attribute("names", [&] { strings({"variables", "references", "compressed"}); }, true);
    return out_;
  }

 private:
  void strings(const std::vector<std::string>& values) {
    put_int(out_, 16);
    put_int(out_, static_cast<int32_t>(values.size()));
    for (const auto& v : values) {
      put_int(out_, 9 | (1 << 3 << 12));  // CHARSXP, UTF-8 level
      put_int(out_, static_cast<int32_t>(v.size()));
      out_ += v;
    }
  }
  // One pairlist node (tag = symbol) holding the value written by `value`; `last` ends the list.
  template <typename F>
  void attribute(const std::string& tag, F value, bool last = false) {
    put_int(out_, 2 | (1 << 10));  // LISTSXP with tag
    auto it = std::find(symbols_.begin(), symbols_.end(), tag);
    if (it != symbols_.end()) {
      put_int(out_, (static_cast<int32_t>(it - symbols_.begin() + 1) << 8) | 255);  // REFSXP
    } else {
      symbols_.push_back(tag);
      put_int(out_, 1);  // SYMSXP
      put_int(out_, 9 | (1 << 3 << 12));
      put_int(out_, static_cast<int32_t>(tag.size()));
      out_ += tag;
    }
    value();
    if (last) put_int(out_, 254);  // NILVALUE ends the pairlist
  }
  std::string out_;
  std::vector<std::string> symbols_;
};

/// zlib (windowBits 15) or gzip (31) compression of `data`.
inline std::string deflate_bytes(const std::string& data, int window_bits) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

/// Raw LZMA2 (preset 9, no .xz container), what R's lazy-load 'Z' records hold.
inline std::string raw_lzma2(const std::string& data) {
  lzma_options_lzma options;
  lzma_lzma_preset(&options, 9);
  lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
  std::string out(data.size() + data.size() / 2 + 1024, '\0');
  size_t pos = 0;
  if (lzma_raw_buffer_encode(filters, nullptr, reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                             reinterpret_cast<uint8_t*>(out.data()), &pos, out.size()) != LZMA_OK)
    throw std::runtime_error("lzma encode failed");
  out.resize(pos);
  return out;
}

/// Writes STEM.rdx and STEM.rdb holding the given serialised objects: object i uses a 'Z' (raw LZMA2)
/// record when i is even, a zlib record when odd.
inline void write_lazyload_db(const std::filesystem::path& stem, const std::vector<std::pair<std::string, std::string>>& objects) {
  std::string rdb;
  std::vector<std::pair<std::string, std::pair<int32_t, int32_t>>> index;
  for (size_t i = 0; i < objects.size(); ++i) {
    std::string record;
    put_int(record, static_cast<int32_t>(objects[i].second.size()));
    record += i % 2 == 0 ? "Z" + raw_lzma2(objects[i].second) : deflate_bytes(objects[i].second, 15);
    index.push_back({objects[i].first, {static_cast<int32_t>(rdb.size()), static_cast<int32_t>(record.size())}});
    rdb += record;
  }
  std::filesystem::create_directories(stem.parent_path());
  std::ofstream(stem.string() + ".rdb", std::ios::binary) << rdb;
  std::ofstream(stem.string() + ".rdx", std::ios::binary) << deflate_bytes(RFrameWriter().serialize_index(index), 31);
}

/// dictd base64 digits of a number.
inline std::string dictd_digits(int64_t v) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  do {
    out.insert(out.begin(), digits[v % 64]);
    v /= 64;
  } while (v > 0);
  return out;
}

/// Writes STEM.index and STEM.dict.dz (gzip) for entries (headword, text).
inline void write_dictd(const std::filesystem::path& stem, const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string dict, index = "00-database-info\tA\tB\n";
  dict += "Database info\n";
  for (const auto& [head, text] : entries) {
    index += head + "\t" + dictd_digits(static_cast<int64_t>(dict.size())) + "\t" + dictd_digits(static_cast<int64_t>(text.size())) + "\n";
    dict += text;
  }
  std::filesystem::create_directories(stem.parent_path());
  std::ofstream(stem.string() + ".index", std::ios::binary) << index;
  std::ofstream(stem.string() + ".dict.dz", std::ios::binary) << deflate_bytes(dict, 31);
}

inline void put_le(std::string& out, uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) out += static_cast<char>((v >> (8 * k)) & 0xFF);
}

/// Writes a SWORD zText testament DIR/STEM.{bzs,bzv,bzz}: `slots` are the raw entries in order
/// (headings and verses), packed `per_block` to a zlib block; "" is an empty slot (size 0).
inline void write_sword_ztext(const std::filesystem::path& dir, const std::string& stem, const std::vector<std::string>& slots,
                              size_t per_block = 3) {
  std::string bzs, bzv, bzz;
  for (size_t first = 0; first < slots.size(); first += per_block) {
    std::string block;
    const auto index = static_cast<uint32_t>(bzs.size() / 12);
    for (size_t i = first; i < std::min(slots.size(), first + per_block); ++i) {
      put_le(bzv, index, 4);
      put_le(bzv, block.size(), 4);
      put_le(bzv, slots[i].size(), 2);
      block += slots[i];
    }
    const std::string packed = deflate_bytes(block, 15);
    put_le(bzs, bzz.size(), 4);
    put_le(bzs, packed.size(), 4);
    put_le(bzs, block.size(), 4);
    bzz += packed;
  }
  std::filesystem::create_directories(dir);
  std::ofstream(dir / (stem + ".bzs"), std::ios::binary) << bzs;
  std::ofstream(dir / (stem + ".bzv"), std::ios::binary) << bzv;
  std::ofstream(dir / (stem + ".bzz"), std::ios::binary) << bzz;
}

}  // namespace retain::testing
