// The learning-rate range test: the rates grow exponentially, the loss is smoothed, the
// network and optimizer come back as they were, and the suggestion is where the loss falls.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "descent/lr_find.hpp"
#include "descent/network.hpp"
#include "descent/optimizer.hpp"
#include "descent/standardization.hpp"

namespace descent {
namespace {

Dataset standardized(const char* name) {
  Dataset d = load_dataset(name);
  Standardization::fit(d.features.view()).apply(d.features.view());
  return d;
}

TEST(LrFind, RatesGrowExponentiallyAndTheLossExplodesAtTheEnd) {
  const Dataset d = standardized("digits");
  Network net = Network::mlp(d.feature_count(), {32}, d.classes);
  net.initialize(Init::automatic, 1);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  const auto sgd = make_optimizer("sgd:lr=0.123,momentum=0.9");
  LrFindOptions o;
  o.start_lr = 1e-5;
  o.end_lr = 100.0;
  o.steps = 120;
  const LrFindResult r = lr_find(net, d, *sgd, Loss::cross_entropy, o);
  ASSERT_GE(r.points.size(), 10u);
  EXPECT_DOUBLE_EQ(r.points.front().lr, 1e-5);
  for (std::size_t i = 1; i < r.points.size(); ++i) {
    const double ratio = r.points[i].lr / r.points[i - 1].lr;
    EXPECT_NEAR(ratio, std::pow(1e7, 1.0 / 119.0), 1e-9);
  }
  // lr 100 with momentum on standardised digits blows up well before the end.
  EXPECT_TRUE(r.exploded);
  EXPECT_LT(r.points.size(), 120u);
  // The loss fell somewhere before it exploded, and the suggestion lies on the way down.
  EXPECT_LT(r.suggested_lr, r.points.back().lr);
  EXPECT_LE(r.suggested_lr, r.min_loss_lr);
  EXPECT_GT(r.suggested_lr, 1e-4);
  EXPECT_TRUE(r.fell);
  double lowest = INFINITY;
  for (const LrFindPoint& p : r.points) lowest = std::min(lowest, p.smoothed_loss);
  EXPECT_LT(lowest, r.points.front().smoothed_loss * 0.7);
  // Nothing changed for the caller.
  EXPECT_TRUE(std::equal(before.begin(), before.end(), net.parameters().begin()));
  EXPECT_DOUBLE_EQ(sgd->lr(), 0.123);
  EXPECT_EQ(sgd->steps(), 0u);
}

TEST(LrFind, RunsEveryStepWhenTheLossNeverExplodesAndIsDeterministic) {
  const Dataset d = standardized("iris");
  Network net = Network::mlp(d.feature_count(), {8}, d.classes);
  net.initialize(Init::automatic, 2);
  const auto sgd = make_optimizer("sgd");
  LrFindOptions o;
  o.start_lr = 1e-6;
  o.end_lr = 1e-3;
  o.steps = 30;
  o.batch_size = 16;
  o.seed = 9;
  const LrFindResult a = lr_find(net, d, *sgd, Loss::cross_entropy, o);
  const LrFindResult b = lr_find(net, d, *sgd, Loss::cross_entropy, o);
  EXPECT_FALSE(a.exploded);
  ASSERT_EQ(a.points.size(), 30u);
  ASSERT_EQ(b.points.size(), 30u);
  for (std::size_t i = 0; i < 30; ++i) EXPECT_EQ(a.points[i].loss, b.points[i].loss);
  EXPECT_NEAR(a.points.back().lr, 1e-3, 1e-12);
}

TEST(LrFind, SuggestsNothingWhereTheLossNeverFalls) {
  // A model that fits its data exactly: every batch's loss is 0, at every rate.
  std::string csv = "x1,x2,y\n";
  for (int i = 0; i < 40; ++i) csv += std::to_string(i % 7) + "," + std::to_string(i % 3) + ",0\n";
  const Dataset d = parse_csv(csv, "zeros.csv", TaskHint::regression);
  Network net = Network::mlp(d.feature_count(), {}, 1);
  for (float& p : net.parameters()) p = 0.0f;
  const auto sgd = make_optimizer("sgd");
  LrFindOptions o;
  o.steps = 30;
  o.batch_size = 8;
  const LrFindResult r = lr_find(net, d, *sgd, Loss::mse, o);
  ASSERT_EQ(r.points.size(), 30u);
  for (const LrFindPoint& p : r.points) EXPECT_EQ(p.loss, 0.0);
  EXPECT_FALSE(r.fell);
  EXPECT_EQ(r.suggested_lr, r.min_loss_lr);
}

TEST(LrFind, RejectsBadOptions) {
  const Dataset d = standardized("iris");
  Network net = Network::mlp(d.feature_count(), {8}, d.classes);
  const auto sgd = make_optimizer("sgd");
  auto expect_error = [&](LrFindOptions o, const char* what) {
    try {
      lr_find(net, d, *sgd, Loss::cross_entropy, o);
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error({.start_lr = 0.0}, "start_lr");
  expect_error({.start_lr = 1.0, .end_lr = 0.5}, "end_lr");
  expect_error({.steps = 1}, "steps");
  expect_error({.steps = SIZE_MAX}, "it takes at most 100000000 steps");
  expect_error({.smoothing = 1.0}, "smoothing");
  expect_error({.explode_factor = 1.0}, "explode_factor");
  Network wrong = Network::mlp(3, {8}, 3);
  EXPECT_THROW(lr_find(wrong, d, *sgd, Loss::cross_entropy), Error);
  // One class, as fit refuses it: there is no rate to find.
  Dataset one_class = d;
  one_class.labels.assign(d.rows(), 0);
  try {
    lr_find(net, one_class, *sgd, Loss::cross_entropy);
    ADD_FAILURE() << "one class: no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs at least 2 classes, every row has class 0"),
              std::string::npos)
        << e.what();
  }
  net.parameters()[5] = std::numeric_limits<float>::quiet_NaN();
  expect_error({}, "parameter 5 (layer 1) is nan");
}

}  // namespace
}  // namespace descent
