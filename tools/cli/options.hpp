#pragma once
// Parsing of the CLI's own option values, with messages that name the option.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace descent::cli {

// A non-negative integer; `option` names the flag in the error ("--epochs").
std::size_t parse_count(std::string_view text, std::string_view option);
// A finite number.
double parse_number(std::string_view text, std::string_view option);
// "128,64" -> {128, 64}; "" or "none" -> {}. Every size must be a positive integer.
std::vector<std::size_t> parse_sizes(std::string_view text, std::string_view option);
// Throws descent::Error when the directory that would hold `path` does not exist.
void check_output_path(const std::string& path, std::string_view option);

}  // namespace descent::cli
