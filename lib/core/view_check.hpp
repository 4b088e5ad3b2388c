#pragma once
// The one check of a matrix view handed in from outside, before any kernel reads it.

#include <string_view>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/matrix.hpp"

namespace descent::detail {

// Throws descent::Error unless `v` has data for its rows and a stride of at least its
// columns (else its rows overlap). `what` names it in the message ("input", "target", ...).
inline void check_matrix_view(ConstMatrixView v, std::string_view what) {
  if (v.rows > 0 && (v.data == nullptr || v.stride < v.cols)) {
    throw Error(fmt::format("{} view of {} x {} with stride {}{}: not a matrix", what, v.rows,
                            v.cols, v.stride, v.data == nullptr ? " and no data" : ""));
  }
}
// The same, named "owner: what" (a loss's "mse: target"), formatted only when it is thrown, so
// that a check inside a training step allocates nothing.
inline void check_matrix_view(ConstMatrixView v, std::string_view owner, std::string_view what) {
  if (v.rows > 0 && (v.data == nullptr || v.stride < v.cols))
    check_matrix_view(v, fmt::format("{}: {}", owner, what));
}

}  // namespace descent::detail
