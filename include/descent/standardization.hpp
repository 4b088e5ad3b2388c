#pragma once
// Per-feature standardisation, x' = (x - mean) / std, fitted on training data only and
// saved with the model so that predictions see inputs scaled the same way.

#include <vector>

#include "descent/matrix.hpp"

namespace descent {

struct Standardization {
  std::vector<float> mean;
  std::vector<float> stddev;  // population standard deviation; 1 for a constant feature

  bool empty() const noexcept { return mean.empty(); }
  std::size_t features() const noexcept { return mean.size(); }

  // Mean and standard deviation of every column of x (accumulated in double).
  static Standardization fit(ConstMatrixView x);
  // x = (x - mean) / stddev in place; x must have features() columns.
  void apply(MatrixView x) const;
  // Throws descent::Error unless mean and stddev have one entry per feature, every mean is
  // finite and every stddev a normal float > 0 (fit() gives nothing else): a 0, subnormal or
  // NaN stddev would turn every prediction into inf or NaN.
  void check() const;
};

}  // namespace descent
