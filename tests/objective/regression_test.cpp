// Linear and logistic regression are networks with no hidden layer. Gradient descent on their
// ModelObjective must reach what the textbook computes: the least-squares solution of the
// normal equations on diabetes, and, with L2 weight decay (standardised breast_cancer is
// linearly separable, so without it the optimum is at infinity), the minimiser found by
// Newton's method, both in double here.

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "descent/network.hpp"
#include "descent/objective.hpp"
#include "descent/optimizer.hpp"
#include "descent/standardization.hpp"

namespace descent {
namespace {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;

// Solves a x = b (a symmetric positive definite) by Gaussian elimination with partial pivoting.
Vec solve(Mat a, Vec b) {
  const std::size_t n = b.size();
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
    std::swap(a[c], a[pivot]);
    std::swap(b[c], b[pivot]);
    for (std::size_t r = c + 1; r < n; ++r) {
      const double k = a[r][c] / a[c][c];
      for (std::size_t j = c; j < n; ++j) a[r][j] -= k * a[c][j];
      b[r] -= k * b[c];
    }
  }
  Vec x(n);
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t j = i + 1; j < n; ++j) s -= a[i][j] * x[j];
    x[i] = s / a[i][i];
  }
  return x;
}

// The data's features standardised in place, each row with a trailing 1 (the bias), in double.
Mat design(Dataset& d) {
  Standardization::fit(d.features.view()).apply(d.features.view());
  Mat x(d.rows(), Vec(d.feature_count() + 1, 1.0));
  for (std::size_t i = 0; i < d.rows(); ++i)
    for (std::size_t j = 0; j < d.feature_count(); ++j) x[i][j] = d.features(i, j);
  return x;
}

// Parameters in nn.Linear's layout (weights, then the bias) against a coefficient vector
// with the bias last: the largest difference relative to the largest coefficient.
double relative_error(std::span<const float> params, const Vec& coef) {
  double largest = 0.0, diff = 0.0;
  for (std::size_t i = 0; i < coef.size(); ++i) {
    largest = std::max(largest, std::abs(coef[i]));
    diff = std::max(diff, std::abs(static_cast<double>(params[i]) - coef[i]));
  }
  return diff / largest;
}

TEST(Regression, LinearRegressionReachesTheLeastSquaresSolutionOnDiabetes) {
  Dataset d = load_dataset("diabetes");
  ASSERT_EQ(d.task, Task::regression);
  const Mat x = design(d);
  const std::size_t p = x[0].size();
  // Normal equations X^T X c = X^T y.
  Mat xtx(p, Vec(p, 0.0));
  Vec xty(p, 0.0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double y = d.values(i, 0);
    for (std::size_t a = 0; a < p; ++a) {
      xty[a] += x[i][a] * y;
      for (std::size_t b = 0; b < p; ++b) xtx[a][b] += x[i][a] * x[i][b];
    }
  }
  const Vec coef = solve(xtx, xty);

  Network net(d.feature_count(), {LayerSpec{1, Activation::identity}});
  ModelObjective objective(net, d, Loss::mse);
  const auto opt = make_optimizer("sgd:lr=0.05,momentum=0.9");
  MinimizeOptions o;
  o.stop.max_steps = 20000;
  o.stop.grad_tolerance = 1e-4;
  o.record_trajectory = false;
  const std::vector<float> zero(objective.dimension(), 0.0f);
  const MinimizeResult r = minimize(objective, *opt, zero, o);
  EXPECT_NE(r.stop_reason, StopReason::diverged) << r.stop_message;
  EXPECT_LT(relative_error(r.point, coef), 1e-3) << r.stop_message;
  // The loss there is the least-squares residual's mean.
  double residual = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    double fit = 0.0;
    for (std::size_t a = 0; a < p; ++a) fit += x[i][a] * coef[a];
    residual += (fit - d.values(i, 0)) * (fit - d.values(i, 0));
  }
  EXPECT_NEAR(r.value, residual / static_cast<double>(x.size()), 1e-4 * r.value);
}

TEST(Regression, LogisticRegressionWithWeightDecayReachesNewtonsMinimiserOnBreastCancer) {
  Dataset d = load_dataset("breast_cancer");
  ASSERT_EQ(d.classes, 2u);
  const Mat x = design(d);
  const std::size_t p = x[0].size(), n = x.size();
  // torch's weight_decay adds lambda * theta to the gradient, bias included: the objective is
  // mean BCE + lambda / 2 |theta|^2.
  const double lambda = 0.01;
  Vec theta(p, 0.0);
  for (int iteration = 0; iteration < 30; ++iteration) {
    Mat hessian(p, Vec(p, 0.0));
    Vec grad(p, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double z = 0.0;
      for (std::size_t a = 0; a < p; ++a) z += x[i][a] * theta[a];
      const double s = 1.0 / (1.0 + std::exp(-z));
      const double y = d.labels[i];
      for (std::size_t a = 0; a < p; ++a) {
        grad[a] += (s - y) * x[i][a] / static_cast<double>(n);
        for (std::size_t b = 0; b < p; ++b)
          hessian[a][b] += s * (1.0 - s) * x[i][a] * x[i][b] / static_cast<double>(n);
      }
    }
    for (std::size_t a = 0; a < p; ++a) {
      grad[a] += lambda * theta[a];
      hessian[a][a] += lambda;
    }
    const Vec step = solve(hessian, grad);
    for (std::size_t a = 0; a < p; ++a) theta[a] -= step[a];
  }

  Network net(d.feature_count(), {LayerSpec{1, Activation::identity}});
  ModelObjective objective(net, d, Loss::bce_with_logits);
  const auto opt = make_optimizer("sgd:lr=0.3,momentum=0.9,weight_decay=0.01");
  MinimizeOptions o;
  // The loss's own gradient is lambda * theta at the optimum, never near zero: the run takes
  // every step. By 2000 the iterate is within 1e-6 of Newton's (measured); 4000 to spare.
  o.stop.max_steps = 4000;
  o.record_trajectory = false;
  const std::vector<float> zero(objective.dimension(), 0.0f);
  const MinimizeResult r = minimize(objective, *opt, zero, o);
  EXPECT_NE(r.stop_reason, StopReason::diverged) << r.stop_message;
  EXPECT_LT(relative_error(r.point, theta), 2e-3);
}

TEST(Regression, AModelObjectiveOnSelectedRowsIsTheObjectiveOfThoseRows) {
  Dataset d = load_dataset("iris");
  Network net = Network::mlp(d.feature_count(), {5}, d.classes, Activation::tanh);
  net.initialize(Init::automatic, 4);
  ModelObjective objective(net, d, Loss::cross_entropy);
  const std::vector<float> x(net.parameters().begin(), net.parameters().end());
  const std::size_t rows[] = {3, 50, 149, 3};
  objective.select_rows(rows);
  std::vector<float> grad(objective.dimension());
  const double value = objective.value_and_gradient(x, grad);
  // The same rows as a data set of their own.
  const Dataset picked = d.subset(rows);
  ModelObjective alone(net, picked, Loss::cross_entropy);
  std::vector<float> grad2(alone.dimension());
  EXPECT_DOUBLE_EQ(alone.value_and_gradient(x, grad2), value);
  EXPECT_EQ(grad, grad2);
  const std::size_t past[] = {150};
  EXPECT_THROW(objective.select_rows(past), Error);
}

}  // namespace
}  // namespace descent
