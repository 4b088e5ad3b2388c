#include "descent/spec.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/c_number.hpp"
#include "core/user_text.hpp"
#include "descent/error.hpp"

namespace descent {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits on commas outside brackets.
std::vector<std::string_view> split_top_level(std::string_view text, std::string_view kind,
                                              std::string_view whole) {
  std::vector<std::string_view> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '[') ++depth;
    if (text[i] == ']' && --depth < 0)
      throw Error(fmt::format("{} spec \"{}\": unbalanced ']'", kind, whole));
    if (text[i] == ',' && depth == 0) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) throw Error(fmt::format("{} spec \"{}\": unclosed '['", kind, whole));
  parts.push_back(text.substr(start));
  return parts;
}

// Null when `text` is a number (then in `out`), else what it is instead.
const char* parse_double(std::string_view text, double& out) {
  const std::string s(trim(text));
  if (s.empty()) return "not a number";
  errno = 0;
  char* end = nullptr;
  out = detail::strtod_c(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return "not a number";
  if (errno == ERANGE) return "out of range for a number (too large or too small)";
  return nullptr;
}

}  // namespace

Spec Spec::parse(std::string_view text, std::string_view kind) {
  // Far longer than any spec written by hand (schedules take as much, for milestone lists of
  // thousands); what is longer is not one, and its message shows the start only.
  constexpr std::size_t kMaxSpecLength = 100000;
  if (text.size() > kMaxSpecLength) {
    throw Error(fmt::format("{} spec \"{}\" is {} characters long, more than the {} a spec may be",
                            kind, detail::printable(text, 60), text.size(), kMaxSpecLength));
  }
  // A NUL or newline would cut the message that quotes the spec, or be read as part of a value.
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      throw Error(fmt::format("{} spec \"{}\": character {} is a control character (\\x{:02x})",
                              kind, detail::printable(text), i + 1, c));
    }
  }
  const std::string_view whole = text;
  Spec spec;
  const std::size_t colon = text.find(':');
  spec.name = std::string(trim(text.substr(0, colon)));
  if (spec.name.empty()) throw Error(fmt::format("{} spec \"{}\" has no name", kind, whole));
  if (colon == std::string_view::npos) return spec;
  const std::string_view rest = text.substr(colon + 1);
  if (trim(rest).empty()) {
    throw Error(
        fmt::format("{} spec \"{}\": nothing after the colon (give key=value pairs, or "
                    "leave the colon out)",
                    kind, whole));
  }
  // The keys so far, for the duplicate check: a scan of the options per key was quadratic.
  std::set<std::string_view> seen;
  for (std::string_view part : split_top_level(rest, kind, whole)) {
    const std::size_t eq = part.find('=');
    const std::string_view key = trim(part.substr(0, eq));
    if (eq == std::string_view::npos || key.empty()) {
      throw Error(
          fmt::format("{} spec \"{}\": expected key=value, got \"{}\"", kind, whole, trim(part)));
    }
    const std::string_view value = trim(part.substr(eq + 1));
    if (value.empty()) {
      throw Error(fmt::format("{} spec \"{}\": key \"{}\" has no value", kind, whole, key));
    }
    if (!seen.insert(key).second) {
      throw Error(fmt::format("{} spec \"{}\": key \"{}\" is given twice", kind, whole, key));
    }
    spec.options.emplace_back(std::string(key), std::string(value));
  }
  return spec;
}

bool Spec::has(std::string_view key) const {
  for (const auto& [k, v] : options)
    if (k == key) return true;
  return false;
}

std::string Spec::to_string() const {
  std::string s = name;
  for (std::size_t i = 0; i < options.size(); ++i)
    s += fmt::format("{}{}={}", i == 0 ? ":" : ",", options[i].first, options[i].second);
  return s;
}

SpecReader::SpecReader(const Spec& spec, std::string_view kind) : spec_(spec), kind_(kind) {}

std::string SpecReader::prefix() const {
  return fmt::format("{} \"{}\"", kind_, spec_.name);
}

const std::string* SpecReader::find(std::string_view key) {
  known_.emplace_back(key);
  for (const auto& [k, v] : spec_.options)
    if (k == key) return &v;
  return nullptr;
}

double SpecReader::number(std::string_view key, double fallback) {
  const std::string* value = find(key);
  double x = fallback;
  if (value != nullptr) {
    if (const char* wrong = parse_double(*value, x))
      throw Error(fmt::format("{}: {}={} is {}", prefix(), key, *value, wrong));
    if (!std::isfinite(x))
      throw Error(fmt::format("{}: {}={} is not finite", prefix(), key, *value));
  }
  record(key, fmt::format("{}", x));
  return x;
}

