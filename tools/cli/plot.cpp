// Running the figure scripts.

#include "cli/plot.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace descent::cli {

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

bool run_script(const std::filesystem::path& script, const std::vector<std::string>& args) {
  const std::string py = python();
  const std::string path = script.string();
  std::vector<const char*> argv = {py.c_str(), path.c_str()};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    execvp(argv[0], const_cast<char* const*>(argv.data()));
    std::_Exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace descent::cli
