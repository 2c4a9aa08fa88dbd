// retain::safetensors: bitwise round trips of every supported dtype, metadata, and the strict reader
// on hand-crafted bad files (8-byte little-endian header length + JSON header + data block, written
// byte by byte here so the files do not depend on the writer under test).
//
// Oracles: the bytes we wrote (round trips are compared with memcmp, so NaN payloads, −0 and
// subnormals must survive exactly; no tolerance applies); for bad files, the error must be a
// retain::Error naming the file and the problem.
#include "common/toy_run.h"
#include "retain/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace {

using namespace retain::testing;
namespace st = retain::safetensors;

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file by hand: little-endian u64 length of `header`, `header`, `data`.
std::string craft(const std::string& header, const std::string& data, uint64_t declared_length) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((declared_length >> (8 * i)) & 0xff);
  return out + header + data;
}
std::string craft(const std::string& header, const std::string& data) { return craft(header, data, header.size()); }

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

// Tensors whose bit patterns exercise each dtype: random bits for the floats (so NaNs with payloads,
// infinities, subnormals and −0 all occur), extremes for the integers.
std::vector<std::pair<std::string, at::Tensor>> every_dtype() {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  auto bits = [&](int64_t n, at::ScalarType int_type, at::ScalarType view_as) {
    // Full-range random integers of the same width, reinterpreted as the float type.
    auto wide = at::empty({n}, at::kLong).random_(gen);
    return wide.to(int_type).view(view_as).view({n / 4, 4});
  };
  std::vector<std::pair<std::string, at::Tensor>> t;
  auto f64 = bits(64, at::kLong, at::kDouble).clone();
  f64[0][0] = -0.0;
  f64[0][1] = std::numeric_limits<double>::quiet_NaN();
  f64[0][2] = std::numeric_limits<double>::denorm_min();
  f64[0][3] = -std::numeric_limits<double>::infinity();
  t.emplace_back("f64", f64);
  t.emplace_back("f32", bits(64, at::kInt, at::kFloat));
  t.emplace_back("f16", bits(64, at::kShort, at::kHalf));
  t.emplace_back("bf16", bits(64, at::kShort, at::kBFloat16));
  t.emplace_back("i64", at::tensor({std::numeric_limits<int64_t>::min(), int64_t{-1}, int64_t{0},
                                    std::numeric_limits<int64_t>::max()},
                                   at::kLong));
  t.emplace_back(
      "i32", at::tensor({std::numeric_limits<int32_t>::min(), -1, 0, std::numeric_limits<int32_t>::max()}, at::kInt));
  t.emplace_back("i8", at::tensor({-128, -1, 0, 127}, at::kInt).to(at::kChar).view({2, 2}));
  t.emplace_back("u8", at::tensor({0, 1, 128, 255}, at::kInt).to(at::kByte));
  t.emplace_back("bool", at::tensor({1, 0, 0, 1, 1}, at::kInt).to(at::kBool));
  t.emplace_back("scalar", at::scalar_tensor(3.5, at::kFloat));  // shape []
  t.emplace_back("empty", at::empty({0, 3}, at::kFloat));        // zero bytes
  return t;
}

TEST(Safetensors, EverySupportedDtypeRoundTripsBitwise) {
  const auto path = temp_dir("st") / "all.safetensors";
  const auto tensors = every_dtype();
  st::save(path, tensors);
  const auto file = st::File::open(path);
  ASSERT_EQ(file.tensors().size(), tensors.size());
  const std::map<std::string, std::string> names = {
      {"f64", "F64"}, {"f32", "F32"}, {"f16", "F16"},   {"bf16", "BF16"},  {"i64", "I64"},  {"i32", "I32"},
      {"i8", "I8"},   {"u8", "U8"},   {"bool", "BOOL"}, {"scalar", "F32"}, {"empty", "F32"}};
  for (const auto& [name, expected] : tensors) {
    SCOPED_TRACE(name);
    EXPECT_EQ(file.info(name).dtype_name, names.at(name));
    const auto got = file.tensor(name);
    EXPECT_EQ(got.scalar_type(), expected.scalar_type());
    EXPECT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(same_bytes(got, expected));
  }
}

TEST(Safetensors, NonContiguousAndOffsetTensorsAreStoredByValue) {
  const auto path = temp_dir("st") / "views.safetensors";
  auto base = at::arange(24, at::kDouble).view({4, 6});
  auto transposed = base.t();         // non-contiguous
  auto slice = base.narrow(1, 2, 3);  // storage offset, strided
  st::save(path, {{"t", transposed}, {"s", slice}});
  const auto file = st::File::open(path);
  EXPECT_TRUE(file.tensor("t").equal(transposed));
  EXPECT_TRUE(file.tensor("s").equal(slice));
}

