// retain/core/files.h — reading and writing files without ever leaving a half-written one behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

namespace retain {

namespace fs = std::filesystem;

/// Whole file as bytes; throws "[component] cannot read PATH: reason".
std::string read_file(const fs::path& path, const std::string& component = "io");

/// Writes through `write(stream)` into "PATH.tmp-<pid>" beside PATH, flushes, then renames it over
/// PATH. If `write` throws or the disk fills, the temporary is removed and PATH is left untouched.
void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& write,
                       const std::string& component = "io");

/// Same, for a ready string.
void write_file_atomic(const fs::path& path, const std::string& contents, const std::string& component = "io");

/// Removes the "NAME.tmp-PID" files below `dir` that writers killed mid-write left (the files they
/// were to replace are intact); returns how many. Only for a folder this process holds the lock of
/// (core/dir_lock.h), so that no live writer's temporary is taken.
size_t remove_leftover_temporaries(const fs::path& dir);

/// Deletes PATH and everything below it (no error if it does not exist); returns the number of
/// entries removed. Use this, never std::filesystem::remove_all: the libtorch.so of PyTorch wheels
/// exports its own copy of remove_all, which interposes on libstdc++'s and crashes (seen with
/// torch 2.11: a call through a null pointer).
uintmax_t remove_tree(const fs::path& path);

}  // namespace retain
