// The analytic objectives: gradients against central differences, minimizers against the
// values and gradients the functions give there, and the spec parser's errors.

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/objective.hpp"
#include "descent/rng.hpp"

namespace descent {
namespace {

std::vector<float> as_floats(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

const char* const kSpecs[] = {"parabola",    "quadratic:dim=3,condition=100",
                              "rosenbrock",  "rosenbrock:dim=5",
                              "double_well", "himmelblau",
                              "saddle",      "beale",
                              "booth",       "rastrigin",
                              "ackley",      "ackley:dim=3"};

// Central differences in double around a float point: the analytic gradient must agree.
TEST(AnalyticObjectives, GradientsMatchCentralDifferences) {
  Rng rng(11);
  for (const char* spec : kSpecs) {
    const auto f = make_objective(spec);
    const std::size_t n = f->dimension();
    const auto box = f->domain();
    ASSERT_EQ(box.size(), n) << spec;
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> x(n), grad(n), scratch(n);
      for (std::size_t i = 0; i < n; ++i) {
        const auto [lo, hi] = box[i];
        x[i] = static_cast<float>(lo + (hi - lo) * rng.uniform_double());
      }
      f->value_and_gradient(x, grad);
      for (std::size_t i = 0; i < n; ++i) {
        const float h = 1e-3f * std::max(1.0f, std::abs(x[i]));
        std::vector<float> up = x, down = x;
        up[i] += h;
        down[i] -= h;
        const double step = static_cast<double>(up[i]) - static_cast<double>(down[i]);
        const double numeric = (f->value(up) - f->value(down)) / step;
        EXPECT_NEAR(grad[i], numeric, 2e-3 * std::max(1.0, std::abs(numeric)))
            << spec << " coordinate " << i << " trial " << trial;
      }
    }
  }
}

TEST(AnalyticObjectives, KnowTheirMinimizersAndMinimum) {
  for (const char* spec : kSpecs) {
    const auto f = make_objective(spec);
    const auto minimum = f->minimum();
    for (const auto& m : f->minimizers()) {
      ASSERT_EQ(m.size(), f->dimension()) << spec;
      std::vector<float> grad(m.size());
      const double value = f->value_and_gradient(as_floats(m), grad);
      ASSERT_TRUE(minimum.has_value()) << spec;
      EXPECT_NEAR(value, *minimum, 1e-5) << spec;
      for (const float g : grad) EXPECT_NEAR(g, 0.0, 1e-3) << spec;
      // A minimum: every nearby point is higher.
      for (std::size_t i = 0; i < m.size(); ++i) {
        for (const double d : {-1e-2, 1e-2}) {
          std::vector<double> near = m;
          near[i] += d;
          EXPECT_GT(f->value(as_floats(near)), value) << spec << " coordinate " << i;
        }
      }
    }
  }
  EXPECT_TRUE(make_objective("saddle")->minimizers().empty());
  EXPECT_FALSE(make_objective("saddle")->minimum().has_value());
  EXPECT_EQ(make_objective("himmelblau")->minimizers().size(), 4u);
}

TEST(AnalyticObjectives, TheDoubleWellHasALocalMinimumBesideTheGlobalOne) {
  const auto f = make_objective("double_well");
  ASSERT_EQ(f->minimizers().size(), 1u);
  ASSERT_EQ(f->local_minimizers().size(), 1u);
  const double global = f->minimizers()[0][0], local = f->local_minimizers()[0][0];
  EXPECT_NEAR(global, -1.30, 0.01);
  EXPECT_NEAR(local, 1.13, 0.01);
  std::vector<float> grad(1);
  const double local_value = f->value_and_gradient(std::vector<float>{float(local)}, grad);
  EXPECT_NEAR(grad[0], 0.0, 1e-4);
  EXPECT_GT(local_value, *f->minimum() + 1.0);
}

TEST(AnalyticObjectives, TheQuadraticsLargestCurvatureIsScaleTimesCondition) {
  const auto f = make_objective("quadratic:dim=4,condition=50,scale=2");
  EXPECT_EQ(f->dimension(), 4u);
  // Along the last axis f = 1/2 L x^2.
  const std::vector<float> x = {0.0f, 0.0f, 0.0f, 1.0f};
  EXPECT_NEAR(f->value(x), 0.5 * 100.0, 1e-9);
  const std::vector<float> y = {1.0f, 0.0f, 0.0f, 0.0f};
  EXPECT_NEAR(f->value(y), 0.5 * 2.0, 1e-9);
}

TEST(AnalyticObjectives, BadSpecsAreErrorsThatNameTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"nosuch", "unknown function \"nosuch\""},
      {"parabola:dim=2", "dim"},
      {"quadratic:condition=0.5", "condition=0.5 is invalid"},
      {"quadratic:scale=-1", "scale=-1 is invalid"},
      {"rosenbrock:dim=1", "dim"},
      {"quadratic:dim=0", "dim"},
      {"ackley:dim=abc", "dim"},
  };
  for (const auto& [spec, expected] : cases) {
    try {
      make_objective(spec);
      ADD_FAILURE() << spec << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
          << spec << ": " << e.what();
    }
  }
  const auto f = make_objective("booth");
  std::vector<float> wrong(3), grad(3);
  EXPECT_THROW(f->value_and_gradient(wrong, grad), Error);
}

}  // namespace
}  // namespace descent
