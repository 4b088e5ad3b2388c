#include "core/bytes.hpp"

#include <zlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/user_text.hpp"

namespace descent::bytes {

std::uint32_t crc32(std::span<const char> bytes) {
  return static_cast<std::uint32_t>(crc32_z(0L, reinterpret_cast<const Bytef*>(bytes.data()),
                                            static_cast<z_size_t>(bytes.size())));
}

std::vector<char> read_file(const std::string& path, std::string_view what) {
  detail::check_no_nul(path, what);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error(fmt::format("{} \"{}\" is a directory", what, path));
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw Error(fmt::format("{} \"{}\" is not a regular file", what, path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open {} \"{}\": {}", what, path, std::strerror(errno)));
  // libstdc++'s filebuf throws std::ios_base::failure for a failed read (EIO) whatever the
  // stream's exception mask: said as the other failures are.
  try {
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(fmt::format("cannot read {} \"{}\"", what, path));
    return bytes;
  } catch (const std::ios_base::failure& e) {
    throw Error(fmt::format("cannot read {} \"{}\": {}", what, path, e.what()));
  }
}

}  // namespace descent::bytes
