#include "core/c_number.hpp"

#include <locale.h>
#include <stdlib.h>

namespace descent::detail {
namespace {

locale_t c_locale() {
  static const locale_t c = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  return c;
}

}  // namespace

// newlocale cannot fail for "C" short of memory; then the process locale is all there is.
double strtod_c(const char* text, char** end) {
  const locale_t c = c_locale();
  return c != nullptr ? strtod_l(text, end, c) : strtod(text, end);
}

float strtof_c(const char* text, char** end) {
  const locale_t c = c_locale();
  return c != nullptr ? strtof_l(text, end, c) : strtof(text, end);
}

}  // namespace descent::detail
