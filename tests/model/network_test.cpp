#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>

#include "descent/error.hpp"
#include "descent/network.hpp"
#include "descent/standardization.hpp"

namespace descent {
namespace {

TEST(Network, LayoutIsPyTorchsLinearLayerByLayer) {
  const Network net = Network::mlp(4, {3}, 2, Activation::tanh);
  ASSERT_EQ(net.layers().size(), 2u);
  EXPECT_EQ(net.parameter_count(), 4u * 3 + 3 + 3 * 2 + 2);
  EXPECT_EQ(net.gradients().size(), net.parameter_count());
  const DenseLayer& l0 = net.layers()[0];
  const DenseLayer& l1 = net.layers()[1];
  EXPECT_EQ(l0.weight_offset, 0u);
  EXPECT_EQ(l0.bias_offset, 12u);
  EXPECT_EQ(l1.weight_offset, 15u);
  EXPECT_EQ(l1.bias_offset, 21u);
  EXPECT_EQ(l0.activation, Activation::tanh);
  EXPECT_EQ(l1.activation, Activation::identity);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(net.parameters().data()) % 64, 0u);
}

TEST(Network, ForwardComputesXTimesWTransposedPlusBias) {
  Network net(2, {{2, Activation::identity}});
  // W = [[1, 2], [3, 4]] ([out, in]), b = [10, 20]
  const float p[] = {1, 2, 3, 4, 10, 20};
  net.set_parameters(p);
  Matrix x(1, 2);
  x(0, 0) = 1.0f;
  x(0, 1) = -1.0f;
  Workspace ws(net, 1);
  const ConstMatrixView y = net.forward(x.view(), ws);
  EXPECT_FLOAT_EQ(y(0, 0), 1 - 2 + 10.0f);
  EXPECT_FLOAT_EQ(y(0, 1), 3 - 4 + 20.0f);
}

TEST(Network, InitialisationIsSeededAndScaledByFanIn) {
  Network a = Network::mlp(400, {300}, 10, Activation::relu);
  Network b = Network::mlp(400, {300}, 10, Activation::relu);
  a.initialize(Init::automatic, 1);
  b.initialize(Init::automatic, 1);
  EXPECT_TRUE(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
  b.initialize(Init::automatic, 2);
  EXPECT_FALSE(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));

  // He before relu: std sqrt(2/400); biases zero.
  const DenseLayer& l0 = a.layers()[0];
  double sq = 0.0;
  for (std::size_t i = 0; i < 400 * 300; ++i)
    sq += a.parameters()[l0.weight_offset + i] * a.parameters()[l0.weight_offset + i];
  EXPECT_NEAR(std::sqrt(sq / (400 * 300)), std::sqrt(2.0 / 400), 0.01 * std::sqrt(2.0 / 400));
  for (std::size_t i = 0; i < 300; ++i) EXPECT_EQ(a.parameters()[l0.bias_offset + i], 0.0f);

  // Xavier uniform on the identity output layer: |w| <= sqrt(6 / (300 + 10)).
  const DenseLayer& l1 = a.layers()[1];
  const float bound = static_cast<float>(std::sqrt(6.0 / 310));
  float largest = 0.0f;
  for (std::size_t i = 0; i < 300 * 10; ++i)
    largest = std::max(largest, std::abs(a.parameters()[l1.weight_offset + i]));
  EXPECT_LE(largest, bound);
  EXPECT_GT(largest, 0.9f * bound);
}

TEST(Network, XavierUsesTheTanhGain) {
  Network net = Network::mlp(200, {200}, 2, Activation::tanh);
  net.initialize(Init::xavier_normal, 4);
  double sq = 0.0;
  for (std::size_t i = 0; i < 200 * 200; ++i) sq += net.parameters()[i] * net.parameters()[i];
  const double expected = 5.0 / 3.0 * std::sqrt(2.0 / 400);
  EXPECT_NEAR(std::sqrt(sq / (200 * 200)), expected, 0.02 * expected);
}

TEST(Network, RejectsBadShapes) {
  EXPECT_THROW(Network(0, {{3, Activation::relu}}), Error);
  EXPECT_THROW(Network(3, {}), Error);
  EXPECT_THROW(Network(3, {{0, Activation::relu}}), Error);
  EXPECT_THROW(Network(3, {{2, static_cast<Activation>(99)}}), Error);
  Network net = Network::mlp(3, {4}, 2);
  EXPECT_THROW(net.set_parameters(std::vector<float>(5)), Error);
  Workspace ws(net, 2);
  Matrix wrong(2, 4);
  EXPECT_THROW(net.forward(wrong.view(), ws), Error);
  Matrix too_many(3, 3);
  EXPECT_THROW(net.forward(too_many.view(), ws), Error);
  EXPECT_THROW(parse_init("he"), Error);
  // Sizes whose product overflows, or whose parameters no machine holds: an Error, not a crash.
  EXPECT_THROW(Network::mlp(64, {1, std::size_t{1} << 62}, 10), Error);
  EXPECT_THROW(Network::mlp(100000, {100000}, 10), Error);
  EXPECT_THROW(Matrix(std::size_t{1} << 40, std::size_t{1} << 40), std::bad_alloc);
  // A workspace made for another network's layers would be read out of bounds.
  Network wider = Network::mlp(3, {50}, 2);
  Matrix x(2, 3);
  EXPECT_THROW(wider.forward(x.view(), ws), Error);
  EXPECT_THROW(wider.backward(x.view(), ws, wider.gradients(), false), Error);
  EXPECT_NO_THROW(net.forward(x.view(), ws));
  EXPECT_THROW(ws.output_gradient(3), Error);
  // A view that is no matrix: no data, or rows shorter than the stride says.
  EXPECT_THROW(net.predict(ConstMatrixView{nullptr, 2, 3, 3}), Error);
  EXPECT_THROW(net.predict(ConstMatrixView{x.data(), 2, 3, 1}), Error);
  EXPECT_EQ(net.predict(ConstMatrixView{nullptr, 0, 3, 3}).rows(), 0u);
}

TEST(Network, NonFiniteParametersAreFoundAndNamed) {
  Network net = Network::mlp(3, {4}, 2);  // layer 1: 12 + 4 parameters, layer 2 from 16
  EXPECT_EQ(describe_non_finite_parameter(net), "");
  net.parameters()[17] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(describe_non_finite_parameter(net), "parameter 17 (layer 2) is nan");
  net.parameters()[3] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(describe_non_finite_parameter(net), "parameter 3 (layer 1) is -inf");
}

TEST(Network, AnInitialisationSchemeItDoesNotHaveIsAnError) {
  Network net = Network::mlp(3, {4}, 2);
  EXPECT_THROW(net.initialize(static_cast<Init>(9), 1), Error);
  EXPECT_THROW(net.initialize(static_cast<Init>(-1), 1), Error);
  net.initialize(Init::pytorch, 1);
  EXPECT_NE(net.parameters()[0], 0.0f);
}

TEST(Standardization, RefusesViewsItCannotRead) {
  Matrix x(3, 2);
  x(0, 0) = 1.0f;
  const Standardization s = Standardization::fit(x.view());
  EXPECT_THROW(Standardization::fit(ConstMatrixView{nullptr, 3, 2, 2}), Error);
  EXPECT_THROW(s.apply(MatrixView{nullptr, 3, 2, 2}), Error);
  EXPECT_THROW(s.apply(MatrixView{x.data(), 3, 2, 1}), Error);
  EXPECT_NO_THROW(s.apply(MatrixView{nullptr, 0, 2, 2}));
}

TEST(Network, PredictAppliesTheStandardisation) {
  Network net(1, {{1, Activation::identity}});
  const float p[] = {1.0f, 0.0f};  // y = x
  net.set_parameters(p);
  net.set_standardization({{10.0f}, {2.0f}});
  Matrix x(2, 1);
  x(0, 0) = 10.0f;
  x(1, 0) = 14.0f;
  const Matrix y = net.predict(x.view());
  EXPECT_FLOAT_EQ(y(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(y(1, 0), 2.0f);
  EXPECT_THROW(net.set_standardization({{1.0f, 2.0f}, {1.0f, 1.0f}}), Error);
  // A stddev that is 0, subnormal, negative or NaN, a NaN mean, or sizes that disagree would
  // make every prediction inf or NaN, or read past the end.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const Standardization& bad :
       {Standardization{{10.0f}, {0.0f}}, Standardization{{10.0f}, {1e-40f}},
        Standardization{{10.0f}, {-1.0f}}, Standardization{{10.0f}, {nan}},
        Standardization{{nan}, {1.0f}}, Standardization{{10.0f}, {}}}) {
    EXPECT_THROW(net.set_standardization(bad), Error);
    EXPECT_THROW(bad.apply(x.view()), Error);
  }
  EXPECT_FLOAT_EQ(net.predict(x.view())(1, 0), 2.0f);  // the good one is still in place
}

}  // namespace
}  // namespace descent
