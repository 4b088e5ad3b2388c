#pragma once
// Internal: why a path given for reading is not a file, in words for a message.

#include <filesystem>
#include <string>

namespace descent::detail {

// Empty when `path` is a regular file (after links). Otherwise what follows its name in a
// message: "does not exist", "is not a regular file (a directory or a device)", or what kept
// the system from reaching it ("cannot be reached: Too many levels of symbolic links", for a
// loop of links; "Permission denied" for a directory it may not search).
std::string why_not_a_regular_file(const std::filesystem::path& path);

}  // namespace descent::detail
