// Training that cannot fail silently: every stop criterion, divergence, clipping and the
// per-layer diagnostics.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "descent/descent.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

struct IrisRun {
  Dataset data = load_dataset("iris");
  Network net = Network::mlp(4, {8}, 3, Activation::relu);
  std::unique_ptr<Optimizer> optimizer = make_optimizer("sgd:lr=0.1");
  TrainOptions options;
  IrisRun() {
    options.epochs = 50;
    options.batch_size = 40;  // 120 training rows: 3 steps per epoch
    options.init = Init::automatic;
  }
  TrainResult run(const Callbacks& cb = {}) { return train(net, data, *optimizer, options, cb); }
};

std::vector<float> params_of(const Network& net) {
  return {net.parameters().begin(), net.parameters().end()};
}

TEST(Stop, MaxEpochsIsTheDefaultReason) {
  IrisRun s;
  s.options.epochs = 3;
  const TrainResult r = s.run();
  EXPECT_EQ(r.stop_reason, StopReason::max_epochs);
  EXPECT_EQ(r.history.back().stop_reason, StopReason::max_epochs);
  EXPECT_FALSE(r.history.front().stop_reason.has_value());
  EXPECT_NE(r.stop_message.find("3 epochs"), std::string::npos);
}

TEST(Stop, MaxStepsMidEpoch) {
  IrisRun s;
  s.options.stop.max_steps = 5;
  const TrainResult r = s.run();
  EXPECT_EQ(r.stop_reason, StopReason::max_steps);
  EXPECT_EQ(r.steps, 5u);
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history.back().stop_reason, StopReason::max_steps);
}

TEST(Stop, TimeBudget) {
  IrisRun s;
  s.options.stop.max_seconds = 1e-12;  // spent by any step
  const TrainResult r = s.run();
  EXPECT_EQ(r.stop_reason, StopReason::time_budget);
  EXPECT_EQ(r.steps, 1u);
}

TEST(Stop, ConvergedWhenTheGradientIsAboutZero) {
  // Least squares y = 2 x1 - x2 + 0.5 on exact data: full-batch descent drives the gradient to 0.
  Dataset d;
  d.name = "line";
  d.task = Task::regression;
  d.features = Matrix(40, 2);
  d.values = Matrix(40, 1);
  for (std::size_t i = 0; i < 40; ++i) {
    d.features(i, 0) = static_cast<float>(i % 7) / 7.0f - 0.5f;
    d.features(i, 1) = static_cast<float>(i % 5) / 5.0f - 0.4f;
    d.values(i, 0) = 2.0f * d.features(i, 0) - d.features(i, 1) + 0.5f;
  }
  Network net = Network::mlp(2, {}, 1);
  auto sgd = make_optimizer("sgd:lr=0.5");
  TrainOptions o;
  o.batch_size = 0;
  o.epochs = 10000;
  o.validation_fraction = 0.0;
  o.standardize = false;
  o.stop.grad_tolerance = 1e-5;
  const TrainResult r = train(net, d, *sgd, o);
  EXPECT_EQ(r.stop_reason, StopReason::converged);
  EXPECT_LT(r.epochs, 10000u);
  EXPECT_NEAR(net.parameters()[0], 2.0f, 1e-3f);
  EXPECT_NEAR(net.parameters()[1], -1.0f, 1e-3f);
  EXPECT_NEAR(net.parameters()[2], 0.5f, 1e-3f);
  // The last epoch took no step (the full batch converged at once), yet its record reports
  // the converged step's loss, gradient norm and rate rather than nothing.
  const EpochRecord& last = r.history.back();
  EXPECT_EQ(last.stop_reason, StopReason::converged);
  EXPECT_EQ(last.step, r.history[r.history.size() - 2].step);
  EXPECT_GT(last.grad_norm, 0.0);
  EXPECT_LE(last.grad_norm, 1e-5);
  EXPECT_EQ(last.lr, 0.5);
  EXPECT_TRUE(std::isfinite(last.train_loss));
  EXPECT_LT(last.train_loss, 1e-9);
}

TEST(Stop, PlateauWhenTheLossStopsMoving) {
  IrisRun s;
  s.optimizer = make_optimizer("sgd:lr=1e-12");
  s.options.stop.plateau_tolerance = 1e-6;
  s.options.stop.plateau_patience = 3;
  const TrainResult r = s.run();
  EXPECT_EQ(r.stop_reason, StopReason::plateau);
  EXPECT_EQ(r.epochs, 4u);  // epoch 1 has nothing to compare with; 2, 3 and 4 are flat
}

