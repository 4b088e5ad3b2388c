#pragma once
// Helpers shared by the tests: seeded random data, temporary directories, file bytes.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/rng.hpp"

namespace descent::test {

inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float low = -1.0f,
                                        float high = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(low, high);
  return v;
}

// A fresh directory under the system's temporary directory, removed with the object.
class TempDir {
 public:
  TempDir() {
    const auto base = std::filesystem::temp_directory_path();
    Rng rng(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(this)) ^
            static_cast<std::uint64_t>(
                std::filesystem::file_time_type::clock::now().time_since_epoch().count()));
    for (;;) {
      path_ = base / ("descent-test-" + std::to_string(rng.next_u64()));
      if (std::filesystem::create_directory(path_)) break;
    }
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The message of the descent::Error that f throws, or "no error".
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace descent::test
