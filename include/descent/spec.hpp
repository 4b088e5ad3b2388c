#pragma once
// Spec strings, the one syntax for optimizers and (later) schedules on the command line and
// in code:   name[:key=value[,key=value...]]
// Values are numbers in any form strtod accepts, true/false, or lists in brackets: [20,50,80].

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace descent {

struct Spec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> options;  // key, value text; in order

  // `kind` ("optimizer", "schedule") names the spec in error messages.
  static Spec parse(std::string_view text, std::string_view kind);
  bool has(std::string_view key) const;
  std::string to_string() const;
};

// Reads typed values from a Spec and remembers which keys were read, so that finish() can
// reject the ones nobody asked for. Every error names the spec, the key and the value.
class SpecReader {
 public:
  // Keeps a reference to spec, which must outlive it (a temporary would not: refused).
  SpecReader(const Spec& spec, std::string_view kind);
  SpecReader(Spec&& spec, std::string_view kind) = delete;

  const std::string& name() const noexcept { return spec_.name; }
  double number(std::string_view key, double fallback);
  bool boolean(std::string_view key, bool fallback);
  std::vector<double> numbers(std::string_view key, std::vector<double> fallback);
  // A whole number >= minimum (written in any form strtod accepts: 10, 1e2).
  long long integer(std::string_view key, long long fallback, long long minimum);
  // One of `choices`, as written.
  std::string choice(std::string_view key, std::string fallback,
                     std::initializer_list<std::string_view> choices);

  // Throws descent::Error: `<kind> "<name>": <key>=<value> is invalid: <why>`.
  [[noreturn]] void invalid(std::string_view key, std::string_view why) const;
  // Throws descent::Error: `key` must be given (`example`, if any, shows how).
  [[noreturn]] void required(std::string_view key, std::string_view example = {}) const;
  // Throws for any key that was never read, listing the ones that were.
  void finish() const;
  // The spec with every key read and its effective value (given or default), sorted by key:
  // two specs that build the same thing have the same canonical form.
  std::string canonical() const;

 private:
  const std::string* find(std::string_view key);
  void record(std::string_view key, std::string value);
  std::vector<double> parse_numbers(std::string_view key, std::vector<double> fallback);
  std::string prefix() const;

  const Spec& spec_;
  std::string kind_;
  std::vector<std::string> known_;
  std::vector<std::pair<std::string, std::string>> effective_;  // key, canonical value
};

}  // namespace descent
