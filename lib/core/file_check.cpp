// Why a path given for reading is not a file.

#include "descent/io.hpp"

#include <system_error>

namespace descent {

std::string why_not_a_regular_file(const std::filesystem::path& path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (std::filesystem::is_regular_file(status)) return {};
  if (std::filesystem::exists(status))
    return "is not a regular file (a directory, a device or a pipe)";
  if (ec && ec != std::errc::no_such_file_or_directory) return "cannot be reached: " + ec.message();
  return std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec))
             ? "is a link to a file that does not exist"
             : "does not exist";
}

}  // namespace descent
