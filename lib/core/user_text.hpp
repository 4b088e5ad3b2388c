#pragma once
// Internal: text from the user (a path, a spec) that the system or a message would cut short.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "descent/error.hpp"

namespace descent::detail {

// `text` for a message: a control character (a NUL, a newline) shown as \xNN, and text
// longer than `most` bytes cut there with "...". With `ascii`, every byte past ASCII is shown
// as \xNN too (a data cell's no-break space is then visible); without, UTF-8 stays readable.
inline std::string printable(std::string_view text, std::size_t most = 200, bool ascii = false) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < most; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || (ascii && c > 0x7f)) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > most) out += "...";
  return out;
}

// Throws descent::Error for a path with a NUL character: the system would take the name up
// to it, another file than the one named. `what` names the role ("model file").
inline void check_no_nul(const std::filesystem::path& path, std::string_view what) {
  const std::string& name = path.native();
  if (name.find('\0') != std::string::npos) {
    throw Error(fmt::format("{} \"{}\": the name holds a NUL character", what, printable(name)));
  }
}

}  // namespace descent::detail
