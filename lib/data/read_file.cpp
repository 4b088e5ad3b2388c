#include "data/read_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <zlib.h>

#include "descent/error.hpp"

namespace descent::detail {

std::string read_plain(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxDataBytes) {
    throw Error(fmt::format("data file \"{}\" is {} bytes, more than the {} descent reads",
                            path.string(), size, kMaxDataBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(
        fmt::format("cannot open data file \"{}\": {}", path.string(), std::strerror(errno)));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(fmt::format("cannot read data file \"{}\"", path.string()));
  return text;
}

std::string read_gzip(const std::filesystem::path& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw Error(
        fmt::format("cannot open data file \"{}\": {}", path.string(), std::strerror(errno)));
  }
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const int n = gzread(file, buffer, sizeof buffer);
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      throw Error(fmt::format("{}: not a readable gzip file ({})", path.string(), message));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxDataBytes) {
      gzclose(file);
      throw Error(fmt::format("{}: decompresses to more than the {} bytes descent reads",
                              path.string(), kMaxDataBytes));
    }
  }
  // gzread stops early on a truncated stream without an error; gzclose reports it.
  const int closed = gzclose(file);
  if (closed != Z_OK) {
    throw Error(fmt::format("{}: the gzip stream is truncated or corrupted", path.string()));
  }
  return text;
}

}  // namespace descent::detail
