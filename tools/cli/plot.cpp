// Running the figure scripts.

#include "cli/plot.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include <fmt/core.h>

namespace descent::cli {
namespace {
// The child's exit status when python itself could not be started (as a shell reports it).
constexpr int kExecFailed = 127;

// A path that cannot be read as an option: "./" before a leading '-' (--out=-t2).
std::string not_an_option(const std::string& path) {
  return path.rfind('-', 0) == 0 ? "./" + path : path;
}
}  // namespace

std::filesystem::path tool_script(std::string_view name, const char* env_override) {
  if (const char* env = std::getenv(env_override); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::filesystem::path source = std::filesystem::path(DESCENT_TOOLS_SOURCE_DIR) / name;
  if (std::filesystem::is_regular_file(source, ec)) return source;
  return std::filesystem::path(DESCENT_TOOLS_INSTALL_DIR) / name;
}

std::string python() {
  if (const char* env = std::getenv("DESCENT_PYTHON"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  if (std::filesystem::exists("/usr/bin/python3", ec)) return "/usr/bin/python3";
  return "python3";
}

std::string run_script(const std::filesystem::path& script, const std::vector<std::string>& args,
                       const std::vector<std::filesystem::path>& outputs) {
  // Each output's time before (an earlier run's figure may be there): it must change.
  std::vector<std::optional<std::filesystem::file_time_type>> before;
  for (const std::filesystem::path& output : outputs) {
    std::error_code ec;
    const auto time = std::filesystem::last_write_time(output, ec);
    before.push_back(ec ? std::nullopt : std::optional(time));
  }
  const std::string py = python();
  const std::string path = script.string();
  // The arguments are paths, none to be read as an option.
  std::vector<std::string> words;
  for (const std::string& a : args) words.push_back(not_an_option(a));
  std::vector<const char*> argv = {py.c_str(), path.c_str()};
  for (const std::string& w : words) argv.push_back(w.c_str());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) return fmt::format("cannot start {}: {}", py, std::strerror(errno));
  if (pid == 0) {
    execvp(argv[0], const_cast<char* const*>(argv.data()));
    std::_Exit(kExecFailed);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fmt::format("waiting for {}: {}", py, std::strerror(errno));
  }
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == 0) {
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        std::error_code ec;
        const auto time = std::filesystem::last_write_time(outputs[i], ec);
        if (ec || (before[i] && *before[i] == time))
          return fmt::format("{} {} exited with 0 but did not write {}", py, path,
                             outputs[i].string());
      }
      return "";
    }
    if (code == kExecFailed)
      return fmt::format(
          "{} could not be run (install python3-matplotlib, or set "
          "DESCENT_PYTHON to a python3 that has matplotlib)",
          py);
    return fmt::format("{} {} exited with {} (its message is above)", py, path, code);
  }
  if (WIFSIGNALED(status))
    return fmt::format("{} {} was killed by signal {}", py, path, WTERMSIG(status));
  return fmt::format("{} {} failed", py, path);
}

std::string shell_word(const std::string& path) {
  const std::string word = not_an_option(path);
  const bool plain = !word.empty() && word.find_first_not_of(
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789_./,:+=@%-") == std::string::npos;
  if (plain) return word;
  std::string quoted = "'";
  for (const char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace descent::cli