TEST(Safetensors, MetadataRoundTrips) {
  const auto path = temp_dir("st") / "meta.safetensors";
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"note", "ünïcode \"quoted\" {braces}"}, {"empty", ""}};
  st::save(path, {{"x", at::ones({2}, at::kFloat)}}, meta);
  EXPECT_EQ(st::File::open(path).metadata(), meta);
  st::save(path, {{"x", at::ones({2}, at::kFloat)}});
  EXPECT_TRUE(st::File::open(path).metadata().empty());
}

TEST(Safetensors, MisalignedDataIsCopiedCorrectly) {
  // A 1-byte-longer header puts the data block at an odd address; the reader must copy, not alias.
  const auto path = temp_dir("st") / "odd.safetensors";
  const std::string header = R"({"x":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})";
  ASSERT_NE((8 + header.size()) % 8, 0u);  // the data block starts off an 8-byte boundary
  const double values[2] = {1.25, -3.5};
  write_bytes(path, craft(header, std::string(reinterpret_cast<const char*>(values), 16)));
  const auto x = st::File::open(path).tensor("x");
  EXPECT_EQ(x[0].item<double>(), 1.25);
  EXPECT_EQ(x[1].item<double>(), -3.5);
}

TEST(Safetensors, WritingToALoadedTensorNeverChangesTheFile) {
  // The mapping is private (copy-on-write): a caller that modifies a tensor must not corrupt the file.
  const auto path = temp_dir("st") / "cow.safetensors";
  st::save(path, {{"x", at::arange(16, at::kFloat)}});
  const auto before = retain::read_file(path);
  {
    const auto file = st::File::open(path);
    file.tensor("x").fill_(-1.0f);
  }
  EXPECT_EQ(retain::read_file(path), before);
  EXPECT_TRUE(st::File::open(path).tensor("x").equal(at::arange(16, at::kFloat)));
}

TEST(Safetensors, MissingTensorIsAnErrorNamingIt) {
  const auto path = temp_dir("st") / "one.safetensors";
  st::save(path, {{"x", at::ones({2})}});
  const auto file = st::File::open(path);
  EXPECT_FALSE(file.contains("y"));
  const auto msg = error_of([&] { file.tensor("y"); });
  EXPECT_MSG(msg, "'y'");
  EXPECT_MSG(msg, path.string());
}

// ---- bad input: each a retain::Error naming the file and the problem ------------------------------

struct BadFile {
  const char* name;
  std::string bytes;
  std::vector<std::string> expected;  // substrings of the message besides the path
};

std::string f32_bytes(int n) { return std::string(static_cast<size_t>(4 * n), '\x01'); }

void PrintTo(const BadFile& c, std::ostream* os) { *os << c.name; }

class SafetensorsBadFile : public ::testing::TestWithParam<BadFile> {};

