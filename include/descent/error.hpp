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

}  // namespace descent
