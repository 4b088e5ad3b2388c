// Formatting for error messages.

#include "descent/error.hpp"

#include <cmath>

#include <fmt/format.h>

namespace descent {

std::string number_text(double x) {
  return std::isnan(x) ? std::string("nan") : fmt::format("{}", x);
}

}  // namespace descent