TEST_P(SafetensorsBadFile, IsAClearErrorNamingTheFileAndTheProblem) {
  const auto& c = GetParam();
  const auto path = temp_dir("st_bad") / (std::string(c.name) + ".safetensors");
  write_bytes(path, c.bytes);
  const auto msg = error_of([&] { st::File::open(path); });
  ASSERT_FALSE(msg.empty()) << "no retain::Error";
  EXPECT_MSG(msg, path.string());
  for (const auto& part : c.expected) EXPECT_MSG(msg, part);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SafetensorsBadFile,
    ::testing::Values(
        BadFile{"empty_file", "", {"too short"}},
        BadFile{"seven_bytes", std::string(7, '\0'), {"7 bytes", "too short"}},
        BadFile{"header_past_end",
                craft(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes(1), 4096),
                {"header length 4096", "past the end"}},
        BadFile{"header_length_huge", craft("{}", "", ~uint64_t{0}), {"past the end"}},
        BadFile{"truncated_data",
                craft(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f32_bytes(2)),
                {"'x'", "outside the data block of 8 bytes"}},
        BadFile{"size_mismatch",
                craft(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", f32_bytes(4)),
                {"'x'", "16 bytes", "needs 12"}},
        BadFile{"reversed_range",
                craft(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", f32_bytes(4)),
                {"'x'"}},
        BadFile{
            "overlap",
            craft(
                R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                f32_bytes(6)),
            {"'a'", "'b'", "overlap"}},
        BadFile{"unsupported_dtype",
                craft(R"({"x":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", f32_bytes(1)),
                {"'x'", "F8_E4M3", "not supported"}},
        BadFile{"malformed_json",
                craft(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4])", f32_bytes(1)),
                {"header"}},
        BadFile{"header_not_object", craft("[1, 2]", ""), {"not a JSON object"}},
        BadFile{"negative_dimension",
                craft(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", f32_bytes(1)),
                {"'x'", "shape"}},
        BadFile{
            "missing_offsets", craft(R"({"x":{"dtype":"F32","shape":[1]}})", f32_bytes(1)), {"'x'", "data_offsets"}},
        BadFile{"missing_dtype", craft(R"({"x":{"shape":[1],"data_offsets":[0,4]}})", f32_bytes(1)), {"'x'", "dtype"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Safetensors, TruncatedRealFileIsAnErrorNamingTheTensorPastTheEnd) {
  // A written file cut short (an interrupted download): the last tensor's range leaves the data block.
  const auto dir = temp_dir("st");
  const auto path = dir / "cut.safetensors";
  st::save(path, {{"first", at::ones({8})}, {"last", at::ones({8})}});
  const auto bytes = retain::read_file(path);
  write_bytes(path, bytes.substr(0, bytes.size() - 5));
  const auto msg = error_of([&] { st::File::open(path); });
  EXPECT_MSG(msg, path.string());
  EXPECT_MSG(msg, "'last'");
  EXPECT_MSG(msg, "truncated");
}

TEST(Safetensors, MissingFileIsAnErrorNamingIt) {
  const auto path = temp_dir("st") / "absent.safetensors";
  const auto msg = error_of([&] { st::File::open(path); });
  EXPECT_MSG(msg, path.string());
}

TEST(Safetensors, DtypeNamesMapBothWays) {
  for (const char* name : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"})
    EXPECT_EQ(st::dtype_name(st::dtype_from_name(name, "test")), name);
  const auto msg = error_of([] { st::dtype_from_name("F8_E5M2", "somewhere"); });
  EXPECT_MSG(msg, "F8_E5M2");
  EXPECT_MSG(msg, "somewhere");
}

// ---- atomic save --------------------------------------------------------------------------------

TEST(Safetensors, FailedSaveLeavesTheOldFileIntactAndNoTemporary) {
  const auto dir = temp_dir("st_atomic");
  const auto path = dir / "model.safetensors";
  st::save(path, {{"w", at::arange(10, at::kFloat)}}, {{"format", "pt"}});
  const auto before = retain::read_file(path);

  const auto msg = error_of([&] {
    st::save(path, {{"w", at::zeros({10}, at::kFloat)}, {"z", at::zeros({3}, at::kComplexFloat)}});
  });
  ASSERT_FALSE(msg.empty()) << "a complex tensor cannot be stored; save must throw";

  EXPECT_EQ(retain::read_file(path), before);
  std::vector<std::string> entries;
  for (const auto& e : std::filesystem::directory_iterator(dir)) entries.push_back(e.path().filename().string());
  EXPECT_EQ(entries, std::vector<std::string>{"model.safetensors"});
}

TEST(Safetensors, UnstorableDtypeErrorNamesTheTensorAndTheFile) {
  // style.md: errors name file and tensor. With many tensors, "cannot store dtype ComplexFloat"
  // alone does not tell the user which one to fix.
  const auto path = temp_dir("st_atomic") / "model.safetensors";
  const auto msg = error_of([&] {
    st::save(path, {{"w", at::zeros({10}, at::kFloat)}, {"z", at::zeros({3}, at::kComplexFloat)}});
  });
  EXPECT_MSG(msg, "ComplexFloat");
  EXPECT_MSG(msg, "'z'");
  EXPECT_MSG(msg, path.string());
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Safetensors, DuplicateNamesAreRefusedWithoutTouchingTheFile) {
  const auto dir = temp_dir("st_atomic");
  const auto path = dir / "x.safetensors";
  st::save(path, {{"a", at::ones({2})}});
  const auto before = retain::read_file(path);
  const auto msg = error_of([&] { st::save(path, {{"a", at::zeros({2})}, {"a", at::zeros({2})}}); });
  EXPECT_MSG(msg, "'a'");
  EXPECT_EQ(retain::read_file(path), before);
}

TEST(Safetensors, SaveOverwritesAtomicallyWithTheNewContents) {
  const auto dir = temp_dir("st_atomic");
  const auto path = dir / "x.safetensors";
  st::save(path, {{"a", at::ones({2})}});
  st::save(path, {{"b", at::full({3}, 2.0)}});
  const auto file = st::File::open(path);
  EXPECT_FALSE(file.contains("a"));
  EXPECT_TRUE(file.tensor("b").equal(at::full({3}, 2.0)));
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file();
  EXPECT_EQ(n, 1u);
}

}  // namespace
