#include "cli/options.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/io.hpp"

namespace descent::cli {
namespace {
// Wider than any dense layer descent is meant for; the network checks its total size too.
constexpr std::size_t kMaxLayerSize = std::size_t{1} << 24;
}  // namespace

std::size_t parse_count(std::string_view text, std::string_view option) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    // ("-0" is no negative number, but a count has no sign.)
    if (text.size() > 1 && text.front() == '-' &&
        text.find_first_not_of("0123456789", 1) == std::string_view::npos) {
      throw Error(fmt::format("{} {} is invalid: {}", option, text,
                              text.find_first_not_of('0', 1) == std::string_view::npos
                                  ? "a count is written without a sign"
                                  : "it must not be negative"));
    }
    if (ec == std::errc::result_out_of_range)
      throw Error(fmt::format("{} {} is invalid: it is too large", option, text));
    throw Error(fmt::format("{} {} is not a whole number", option, text));
  }
  return value;
}

double parse_number(std::string_view text, std::string_view option) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(s.c_str(), &end);
  // (strtod skips leading blanks; trailing ones it leaves: neither is accepted.)
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front())) != 0 ||
      end != s.c_str() + s.size())
    throw Error(fmt::format("{} \"{}\" is not a number", option, text));
  if (errno == ERANGE && std::abs(value) < 1.0)
    throw Error(fmt::format("{} {} is invalid: it is too close to 0 for a double (it underflows)",
                            option, text));
  if (errno == ERANGE || !std::isfinite(value))
    throw Error(fmt::format("{} {} is not a finite number", option, text));
  return value;
}

double parse_target_loss(std::string_view text) {
  const double v = parse_number(text, "--target-loss");
  if (v < 0.0) {
    throw Error(
        fmt::format("--target-loss {} is invalid: a loss is never below 0, so the run "
                    "could never reach it",
                    text));
  }
  return v;
}

double positive_or_off(const std::string& text, std::string_view option, std::string_view what) {
  if (text.empty()) return 0.0;
  const double v = parse_number(text, option);
  if (v <= 0.0) {
    throw Error(fmt::format("{} {} is invalid: it must be > 0 (leave the option out for no {})",
                            option, text, what));
  }
  return v;
}

std::vector<std::size_t> parse_sizes(std::string_view text, std::string_view option) {
  std::vector<std::size_t> sizes;
  if (text.empty() || text == "none") return sizes;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(start, comma - start);
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || value == 0 ||
        value > kMaxLayerSize) {
      throw Error(fmt::format("{} {}: \"{}\" is not a layer size (1 to {})", option, text, item,
                              kMaxLayerSize));
    }
    sizes.push_back(value);
    start = comma + 1;
  }
  return sizes;
}

void check_output_path(const std::string& path, std::string_view option) {
  if (path.empty()) throw Error(fmt::format("{}: the file name is empty", option));
  try {
    check_output_file(path);  // what the writer will do with the path, checked before the work
  } catch (const Error& e) {
    throw Error(fmt::format("{} {}: {}", option, path, e.what()));
  }
}

void refuse_standard_output(const std::string& path, std::string_view option,
                            std::string_view what) {
  struct stat out {};
  struct stat target {};
  struct stat null {};
  if (::fstat(STDOUT_FILENO, &out) != 0 || ::stat(path.c_str(), &target) != 0) return;
  if (out.st_dev != target.st_dev || out.st_ino != target.st_ino) return;
  // (Both discarded: nothing to mix up.)
  if (::stat("/dev/null", &null) == 0 && null.st_dev == target.st_dev &&
      null.st_ino == target.st_ino)
    return;
  throw Error(
      fmt::format("{} {}: that is this command's standard output, which also carries {}; "
                  "the two would be mixed: give a file",
                  option, path, what));
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  // Two names of one existing file (hard links included), or two spellings of where a new
  // one will go ("m", "./m", "$PWD/m", a link to it).
  if (std::filesystem::equivalent(a, b, ec) && !ec) return true;
  try {
    return output_destination(a) == output_destination(b);
  } catch (const Error&) {
    return false;  // one of them is nothing a write could go to
  }
}

std::vector<std::string> split_list(const std::string& text, std::string_view option) {
  std::vector<std::string> items;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? comma : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) {
      throw Error(fmt::format("{} {}: an empty item in the list", option, text));
    }
    items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

void check_output_dir(const std::string& dir, std::string_view option) {
  std::error_code ec;
  const std::filesystem::path p(dir);
  if (std::filesystem::exists(p, ec) && !std::filesystem::is_directory(p, ec))
    throw Error(fmt::format("{} {}: that is a file, not a directory", option, dir));
}

namespace {
// What create_output_dir made, outermost first, for remove_empty_output_dirs: their names in
// fixed buffers, which a signal handler may read (it may not allocate). Past this many, the
// rest are not recorded (their outer directories then hold them and stay too).
constexpr std::size_t kMadeDirs = 16;
char made_dirs[kMadeDirs][4096];
volatile std::sig_atomic_t made_dir_count = 0;
}  // namespace

void remove_empty_output_dirs() noexcept {
  for (std::sig_atomic_t i = made_dir_count; i > 0; --i) ::rmdir(made_dirs[i - 1]);  // if empty
}

std::filesystem::path create_output_dir(const std::string& dir, std::string_view option,
                                        const std::vector<std::string>& files,
                                        const std::vector<NamedFile>& inputs) {
  namespace fs = std::filesystem;
  check_output_dir(dir, option);
  for (const std::string& file : files) {
    for (const auto& [input_option, input] : inputs) {
      std::error_code ec;
      if (input.empty() || !fs::exists(input, ec)) continue;
      if (same_file((fs::path(dir) / file).string(), input)) {
        throw Error(fmt::format("{} {}: {} there is the {} file {}: it would be overwritten",
                                option, dir, file, input_option, input));
      }
    }
  }
  // One component at a time, as the path is spelled (the kernel resolves "..", links and
  // all), noting each directory this call made: those, and only those, are removed again
  // if a file cannot be written.
  std::vector<fs::path> made;
  auto remove_made = [&made] {
    std::error_code ignored;
    for (auto p = made.rbegin(); p != made.rend(); ++p) fs::remove(*p, ignored);  // if empty
  };
  fs::path p;
  for (const fs::path& component : fs::path(dir)) {
    p /= component;
    if (component.empty() || component == "." || component == "..") continue;
    std::error_code ec;
    if (fs::create_directory(p, ec)) {
      made.push_back(p);
    } else if (ec || !fs::is_directory(p, ec)) {
      remove_made();
      throw Error(fmt::format("{} {}: cannot create the directory {}: {}", option, dir, p.string(),
                              ec ? ec.message() : "a file is in the way"));
    }
  }
  try {
    for (const std::string& file : files)
      check_output_path((fs::path(dir) / file).string(), option);
  } catch (const Error&) {
    remove_made();
    throw;
  }
  for (const fs::path& m : made) {
    const std::string name = fs::absolute(m).string();
    const std::sig_atomic_t n = made_dir_count;
    if (static_cast<std::size_t>(n) == kMadeDirs || name.size() >= sizeof made_dirs[0]) break;
    std::memcpy(made_dirs[n], name.c_str(), name.size() + 1);
    made_dir_count = n + 1;  // after the name is in place
  }
  return dir;
}

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace descent::cli
