#pragma once
// The one check of a matrix view handed in from outside, before any kernel reads it.

#include <cstddef>
#include <cstdint>
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

// Whether two row-major blocks (rows x cols elements of `size` bytes, rows `stride` elements
// apart) lie in overlapping spans of memory, from the first element of one to the last of it.
// Empty blocks overlap nothing.
inline bool spans_overlap(const void* a, std::size_t a_rows, std::size_t a_cols,
                          std::size_t a_stride, const void* b, std::size_t b_rows,
                          std::size_t b_cols, std::size_t b_stride, std::size_t size) noexcept {
  if (a == nullptr || b == nullptr || a_rows == 0 || a_cols == 0 || b_rows == 0 || b_cols == 0)
    return false;
  const auto a_first = reinterpret_cast<std::uintptr_t>(a);
  const auto b_first = reinterpret_cast<std::uintptr_t>(b);
  const std::uintptr_t a_end = a_first + ((a_rows - 1) * a_stride + a_cols) * size;
  const std::uintptr_t b_end = b_first + ((b_rows - 1) * b_stride + b_cols) * size;
  return a_first < b_end && b_first < a_end;
}

}  // namespace descent::detail
