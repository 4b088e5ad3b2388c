// Back-propagated gradients against central finite differences of the loss computed in
// double, for every activation and every loss, on small random networks.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "descent/loss.hpp"
#include "descent/network.hpp"
#include "descent/rng.hpp"

namespace descent {
namespace {

double activate(Activation act, double z) {
  switch (act) {
    case Activation::identity:
      return z;
    case Activation::relu:
      return z > 0.0 ? z : 0.0;
    case Activation::sigmoid:
      return 1.0 / (1.0 + std::exp(-z));
    case Activation::tanh:
      return std::tanh(z);
  }
  return z;
}

struct Problem {
  std::size_t rows;
  std::vector<double> x;  // [rows, inputs]
  std::vector<std::uint32_t> labels;
  std::vector<double> values;  // [rows, outputs]
};

// The mean loss of the network with parameters p, all in double.
double loss_in_double(const Network& net, const std::vector<double>& p, const Problem& pr,
                      Loss loss) {
  double total = 0.0;
  for (std::size_t r = 0; r < pr.rows; ++r) {
    std::vector<double> a(pr.x.begin() + static_cast<std::ptrdiff_t>(r * net.inputs()),
                          pr.x.begin() + static_cast<std::ptrdiff_t>((r + 1) * net.inputs()));
    for (const DenseLayer& layer : net.layers()) {
      std::vector<double> z(layer.outputs);
      for (std::size_t o = 0; o < layer.outputs; ++o) {
        double s = p[layer.bias_offset + o];
        for (std::size_t i = 0; i < layer.inputs; ++i)
          s += p[layer.weight_offset + o * layer.inputs + i] * a[i];
        z[o] = activate(layer.activation, s);
      }
      a = z;
    }
    const std::size_t outputs = a.size();
    if (loss == Loss::cross_entropy) {
      const double m = *std::max_element(a.begin(), a.end());
      double sum = 0.0;
      for (double v : a) sum += std::exp(v - m);
      total += m + std::log(sum) - a[pr.labels[r]];
    } else {
      for (std::size_t o = 0; o < outputs; ++o) {
        const double t = pr.values[r * outputs + o];
        if (loss == Loss::mse) {
          total += (a[o] - t) * (a[o] - t);
        } else {
          total += std::max(a[o], 0.0) - a[o] * t + std::log1p(std::exp(-std::abs(a[o])));
        }
      }
    }
  }
  return total / static_cast<double>(loss_divisor(loss, pr.rows, net.outputs()));
}

void check_gradients(Network& net, Loss loss, std::uint64_t seed) {
  Rng rng(seed);
  Problem pr;
  pr.rows = 4;
  Matrix x(pr.rows, net.inputs());
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform(-1.5f, 1.5f);
  pr.x.assign(x.data(), x.data() + x.size());
  Matrix values(pr.rows, net.outputs());
  for (std::size_t i = 0; i < pr.rows; ++i) {
    pr.labels.push_back(static_cast<std::uint32_t>(rng.below(net.outputs())));
    for (std::size_t o = 0; o < net.outputs(); ++o) {
      values(i, o) = loss == Loss::bce_with_logits ? static_cast<float>(rng.below(2))
                                                   : rng.uniform(-1.0f, 1.0f);
    }
  }
  pr.values.assign(values.data(), values.data() + values.size());
  const Targets targets =
      loss == Loss::cross_entropy ? Targets{pr.labels, {}} : Targets{{}, values.view()};

  // Analytic, in float, through the library.
  Workspace ws(net, pr.rows);
  const ConstMatrixView out = net.forward(x.view(), ws);
  const MatrixView grad_out = ws.output_gradient(pr.rows);
  const double mean =
      loss_sum(loss, out, targets,
               1.0f / static_cast<float>(loss_divisor(loss, pr.rows, net.outputs())), &grad_out) /
      static_cast<double>(loss_divisor(loss, pr.rows, net.outputs()));
  std::vector<float> grads(net.parameter_count());
  net.backward(x.view(), ws, grads);

  std::vector<double> p(net.parameters().begin(), net.parameters().end());
  EXPECT_NEAR(mean, loss_in_double(net, p, pr, loss), 1e-5 * (1.0 + std::abs(mean)));

  double max_grad = 0.0;
  for (float g : grads) max_grad = std::max(max_grad, static_cast<double>(std::abs(g)));
  ASSERT_GT(max_grad, 0.0);
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double h = 1e-5;
    const double saved = p[i];
    p[i] = saved + h;
    const double up = loss_in_double(net, p, pr, loss);
    p[i] = saved - h;
    const double down = loss_in_double(net, p, pr, loss);
    p[i] = saved;
    const double numeric = (up - down) / (2.0 * h);
    ASSERT_NEAR(grads[i], numeric, 2e-3 * std::abs(numeric) + 1e-4 * max_grad + 1e-6)
        << "parameter " << i << " of " << p.size() << ", loss " << to_string(loss);
  }
}

class GradientCheck : public ::testing::TestWithParam<std::tuple<Activation, Loss>> {};

TEST_P(GradientCheck, BackpropMatchesCentralDifferences) {
  const auto [activation, loss] = GetParam();
  const std::size_t outputs = loss == Loss::bce_with_logits ? 2 : 3;
  Network net = Network::mlp(5, {6, 4}, outputs, activation);
  net.initialize(Init::pytorch, 3);
  check_gradients(net, loss, 10 + static_cast<std::uint64_t>(activation));
}

INSTANTIATE_TEST_SUITE_P(
    EveryActivationAndLoss, GradientCheck,
    ::testing::Combine(::testing::Values(Activation::identity, Activation::relu,
                                         Activation::sigmoid, Activation::tanh),
                       ::testing::Values(Loss::mse, Loss::cross_entropy, Loss::bce_with_logits)),
    [](const auto& param_info) {
      return std::string(to_string(std::get<0>(param_info.param))) + "_" +
             std::string(to_string(std::get<1>(param_info.param)));
    });

TEST(GradientCheckOutputActivation, BackpropThroughANonIdentityOutputLayer) {
  Network net(3, {{5, Activation::tanh}, {2, Activation::sigmoid}});
  net.initialize(Init::xavier_normal, 5);
  check_gradients(net, Loss::mse, 77);
}

TEST(GradientCheckNoHidden, LinearAndLogisticRegression) {
  Network linear = Network::mlp(4, {}, 1);
  linear.initialize(Init::pytorch, 8);
  check_gradients(linear, Loss::mse, 9);
  Network logistic = Network::mlp(4, {}, 1);
  logistic.initialize(Init::pytorch, 10);
  check_gradients(logistic, Loss::bce_with_logits, 11);
}

}  // namespace
}  // namespace descent
