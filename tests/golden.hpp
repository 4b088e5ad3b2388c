#pragma once
// Golden values from PyTorch (tests/golden/make_golden.py), read from JSON.

#include <cmath>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace descent::test {

inline const nlohmann::json& golden(const std::string& file) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(file);
  if (it == cache.end()) {
    std::ifstream in(std::string(DESCENT_GOLDEN_DIR) + "/" + file);
    if (!in) throw std::runtime_error("cannot open golden file " + file);
    it = cache.emplace(file, nlohmann::json::parse(in)).first;
  }
  return it->second;
}

// The tolerance for float32 against a float64 reference.
inline ::testing::AssertionResult near_reference(double got, double ref) {
  const double tol = 1e-5 * std::abs(ref) + 1e-6;
  if (std::abs(got - ref) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", PyTorch " << ref << " (|diff| "
                                       << std::abs(got - ref) << " > " << tol << ")";
}

}  // namespace descent::test
