// Atomic writes: a failed write leaves the old file intact and no temporary behind.
#include "common/test_support.h"
#include "retain/core/error.h"
#include "retain/core/files.h"

#include <gtest/gtest.h>

#include <unistd.h>

namespace {

using namespace retain::testing;

TEST(Files, AtomicWriteReplacesContents) {
  auto dir = std::filesystem::temp_directory_path() / ("retain_files_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / "out.txt";
  retain::write_file_atomic(path, "first");
  retain::write_file_atomic(path, "second");
  EXPECT_EQ(retain::read_file(path), "second");
}

TEST(Files, FailedWriteKeepsTheOldFile) {
  auto dir = std::filesystem::temp_directory_path() / ("retain_files2_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / "out.txt";
  retain::write_file_atomic(path, "precious");
  EXPECT_THROW(retain::write_file_atomic(path,
                                         [](std::ostream& out) {
                                           out << "half";
                                           throw retain::Error("test", "interrupted");
                                         }),
               retain::Error);
  EXPECT_EQ(retain::read_file(path), "precious");
  size_t files = 0;
  for ([[maybe_unused]] auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);
}

TEST(Files, ReadMissingFileNamesIt) {
  try {
    retain::read_file("/nonexistent/retain/file.bin", "safetensors");
    FAIL();
  } catch (const retain::Error& e) {
    EXPECT_MSG(e.what(), "[safetensors] cannot read /nonexistent/retain/file.bin");
  }
}

}  // namespace

namespace {

TEST(Files, RemoveTreeDeletesNestedFoldersAndIgnoresMissingPaths) {
  auto dir = std::filesystem::temp_directory_path() / ("retain_tree_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "a" / "b");
  retain::write_file_atomic(dir / "a" / "b" / "f.txt", "x");
  retain::write_file_atomic(dir / "g.txt", "y");
  EXPECT_EQ(retain::remove_tree(dir), 5u);  // dir, a, b, f.txt, g.txt
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(retain::remove_tree(dir), 0u);
}

}  // namespace