TEST(Stop, TargetAccuracyAndTargetLoss) {
  IrisRun s;
  s.options.stop.target_accuracy = 0.9;
  TrainResult r = s.run();
  EXPECT_EQ(r.stop_reason, StopReason::target_reached);
  EXPECT_GE(r.history.back().val_accuracy, 0.9);
  EXPECT_LT(r.epochs, 50u);
  IrisRun t;
  t.options.stop.target_loss = 0.5;
  r = t.run();
  EXPECT_EQ(r.stop_reason, StopReason::target_reached);
  EXPECT_LE(r.history.back().val_loss, 0.5);
  for (std::size_t e = 0; e + 1 < r.history.size(); ++e) EXPECT_GT(r.history[e].val_loss, 0.5);
}

TEST(Stop, EarlyStoppingRestoresTheBestWeights) {
  IrisRun s;
  s.optimizer = make_optimizer("adam:lr=0.05");
  s.net = Network::mlp(4, {64, 64}, 3);
  s.options.batch_size = 8;
  s.options.stop.early_stopping_patience = 3;
  std::vector<std::vector<float>> snapshots;
  Callbacks cb;
  cb.on_epoch = [&](const EpochRecord&) {
    snapshots.push_back(params_of(s.net));
    return true;
  };
  const TrainResult r = s.run(cb);
  ASSERT_EQ(r.stop_reason, StopReason::early_stopped);
  ASSERT_GE(r.best_epoch, 1u);
  EXPECT_EQ(r.epochs, r.best_epoch + 3);
  // The validation loss of the restored weights is the best seen.
  double best = std::numeric_limits<double>::infinity();
  for (const auto& e : r.history) best = std::min(best, e.val_loss);
  EXPECT_EQ(r.history[r.best_epoch - 1].val_loss, best);
  EXPECT_EQ(params_of(s.net), snapshots[r.best_epoch - 1]);
}

TEST(Stop, EarlyStoppingNeedsValidationData) {
  IrisRun s;
  s.options.validation_fraction = 0.0;
  s.options.stop.early_stopping_patience = 2;
  EXPECT_THROW(s.run(), Error);
}

// Trains s with sgd at lr 500 until it diverges, and checks that the parameters are those
// from before the update that led there.
TrainResult diverge_and_check_undo(IrisRun& s) {
  s.optimizer = make_optimizer("sgd:lr=500");
  std::vector<std::vector<float>> after_step;  // on_step runs after each update
  Callbacks cb;
  cb.on_step = [&](const StepRecord&) {
    after_step.push_back(params_of(s.net));
    return true;
  };
  s.net.initialize(Init::automatic, 0);
  s.options.init.reset();
  const std::vector<float> initial = params_of(s.net);
  const TrainResult r = s.run(cb);
  EXPECT_EQ(r.stop_reason, StopReason::diverged) << r.stop_message;
  // Diverged at step t = steps + 1: the parameters are those from before update `steps`.
  EXPECT_GE(r.steps, 1u);
  EXPECT_EQ(after_step.size(), r.steps);
  EXPECT_EQ(params_of(s.net), r.steps >= 2 ? after_step.at(r.steps - 2) : initial);
  return r;
}

TEST(Divergence, ExplodingLossStopsAndUndoesTheLastUpdate) {
  IrisRun s;
  const TrainResult r = diverge_and_check_undo(s);
  EXPECT_NE(r.stop_message.find("smaller learning rate"), std::string::npos) << r.stop_message;
  EXPECT_EQ(r.stop_message.find("-nan"), std::string::npos) << r.stop_message;
  for (float p : s.net.parameters()) ASSERT_TRUE(std::isfinite(p));
}

TEST(Divergence, UndoesTheLastUpdateOfAModelOfManyPiecesOnTwoThreads) {
  // 67,843 parameters: the copy kept for the undo runs in several pieces, on both threads.
  const ThreadScope threads(2);
  IrisRun s;
  s.net = Network::mlp(4, {256, 256}, 3, Activation::relu);
  ASSERT_GT(s.net.parameter_count(), 65536u);
  diverge_and_check_undo(s);
}

