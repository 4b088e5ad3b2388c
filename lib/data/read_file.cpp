#include "data/read_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include <fmt/format.h>
#include <zlib.h>

#include "core/memory.hpp"
#include "core/user_text.hpp"
#include "descent/error.hpp"

namespace descent::detail {

namespace {

// Whether a gzip member (its magic, 1f 8b) starts at `at`.
bool gzip_member_at(std::string_view bytes, std::size_t at) {
  return bytes.size() >= at + 2 && static_cast<unsigned char>(bytes[at]) == 0x1f &&
         static_cast<unsigned char>(bytes[at + 1]) == 0x8b;
}

// Makes room in `text` for `extra` more bytes, refusing (an Error naming the file) where the
// larger block would not leave the memory a run needs: growing it past the memory left would
// end in the OOM killer, with no message.
void make_room(std::string& text, std::size_t extra, const std::filesystem::path& path) {
  if (text.size() + extra <= text.capacity()) return;
  const std::size_t wanted = std::max(text.size() + extra, 2 * text.capacity());
  if (!memory_left_for(wanted)) {
    throw Error(
        fmt::format("data file \"{}\": out of memory reading it: after {} bytes, a "
                    "block of {} would leave under {} MiB free",
                    path.string(), text.size(), wanted, kKeepFreeMiB));
  }
  text.reserve(wanted);
}

}  // namespace

std::string read_plain(const std::filesystem::path& path) {
  check_no_nul(path, "data file");
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxDataBytes) {
    throw Error(fmt::format("data file \"{}\" is {} bytes, more than the {} descent reads",
                            path.string(), size, kMaxDataBytes));
  }
  if (!ec && !memory_left_for(size)) {
    throw Error(
        fmt::format("data file \"{}\" is {} bytes: out of memory to read it (it would "
                    "leave under {} MiB free)",
                    path.string(), size, kKeepFreeMiB));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(
        fmt::format("cannot open data file \"{}\": {}", path.string(), std::strerror(errno)));
  }
  // Read in blocks into a string sized for the file where its size is known (one more byte,
  // so that the read that finds the end needs no larger block); a pipe's grows as it comes.
  std::string text;
  if (!ec) text.reserve(size + 1);
  constexpr std::size_t kBlock = std::size_t{1} << 20;
  for (;;) {
    const std::size_t at = text.size();
    // Within the room reserved while there is some, so that the last block is not a larger one.
    const std::size_t room = text.capacity() > at ? text.capacity() - at : kBlock;
    const std::size_t n = std::min<std::size_t>({kBlock, room, kMaxDataBytes + 1 - at});
    make_room(text, n, path);
    text.resize(at + n);
    in.read(text.data() + at, static_cast<std::streamsize>(n));
    text.resize(at + static_cast<std::size_t>(in.gcount()));
    if (in.bad()) throw Error(fmt::format("cannot read data file \"{}\"", path.string()));
    if (!in) break;  // the end
    if (text.size() > kMaxDataBytes) {
      throw Error(fmt::format("data file \"{}\" holds more than the {} bytes descent reads",
                              path.string(), kMaxDataBytes));
    }
  }
  return text;
}

std::string read_gzip(const std::filesystem::path& path) {
  // A file without gzip's magic is read as it is (IDX files come either way). inflate rather
  // than gzread: gzread ignores bytes after the end of the stream, which here are an error.
  std::string packed = read_plain(path);
  if (!gzip_member_at(packed, 0)) return packed;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)  // gzip framing only
    throw Error(fmt::format("{}: cannot start decompressing it", path.string()));
  struct End {
    z_stream& z;
    ~End() { inflateEnd(&z); }
  } end{z};
  std::string text;
  char buffer[1 << 16];
  std::size_t given = 0;  // input bytes handed to zlib so far (avail_in is 32-bit)
  for (;;) {
    if (z.avail_in == 0 && given < packed.size()) {
      const std::size_t n = std::min<std::size_t>(packed.size() - given, std::size_t{1} << 30);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data() + given));
      z.avail_in = static_cast<uInt>(n);
      given += n;
    }
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    const int rc = inflate(&z, Z_NO_FLUSH);
    make_room(text, sizeof buffer - z.avail_out, path);
    text.append(buffer, sizeof buffer - z.avail_out);
    if (text.size() > kMaxDataBytes) {
      throw Error(fmt::format("{}: decompresses to more than the {} bytes descent reads",
                              path.string(), kMaxDataBytes));
    }
    if (rc == Z_OK) continue;
    const std::size_t left = z.avail_in + (packed.size() - given);
    if (rc == Z_STREAM_END) {
      const std::size_t at = packed.size() - left;
      if (left == 0) return text;
      // Another member (files joined with cat are one gzip file), or zero padding.
      if (gzip_member_at(packed, at)) {
        inflateReset(&z);
        continue;
      }
      if (packed.find_first_not_of('\0', at) == std::string::npos) return text;
      throw Error(
          fmt::format("{}: {} byte{} of something else after the end of the gzip "
                      "stream (a damaged file?)",
                      path.string(), left, left == 1 ? "" : "s"));
    }
    if (rc == Z_BUF_ERROR && left > 0) continue;  // more input to hand over
    if (rc == Z_BUF_ERROR) {
      throw Error(fmt::format("{}: the gzip stream is truncated or corrupted", path.string()));
    }
    throw Error(fmt::format("{}: not a readable gzip file ({})", path.string(),
                            z.msg != nullptr ? z.msg : "corrupted data"));
  }
}

}  // namespace descent::detail
