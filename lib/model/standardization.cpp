#include "descent/standardization.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/view_check.hpp"
#include "descent/error.hpp"

namespace descent {

Standardization Standardization::fit(ConstMatrixView x) {
  detail::check_matrix_view(x, "standardisation fit: data");
  Standardization s;
  s.mean.assign(x.cols, 0.0f);
  s.stddev.assign(x.cols, 1.0f);
  if (x.rows == 0) return s;
  for (std::size_t j = 0; j < x.cols; ++j) {
    double sum = 0.0;
    for (std::size_t i = 0; i < x.rows; ++i) sum += x(i, j);
    const double mean = sum / static_cast<double>(x.rows);
    double squares = 0.0;
    for (std::size_t i = 0; i < x.rows; ++i) {
      const double d = x(i, j) - mean;
      squares += d * d;
    }
    const double stddev = std::sqrt(squares / static_cast<double>(x.rows));
    s.mean[j] = static_cast<float>(mean);
    // A constant feature is only centred: dividing by ~0 would blow it up.
    s.stddev[j] = stddev > 1e-12 * (1.0 + std::abs(mean)) ? static_cast<float>(stddev) : 1.0f;
  }
  return s;
}

void Standardization::check() const {
  if (stddev.size() != mean.size()) {
    throw Error(fmt::format("standardisation with {} means but {} standard deviations", mean.size(),
                            stddev.size()));
  }
  for (std::size_t j = 0; j < mean.size(); ++j) {
    if (!std::isfinite(mean[j]) || !std::isnormal(stddev[j]) || !(stddev[j] > 0.0f)) {
      throw Error(
          fmt::format("standardisation of feature {}: mean {} and stddev {} (the mean must "
                      "be finite, the stddev a normal float > 0)",
                      j, mean[j], stddev[j]));
    }
  }
}

void Standardization::apply(MatrixView x) const {
  if (empty()) return;
  check();
  if (x.cols != features()) {
    throw Error(fmt::format("standardisation fitted on {} features applied to data with {}",
                            features(), x.cols));
  }
  detail::check_matrix_view(x, "standardisation apply: data");
  for (std::size_t i = 0; i < x.rows; ++i) {
    float* row = x.row(i);
    for (std::size_t j = 0; j < x.cols; ++j) row[j] = (row[j] - mean[j]) / stddev[j];
  }
}

}  // namespace descent
