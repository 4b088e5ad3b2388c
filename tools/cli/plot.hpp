#pragma once
// The figure scripts the CLI runs (tools/plot_*.py) and the python that runs them.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace descent::cli {

// Where a figure script is: $env_override when set, else beside the sources, else installed
// with the data.
std::filesystem::path tool_script(std::string_view name, const char* env_override);

// Debian's python3 (another python3 earlier on PATH may lack matplotlib), or $DESCENT_PYTHON.
std::string python();

// Runs python() on `script` with `args`, waiting for it. Returns "" when it exited with 0 and
// wrote each of `outputs` (an earlier run's figure left as it was does not count), else
// why it failed, for "the figure was not drawn: <why>". The scripts say themselves what was
// wrong (bad input, matplotlib missing) on stderr; the reason points there.
std::string run_script(const std::filesystem::path& script, const std::vector<std::string>& args,
                       const std::vector<std::filesystem::path>& outputs);

// A path as a word to paste into a shell command line: "./" before a leading '-' (else the
// script would read it as an option), and in single quotes where the shell would split or
// expand it.
std::string shell_word(const std::string& path);

}  // namespace descent::cli