TEST(Divergence, NonFiniteLossAtTheFirstStepLeavesTheWeights) {
  Dataset d = load_dataset("iris");
  // Finite features whose products overflow (an infinite one is refused as data).
  for (std::size_t j = 0; j < 4; ++j) d.features(3, j) = (j % 2 == 0 ? 1 : -1) * 3e38f;
  Network net = Network::mlp(4, {8}, 3);
  net.initialize(Init::automatic, 2);
  const std::vector<float> before = params_of(net);
  auto sgd = make_optimizer("sgd:lr=0.1");
  TrainOptions o;
  o.validation_fraction = 0.0;
  o.standardize = false;
  o.batch_size = 0;
  const TrainResult r = train(net, d, *sgd, o);
  EXPECT_EQ(r.stop_reason, StopReason::diverged);
  EXPECT_EQ(r.steps, 0u);
  // The message blames what did it: not the learning rate, with no update made.
  EXPECT_NE(r.stop_message.find("at the start, before any update"), std::string::npos)
      << r.stop_message;
  EXPECT_EQ(r.stop_message.find("learning rate than"), std::string::npos) << r.stop_message;
  EXPECT_EQ(params_of(net), before);
  // The epoch made no update: no rate, gradient norm or throughput of its own (they were 0),
  // an empty cell in the history file.
  ASSERT_EQ(r.history.size(), 1u);
  EXPECT_TRUE(std::isnan(r.history[0].grad_norm));
  EXPECT_TRUE(std::isnan(r.history[0].lr));
  EXPECT_TRUE(std::isnan(r.history[0].samples_per_second));
}

TEST(Standardisation, AnOverflowNamesTheRowOfTheDataAsGiven) {
  // Feature 2 of iris row 113 far below the others, which sit near the largest float: its
  // distance from the mean overflows, wherever the shuffled split puts it.
  Dataset d = load_dataset("iris");
  for (std::size_t i = 0; i < d.rows(); ++i) d.features(i, 2) = i == 113 ? -3e38f : 3e38f;
  Network net = Network::mlp(4, {8}, 3);
  auto sgd = make_optimizer("sgd:lr=0.1");
  TrainOptions o;
  o.validation_fraction = 0.2;
  o.epochs = 1;
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    o.seed = seed;
    try {
      train(net, d, *sgd, o);
      ADD_FAILURE() << "an overflowing standardisation trained";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("standardising the features of \"iris\" overflowed a float: feature 2 "
                          "of row 113 is -3e+38"),
                std::string::npos)
          << what;
      EXPECT_NE(what.find("--no-standardize"), std::string::npos) << what;
    }
  }
}

// The run's last update overflows a weight: the loss and gradient before it were finite, so
// only the end-of-epoch check sees it. The run stops as diverged with the weights from before
// that update (the model can be saved), instead of ending with an infinite weight.
TEST(Divergence, ALastUpdateThatOverflowsIsUndone) {
  Dataset d;
  d.name = "huge";
  d.task = Task::regression;
  d.features = Matrix(1, 1);
  d.features(0, 0) = 1e9f;
  d.values = Matrix(1, 1);
  d.values(0, 0) = 1e9f;
  Network net(1, {{1, Activation::identity}});  // w = b = 0: dL/dw = -2e18, its square finite
  auto sgd = make_optimizer("sgd:lr=1e21");     // w's update: 2e39, past float's range
  TrainOptions o;
  o.validation_fraction = 0.0;
  o.standardize = false;
  o.init.reset();
  o.epochs = 1;
  o.loss = Loss::mse;
  const TrainResult r = train(net, d, *sgd, o);
  EXPECT_EQ(r.stop_reason, StopReason::diverged) << r.stop_message;
  EXPECT_NE(r.stop_message.find("the update made parameter 0 (layer 1) is inf"), std::string::npos)
      << r.stop_message;
  EXPECT_EQ(params_of(net), (std::vector<float>{0.0f, 0.0f}));
  test::TempDir dir;
  EXPECT_NO_THROW(save_network(dir / "m.model", net, Loss::mse));
}

TEST(Clipping, ByNormScalesTheStepToTheLimit) {
  Network net = Network::mlp(4, {8}, 3);
  net.initialize(Init::automatic, 1);
  auto sgd = make_optimizer("sgd:lr=1");
  TrainOptions o;
  o.clip_norm = 0.01;
  Trainer trainer(net, *sgd, Loss::cross_entropy, o);
  Matrix x(5, 4);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 3) - 1.0f;
  const std::uint32_t labels[] = {0, 1, 2, 0, 1};
  const std::vector<float> before = params_of(net);
  const StepRecord step = trainer.train_step(x, {labels, {}});
  ASSERT_GT(step.grad_norm, 0.01);  // the norm before clipping
  double moved = 0.0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    const double d = static_cast<double>(net.parameters()[i]) - before[i];
    moved += d * d;
  }
  EXPECT_NEAR(std::sqrt(moved), 0.01, 1e-6);
}

