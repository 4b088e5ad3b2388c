// Fuzz target: parse_idx on an images file and a labels file cut from one input (the first
// byte says where the images end, as a fraction of the rest), and parse_idx_images on the
// images alone.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "targets.hpp"

namespace descent::fuzz {

int idx(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t cut = rest.size() * data[0] / 255;
  try {
    // The images alone (predictions on unlabelled images): rows of pixels, or an Error.
    const Matrix x = parse_idx_images(rest.substr(0, cut), "fuzz");
    if (x.rows() == 0 || x.cols() == 0) __builtin_trap();
  } catch (const Error&) {
  }
  try {
    const Dataset d = parse_idx(rest.substr(0, cut), rest.substr(cut), "fuzz");
    // What the reader promises: the parts agree.
    if (d.labels.size() != d.rows() || d.rows() == 0 || d.classes == 0 ||
        d.feature_names.size() != d.feature_count())
      __builtin_trap();
    for (std::uint32_t label : d.labels)
      if (label >= d.classes) __builtin_trap();
    return 1;
  } catch (const Error&) {
    return 0;
  }
}

}  // namespace descent::fuzz

DESCENT_FUZZ_ENTRY(idx)
