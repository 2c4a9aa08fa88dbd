// retain/suite/sources/r_lazyload.h — reading data sets from an R package's lazy-load database
// (data/Rdata.rdx + data/Rdata.rdb) without R.
//
// Formats (R Internals §1.8 "Serialization formats", and src/main/serialize.c):
//   .rdx  gzip of a serialised list(variables = list(NAME = c(offset, length)), references, compressed)
//   .rdb  at [offset, offset + length): a 4-byte big-endian uncompressed length, then either a zlib
//         stream, or one type byte — 'Z' xz, '2' bzip2, '0' stored — and the data
//   data  R's XDR serialisation: "X\n", version (2 or 3), writer and reader versions, [v3: native
//         encoding], then one item: flags (type | object 1<<8 | attributes 1<<9 | tag 1<<10 |
//         levels << 12), then the type's payload, then its attributes (a pairlist) if flagged.
// Only what data frames of character, factor, integer, logical and double columns need is
// supported (with references, environments and compact ALTREP vectors); byte code, external
// pointers and the like are refused with an error naming the type.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace retain::suite {

/// gzip or zlib data (detected from the header) → bytes. `expected` (0: unknown) is a size hint.
std::string inflate_zlib(const std::string& data, const std::string& origin, size_t expected = 0);
/// xz (or legacy .lzma) data → bytes.
std::string decompress_xz(const std::string& data, const std::string& origin, size_t expected = 0);
/// bzip2 data → bytes.
std::string decompress_bzip2(const std::string& data, const std::string& origin, size_t expected = 0);

/// One R object. Which members are used depends on `type` (R's SEXPTYPE numbers).
struct RValue {
  enum Type : int {
    Nil = 0, Symbol = 1, PairList = 2, Closure = 3, Environment = 4, Language = 6, Char = 9, Logical = 10,
    Integer = 13, Real = 14, Complex = 15, String = 16, List = 19, Expression = 20, Raw = 24, S4 = 25
  };
  int type = Nil;
  std::vector<std::string> strings;     // String (NA: na[i]), Char (one), Symbol (its name)
  std::vector<bool> na;                 // String: which elements are NA
  std::vector<int32_t> ints;            // Integer, Logical (NA = INT32_MIN)
  std::vector<double> reals;            // Real, Complex (re, im interleaved)
  std::vector<std::shared_ptr<const RValue>> items;  // List, Expression, PairList/Language elements
  std::vector<std::string> tags;        // PairList/Language: each element's tag ("" if none)
  std::vector<std::pair<std::string, std::shared_ptr<const RValue>>> attributes;

  /// The attribute `name`, or nullptr.
  const RValue* attribute(const std::string& name) const;
  /// Number of elements of a vector type.
  size_t length() const;
};
using RValuePtr = std::shared_ptr<const RValue>;

/// Parses R's XDR serialisation ("X\n" header). `origin` names the data in errors.
RValuePtr parse_r_serialized(const std::string& bytes, const std::string& origin);

/// A lazy-load database: the index is read at construction, objects on demand.
class RLazyLoadDb {
 public:
  /// `stem` is the path without extension (".../data/Rdata"); reads stem.rdx, opens stem.rdb.
  explicit RLazyLoadDb(const std::filesystem::path& stem);
  /// The object names, sorted.
  std::vector<std::string> names() const;
  /// The object `name`; throws listing the names when absent.
  RValuePtr get(const std::string& name) const;

 private:
  std::filesystem::path stem_;
  std::map<std::string, std::pair<int64_t, int64_t>> index_;  // name → (offset, length)
};

/// Decodes one .rdb record (length + compression type + data) to serialised bytes.
std::string decode_rdb_record(const std::string& record, const std::string& origin);

/// Column `name` of a data frame (a List with a "names" attribute) as strings: character columns
/// as they are, factors through their "levels", numbers printed; NA becomes "". Throws naming the
/// columns present when `name` is missing.
std::vector<std::string> r_column_as_strings(const RValue& frame, const std::string& name, const std::string& origin);

/// A character vector (or factor) as strings; NA becomes "".
std::vector<std::string> r_as_strings(const RValue& vector, const std::string& origin);

}  // namespace retain::suite