bool SpecReader::boolean(std::string_view key, bool fallback) {
  const std::string* value = find(key);
  bool result = fallback;
  if (value != nullptr) {
    if (*value != "true" && *value != "false") {
      throw Error(
          fmt::format("{}: {}={} is not a boolean (use true or false)", prefix(), key, *value));
    }
    result = *value == "true";
  }
  record(key, result ? "true" : "false");
  return result;
}

std::vector<double> SpecReader::numbers(std::string_view key, std::vector<double> fallback) {
  std::vector<double> result = parse_numbers(key, std::move(fallback));
  record(key, fmt::format("[{}]", fmt::join(result, ",")));
  return result;
}

std::vector<double> SpecReader::parse_numbers(std::string_view key, std::vector<double> fallback) {
  const std::string* value = find(key);
  if (value == nullptr) return fallback;
  const std::string_view v = *value;
  if (v.size() < 2 || v.front() != '[' || v.back() != ']') {
    throw Error(fmt::format("{}: {}={} is not a list (write it as [a,b,...])", prefix(), key, v));
  }
  std::vector<double> result;
  const std::string_view inner = trim(v.substr(1, v.size() - 2));
  if (inner.empty()) return result;
  std::size_t start = 0;
  while (start <= inner.size()) {
    std::size_t comma = inner.find(',', start);
    if (comma == std::string_view::npos) comma = inner.size();
    double x = 0.0;
    const std::string_view item = inner.substr(start, comma - start);
    const char* wrong = parse_double(item, x);
    if (wrong != nullptr || !std::isfinite(x)) {
      throw Error(fmt::format("{}: {}={}: \"{}\" is {}", prefix(), key, v, trim(item),
                              wrong != nullptr ? wrong : "not finite"));
    }
    result.push_back(x);
    start = comma + 1;
  }
  return result;
}

long long SpecReader::integer(std::string_view key, long long fallback, long long minimum) {
  const std::string* value = find(key);
  long long result = fallback;
  if (value != nullptr) {
    double x = 0.0;
    const char* wrong = parse_double(*value, x);
    if (wrong != nullptr || !std::isfinite(x)) {
      throw Error(fmt::format("{}: {}={} is {}", prefix(), key, *value,
                              wrong != nullptr ? wrong : "not finite"));
    }
    if (x != std::floor(x) || x < static_cast<double>(minimum)) {
      throw Error(fmt::format("{}: {}={} is invalid: must be a whole number >= {}", prefix(), key,
                              *value, minimum));
    }
    if (x > 9.0e15) {
      throw Error(
          fmt::format("{}: {}={} is invalid: too large (at most 9e15)", prefix(), key, *value));
    }
    result = static_cast<long long>(x);
  }
  record(key, fmt::format("{}", result));
  return result;
}

std::string SpecReader::choice(std::string_view key, std::string fallback,
                               std::initializer_list<std::string_view> choices) {
  const std::string* value = find(key);
  if (value == nullptr) {
    record(key, fallback);
    return fallback;
  }
  for (std::string_view c : choices) {
    if (*value == c) {
      record(key, *value);
      return *value;
    }
  }
  throw Error(fmt::format("{}: {}={} is invalid: use {}", prefix(), key, *value,
                          fmt::join(choices, " or ")));
}

void SpecReader::invalid(std::string_view key, std::string_view why) const {
  for (const auto& [k, v] : spec_.options)
    if (k == key) throw Error(fmt::format("{}: {}={} is invalid: {}", prefix(), key, v, why));
  throw Error(fmt::format("{}: {} is invalid: {}", prefix(), key, why));
}

void SpecReader::required(std::string_view key, std::string_view example) const {
  throw Error(fmt::format("{}: {} is required{}", prefix(), key,
                          example.empty() ? std::string() : fmt::format(", e.g. {}", example)));
}

void SpecReader::record(std::string_view key, std::string value) {
  for (const auto& [k, v] : effective_)
    if (k == key) return;
  effective_.emplace_back(std::string(key), std::move(value));
}

std::string SpecReader::canonical() const {
  auto sorted = effective_;
  std::sort(sorted.begin(), sorted.end());
  std::string s = spec_.name;
  for (std::size_t i = 0; i < sorted.size(); ++i)
    s += fmt::format("{}{}={}", i == 0 ? ":" : ",", sorted[i].first, sorted[i].second);
  return s;
}

void SpecReader::finish() const {
  for (const auto& [k, v] : spec_.options) {
    bool read = false;
    for (const auto& known : known_) read = read || known == k;
    if (!read) {
      if (known_.empty())
        throw Error(fmt::format("{}: unknown key \"{}\" (it takes no keys)", prefix(), k));
      throw Error(fmt::format("{}: unknown key \"{}\" (known keys: {})", prefix(), k,
                              fmt::join(known_, ", ")));
    }
  }
}

}  // namespace descent
