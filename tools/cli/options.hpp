#pragma once
// Parsing of the CLI's own option values, with messages that name the option.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace descent::cli {

// A non-negative integer; `option` names the flag in the error ("--epochs").
std::size_t parse_count(std::string_view text, std::string_view option);
// A finite number.
double parse_number(std::string_view text, std::string_view option);
// --target-loss: a number of 0 or more (no loss descent trains with goes below 0).
double parse_target_loss(std::string_view text);
// A number > 0, or 0.0 (off) when the option was left out (`text` empty). Given 0, an option
// would turn off what it names (`what`: "no time budget"), which leaving it out already does,
// so 0 is refused with that advice.
double positive_or_off(const std::string& text, std::string_view option, std::string_view what);
// "128,64" -> {128, 64}; "none" (or "", which the CLI refuses before this) -> {}. Every size
// must be a positive integer.
std::vector<std::size_t> parse_sizes(std::string_view text, std::string_view option);
// Throws descent::Error, naming the option, when writing `path` would fail for what it names
// (descent::check_output_file: a missing directory, a directory in the way, ...).
void check_output_path(const std::string& path, std::string_view option);
// Throws descent::Error, naming the option, when `path` is the process's standard output
// (/dev/stdout, /proc/self/fd/1, the file it is redirected to) and the command prints `what`
// there too; /dev/null excepted.
void refuse_standard_output(const std::string& path, std::string_view option,
                            std::string_view what);
// Whether two paths name one file (after links, "." and ".."; a missing file by its name).
bool same_file(const std::string& a, const std::string& b);
// "a, b,c" -> {"a", "b", "c"}, items trimmed; an empty item is an error naming the option.
std::vector<std::string> split_list(const std::string& text, std::string_view option);
// Throws descent::Error when `dir` exists and is not a directory.
void check_output_dir(const std::string& dir, std::string_view option);
// An option and the file it names ({"--data", "x.csv"}).
struct NamedFile {
  std::string option;
  std::string path;
};
// Creates `dir` (and its parents) if missing, and checks that each of `files` can be written
// there (check_output_path) and is none of `inputs`, so that nothing is written when one of
// them cannot be: then the directories it made are removed again. Call it once everything
// else was checked.
std::filesystem::path create_output_dir(const std::string& dir, std::string_view option,
                                        const std::vector<std::string>& files,
                                        const std::vector<NamedFile>& inputs = {});
// Removes the directories create_output_dir made in this process that are still empty: a
// command that failed, or was ended by a signal, before its first file leaves no empty --out
// behind. (main() calls it when a command fails, the signal handler before the process ends;
// rmdir alone, so safe in a handler, and a directory that holds anything is left as it is.)
void remove_empty_output_dirs() noexcept;
// j as text; a string that is not valid UTF-8 (a file name in another encoding) gets U+FFFD
// for its bad bytes instead of an exception after the work. indent -1: one line.
std::string json_text(const nlohmann::json& j, int indent = -1);
// A number for a JSON file, null when it is not finite (JSON has no NaN).
nlohmann::json number_or_null(double v);

}  // namespace descent::cli
