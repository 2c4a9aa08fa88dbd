// retain/core/sha256.h — SHA-256 of bytes and files: the checksums in suite manifests and pretrain.json.
#pragma once

#include <filesystem>
#include <string>

namespace retain {

/// Lower-case hex SHA-256 (FIPS 180-4) of `bytes`.
std::string sha256_hex(const std::string& bytes);

/// Lower-case hex SHA-256 of a file's contents; throws "[sha256] cannot read PATH" when unreadable or a read fails.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace retain
