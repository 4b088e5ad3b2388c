#pragma once
// descent::Error: the one exception type descent throws for bad input. Its message says
// what was wrong and where (file:line:column, option, key or shape), so a user can act on it.

#include <stdexcept>
#include <string>

namespace descent {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A number as messages show it: the shortest form that reads back, and a NaN as "nan" (the
// sign of a NaN means nothing, but fmt prints one: "-nan").
std::string number_text(double x);

}  // namespace descent
