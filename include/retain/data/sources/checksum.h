// retain/data/sources/checksum.h — SHA-256 of bytes and files, for the manifests of built suites.
#pragma once

#include <filesystem>
#include <string>

namespace retain::data {

/// Lower-case hex SHA-256 (FIPS 180-4) of `bytes`.
std::string sha256_hex(const std::string& bytes);

/// Lower-case hex SHA-256 of a file's contents; throws "[data] cannot read PATH" when unreadable.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace retain::data