TEST(Clipping, ByValueClampsEveryElement) {
  Network net = Network::mlp(4, {8}, 3);
  net.initialize(Init::automatic, 1);
  auto sgd = make_optimizer("sgd:lr=1");
  TrainOptions o;
  o.clip_value = 1e-3;
  Trainer trainer(net, *sgd, Loss::cross_entropy, o);
  Matrix x(5, 4);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 3) - 1.0f;
  const std::uint32_t labels[] = {0, 1, 2, 0, 1};
  const std::vector<float> before = params_of(net);
  trainer.train_step(x, {labels, {}});
  std::size_t at_limit = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    const float d = std::abs(net.parameters()[i] - before[i]);
    EXPECT_LE(d, 1e-3f * 1.0001f);
    at_limit += d > 0.999e-3f ? 1 : 0;
  }
  EXPECT_GT(at_limit, 0u);
}

TEST(Diagnostics, PerLayerNormsAndAVanishingGradientWarning) {
  IrisRun s;
  s.options.epochs = 3;
  s.net = Network::mlp(4, {8, 8}, 3);
  s.net.initialize(Init::automatic, 3);
  s.options.init.reset();
  // Zero the middle layer: ReLU(0) passes nothing back, so layers 1 and 2 learn nothing.
  const DenseLayer& mid = s.net.layers()[1];
  std::fill(s.net.parameters().begin() + static_cast<std::ptrdiff_t>(mid.weight_offset),
            s.net.parameters().begin() + static_cast<std::ptrdiff_t>(mid.bias_offset + mid.outputs),
            0.0f);
  std::vector<std::string> told;
  Callbacks cb;
  cb.on_warning = [&](const std::string& w) { told.push_back(w); };
  const TrainResult r = s.run(cb);
  for (const EpochRecord& e : r.history) {
    ASSERT_EQ(e.layer_grad_norms.size(), 3u);
    ASSERT_EQ(e.layer_weight_norms.size(), 3u);
    EXPECT_EQ(e.layer_grad_norms[0], 0.0);
    EXPECT_GT(e.layer_grad_norms[2], 0.0);
    EXPECT_GT(e.layer_weight_norms[0], 0.0);
  }
  EXPECT_EQ(told, r.warnings);
  ASSERT_EQ(r.warnings.size(), 2u);  // layers 1 and 2, once each
  EXPECT_NE(r.warnings[0].find("layer 1 (4 -> 8)"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[0].find("vanishing"), std::string::npos);
  // A relu network is not told to try relu.
  EXPECT_EQ(r.warnings[0].find("try relu"), std::string::npos) << r.warnings[0];
}

TEST(Diagnostics, ExplodingGradientWarning) {
  // Full-batch descent on a linear model just past its stability limit: the gradient grows
  // geometrically, a thousandfold within a few dozen epochs.
  Dataset d = load_dataset("diabetes");
  Network net = Network::mlp(10, {}, 1);
  net.initialize(Init::automatic, 4);
  auto sgd = make_optimizer("sgd:lr=1.2");
  TrainOptions o;
  o.batch_size = 0;
  o.epochs = 200;
  o.validation_fraction = 0.0;
  o.stop.divergence_factor = 0.0;  // let it grow
  const TrainResult r = train(net, d, *sgd, o);
  bool exploding = false;
  for (const auto& w : r.warnings)
    exploding = exploding || w.find("exploding") != std::string::npos;
  EXPECT_TRUE(exploding);
}

TEST(StopOptions, InvalidValuesAreErrors) {
  IrisRun s;
  s.options.clip_norm = -1.0;
  EXPECT_THROW(s.run(), Error);
  IrisRun t;
  t.options.stop.target_accuracy = 1.5;
  EXPECT_THROW(t.run(), Error);
  IrisRun u;
  u.options.stop.plateau_tolerance = 0.1;
  u.options.stop.plateau_patience = 0;
  EXPECT_THROW(u.run(), Error);
  // No loss goes below 0: such a target would never be reached.
  IrisRun w;
  w.options.stop.target_loss = -1.0;
  EXPECT_EQ(test::error_message([&] { w.run(); }),
            "target_loss -1 is invalid: a loss is never below 0, so the run could never reach it");
  // A clipping bound that is 0 as a float, or a subnormal one, would clip every gradient to 0:
  // no learning at all (1e-40 passed the first check, and every layer's gradient was 0).
  for (const bool by_value : {false, true}) {
    for (const double bound : {1e-50, 1e-40}) {
      IrisRun v;
      (by_value ? v.options.clip_value : v.options.clip_norm) = bound;
      const std::string error = test::error_message([&] { v.run(); });
      EXPECT_NE(error.find("below the smallest normal 32-bit float"), std::string::npos) << error;
    }
  }
}

}  // namespace
}  // namespace descent
