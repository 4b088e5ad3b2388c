#pragma once
// Internal: little-endian byte writing and bounds-checked reading for descent's file formats
// (models, optimizer and schedule state, checkpoints). The host must be little-endian.

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "descent/error.hpp"

namespace descent::bytes {

static_assert(std::endian::native == std::endian::little,
              "descent's file formats are little-endian; add byte swapping for this target");

class Writer {
 public:
  template <class T>
  void put(T value) {
    const auto* p = reinterpret_cast<const char*>(&value);
    out.insert(out.end(), p, p + sizeof(T));
  }
  void put_bytes(std::span<const char> bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }
  void put_floats(std::span<const float> values) {
    if (values.empty()) return;
    const auto* p = reinterpret_cast<const char*>(values.data());
    out.insert(out.end(), p, p + values.size_bytes());
  }
  // u32 length, then the characters.
  void put_string(std::string_view s) {
    put<std::uint32_t>(static_cast<std::uint32_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  // u64 length, then the bytes.
  void put_section(std::span<const char> bytes) {
    put<std::uint64_t>(bytes.size());
    put_bytes(bytes);
  }
  std::vector<char> out;
};

// Reads from bytes; every read past the end throws descent::Error "<what>: truncated ...".
class Reader {
 public:
  Reader(std::span<const char> bytes, std::string_view what) : bytes_(bytes), what_(what) {}
  template <class T>
  T get(std::string_view field) {
    need(sizeof(T), field);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  void floats(float* out, std::uint64_t count, std::string_view field) {
    if (count == 0) return;
    if (count > remaining() / sizeof(float)) truncated(field);
    std::memcpy(out, bytes_.data() + pos_, count * sizeof(float));
    pos_ += count * sizeof(float);
  }
  std::string string(std::string_view field, std::size_t max_size = 4096) {
    const auto size = get<std::uint32_t>(field);
    if (size > max_size) throw Error(fmt::format("{}: {} is damaged (too long)", what_, field));
    need(size, field);
    std::string s(bytes_.data() + pos_, size);
    pos_ += size;
    return s;
  }
  std::span<const char> section(std::string_view field) {
    const auto size = get<std::uint64_t>(field);
    if (size > remaining()) truncated(field);
    const auto s = bytes_.subspan(pos_, size);
    pos_ += size;
    return s;
  }
  void skip(std::size_t n, std::string_view field) {
    need(n, field);
    pos_ += n;
  }
  std::size_t position() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
  bool done() const noexcept { return pos_ == bytes_.size(); }
  [[noreturn]] void truncated(std::string_view field) const {
    throw Error(fmt::format("{}: truncated: it ends at byte {} while reading {}", what_,
                            bytes_.size(), field));
  }

 private:
  void need(std::size_t n, std::string_view field) const {
    if (remaining() < n) truncated(field);
  }
  std::span<const char> bytes_;
  std::string what_;
  std::size_t pos_ = 0;
};

// CRC-32 (zlib's) of the bytes.
std::uint32_t crc32(std::span<const char> bytes);

// Whether `stored` is the CRC-32 of body. Fuzzing builds (the fuzz preset defines
// FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) accept any checksum, so that mutated inputs
// reach the checks behind it.
inline bool checksum_matches(std::uint32_t stored, std::span<const char> body) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void)stored;
  (void)body;
  return true;
#else
  return stored == crc32(body);
#endif
}

// The whole of a regular file; `what` names it in messages ("model file").
std::vector<char> read_file(const std::string& path, std::string_view what);

}  // namespace descent::bytes
