#pragma once
// Internal: a data file's bytes, plain or through zlib.

#include <cstdint>
#include <filesystem>
#include <string>

namespace descent::detail {

// The most bytes a data file may hold (after decompression).
constexpr std::uint64_t kMaxDataBytes = std::uint64_t{4} << 30;

// The whole file. Errors name the file and what went wrong.
std::string read_plain(const std::filesystem::path& path);
// The whole file through zlib's gzread: a gzip stream is decompressed (a truncated or
// corrupted one is an error), any other file read as it is.
std::string read_gzip(const std::filesystem::path& path);

}  // namespace descent::detail
