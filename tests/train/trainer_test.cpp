#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "descent/evaluate.hpp"
#include "descent/loss.hpp"
#include "descent/matrix.hpp"
#include "descent/network.hpp"
#include "descent/optim/sgd.hpp"
#include "descent/optimizer.hpp"
#include "descent/parallel.hpp"
#include "descent/train.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

Network digits_network(const Dataset& d) {
  return Network::mlp(d.feature_count(), {64}, d.classes, Activation::relu);
}

TEST(Train, LearnsDigitsWithMiniBatchSgd) {
  const Dataset d = load_dataset("digits");
  Network net = digits_network(d);
  Sgd sgd({.lr = 0.1f});
  TrainOptions o;
  o.epochs = 8;
  o.batch_size = 32;
  o.seed = 3;
  o.init = Init::automatic;
  const TrainResult r = train(net, d, sgd, o);
  ASSERT_EQ(r.history.size(), 8u);
  EXPECT_EQ(r.stop_reason, StopReason::max_epochs);
  const std::size_t train_rows = d.rows() - validation_rows(d.rows(), 0.2);
  EXPECT_EQ(r.steps, 8 * ((train_rows + 31) / 32));
  EXPECT_GT(r.history.back().val_accuracy, 0.93);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
  for (std::size_t i = 0; i < r.history.size(); ++i) {
    const EpochRecord& e = r.history[i];
    EXPECT_EQ(e.epoch, i + 1);
    EXPECT_FLOAT_EQ(static_cast<float>(e.lr), 0.1f);
    EXPECT_GT(e.grad_norm, 0.0);
    EXPECT_GT(e.samples_per_second, 0.0);
    if (i > 0) {
      EXPECT_GE(e.seconds, r.history[i - 1].seconds);
    }
  }
  EXPECT_FALSE(net.standardization().empty());
}

TEST(Train, BatchStochasticAndMiniBatchAreOneTrainer) {
  const Dataset d = load_dataset("iris");
  for (std::size_t batch : {std::size_t{0}, std::size_t{1}, std::size_t{16}}) {
    SCOPED_TRACE(batch);
    Network net = Network::mlp(4, {8}, 3, Activation::tanh);
    Sgd sgd({.lr = batch == 1 ? 0.01f : 0.2f});
    TrainOptions o;
    o.epochs = batch == 0 ? 150 : 30;
    o.batch_size = batch;
    o.init = Init::automatic;
    const TrainResult r = train(net, d, sgd, o);
    const std::size_t train_rows = 150 - 30;
    const std::size_t per_epoch = batch == 0 ? 1 : (train_rows + batch - 1) / batch;
    EXPECT_EQ(r.steps, o.epochs * per_epoch);
    EXPECT_GT(r.history.back().val_accuracy, 0.85);
  }
}

TEST(Train, RegressionReportsNoAccuracy) {
  const Dataset d = load_dataset("diabetes");
  Network net = Network::mlp(10, {16}, 1, Activation::relu);
  Sgd sgd({.lr = 1e-3f});
  TrainOptions o;
  o.epochs = 3;
  o.init = Init::automatic;
  const TrainResult r = train(net, d, sgd, o);
  EXPECT_EQ(r.loss, Loss::mse);
  EXPECT_TRUE(std::isnan(r.history.back().val_accuracy));
  EXPECT_TRUE(std::isfinite(r.history.back().val_loss));
}

TEST(Train, BinaryCrossEntropyOnTwoClasses) {
  const Dataset d = load_dataset("breast_cancer");
  Network net = Network::mlp(30, {8}, 1, Activation::relu);
  Sgd sgd({.lr = 0.05f});
  TrainOptions o;
  o.epochs = 10;
  o.loss = Loss::bce_with_logits;
  o.init = Init::automatic;
  const TrainResult r = train(net, d, sgd, o);
  EXPECT_GT(r.history.back().val_accuracy, 0.9);
}

// Probabilities only: a regression set's targets (diabetes: 25 to 346) had trained to a
// negative loss with a "validation accuracy" of 1.
TEST(Train, BinaryCrossEntropyRefusesTargetsOutsideZeroToOne) {
  Network net = Network::mlp(2, {4}, 1, Activation::relu);
  Dataset d;
  d.name = "soft";
  d.task = Task::regression;
  d.features = Matrix(4, 2);
  d.values = Matrix(4, 1);
  const float targets[] = {0.0f, 0.25f, 1.0f, 0.5f};
  for (std::size_t i = 0; i < 4; ++i) d.values(i, 0) = targets[i];
  Sgd sgd({.lr = 0.05f});
  TrainOptions o;
  o.epochs = 1;
  o.loss = Loss::bce_with_logits;
  o.validation_fraction = 0.0;
  EXPECT_NO_THROW(train(net, d, sgd, o));  // soft labels in [0, 1] are fine
  for (const float bad : {1.5f, -0.25f}) {
    d.values(2, 0) = bad;
    const std::string message = test::error_message([&] { train(net, d, sgd, o); });
    EXPECT_NE(message.find("bce_with_logits needs targets in [0, 1]"), std::string::npos)
        << message;
    EXPECT_NE(message.find("\"soft\": target 0 of row 2 is"), std::string::npos) << message;
  }
  // With a validation split, the row is still the data's own: the whole set is checked before
  // the shuffled split (row 2 had been reported as row 0 of the validation data).
  o.validation_fraction = 0.5;
  const std::string split = test::error_message([&] { train(net, d, sgd, o); });
  EXPECT_NE(split.find("training data \"soft\": target 0 of row 2 is"), std::string::npos) << split;
}

// A given standardisation (a saved model's) is applied as it is, not fitted again.
TEST(Train, UsesAGivenStandardizationInsteadOfFittingOne) {
  const Dataset d = load_dataset("iris");
  Network net = Network::mlp(4, {8}, 3, Activation::relu);
  Sgd sgd({.lr = 0.05f});
  TrainOptions o;
  o.epochs = 1;
  o.init = Init::automatic;
  o.standardization = Standardization{{1.0f, 2.0f, 3.0f, 4.0f}, {0.5f, 0.25f, 2.0f, 1.0f}};
  train(net, d, sgd, o);
  EXPECT_EQ(net.standardization().mean, o.standardization->mean);
  EXPECT_EQ(net.standardization().stddev, o.standardization->stddev);
  o.standardization = Standardization{};  // empty: raw inputs, whatever standardize says
  train(net, d, sgd, o);
  EXPECT_TRUE(net.standardization().empty());
  o.standardization = Standardization{{1.0f}, {1.0f}};
  EXPECT_NE(test::error_message([&] {
              train(net, d, sgd, o);
            }).find("the given standardisation is for 1 features, \"iris\" has 4"),
            std::string::npos);
  o.standardization = Standardization{{0, 0, 0, 0}, {1, 0, 1, 1}};  // a zero spread
  EXPECT_NE(test::error_message([&] { train(net, d, sgd, o); }), "no error");
}

// The memory the library reads as left, for one test (DESCENT_TEST_AVAILABLE_MEMORY), unset
// again however the test ends.
class AvailableMemory {
 public:
  explicit AvailableMemory(const char* bytes) { set(bytes); }
  ~AvailableMemory() { ::unsetenv("DESCENT_TEST_AVAILABLE_MEMORY"); }
  void set(const char* bytes) { ::setenv("DESCENT_TEST_AVAILABLE_MEMORY", bytes, 1); }
};

// A network whose parameters fit but whose training does not (its gradients per shard, the
// copies of its parameters) is refused before it is initialised -- minutes for a few GB --
// and is left as it was.
TEST(Train, ANetworkTooLargeToTrainIsRefusedBeforeItIsInitialised) {
  const Dataset d = make_synthetic({.rows = 64, .features = 100, .classes = 2, .seed = 1});
  // 100 -> 50000 -> 2: 5,150,002 parameters, 20.6 MB a copy.
  Network net = Network::mlp(100, {50000}, 2, Activation::relu);
  Sgd sgd({.lr = 0.01f});
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = 32;
  o.init = Init::kaiming_normal;
  // 30 MB past the 128 MiB kept free: each 20.6 MB block fits, two more copies do not.
  AvailableMemory memory("164217728");
  const std::string refused = test::error_message([&] { train(net, d, sgd, o); });
  EXPECT_NE(refused.find("out of memory: training this network of 5150002 parameters (20 MiB "
                         "each copy) at batch 32 needs at least"),
            std::string::npos)
      << refused;
  EXPECT_NE(refused.find("use a smaller network or batch"), std::string::npos) << refused;
  // prepare_training (lr_find's recipe) refuses it the same way.
  EXPECT_NE(test::error_message([&] {
              prepare_training(net, d, o);
            }).find("out of memory: training this network of 5150002 parameters"),
            std::string::npos);
  // Not initialised, not standardised: as it was.
  EXPECT_TRUE(std::all_of(net.parameters().begin(), net.parameters().end(),
                          [](float v) { return v == 0.0f; }));
  EXPECT_TRUE(net.standardization().empty());
  // A bad option is named before the memory is counted.
  TrainOptions bad = o;
  bad.epochs = 0;
  EXPECT_EQ(test::error_message([&] { train(net, d, sgd, bad); }), "epochs must be at least 1");
  // The same with room for it trains (the refusal was the memory's).
  memory.set("1000000000");
  EXPECT_EQ(test::error_message([&] { train(net, d, sgd, o); }), "no error");
  o.init.reset();
  Trainer trainer(net, sgd, Loss::cross_entropy, o);
  EXPECT_EQ(test::error_message([&] { trainer.fit(d, nullptr); }), "no error");
  // Back to 30 MB: a new trainer, which would allocate its shards' gradients, is refused; the
  // one that holds them already needs only fit's 20.6 MB copy, and is not.
  memory.set("164217728");
  Trainer fresh(net, sgd, Loss::cross_entropy, o);
  EXPECT_NE(test::error_message([&] { fresh.fit(d, nullptr); }).find("out of memory"),
            std::string::npos);
  EXPECT_EQ(test::error_message([&] { trainer.fit(d, nullptr); }), "no error");
}

// The copy of the data that training makes (the split, or the training set alone) is refused
// with the data's name where it would not fit, before anything is initialised.
TEST(Train, DataTooLargeToCopyIsRefusedNamingIt) {
  const Dataset d = make_synthetic({.rows = 20000, .features = 784, .classes = 10, .seed = 1});
  Network net = Network::mlp(784, {4}, 10, Activation::relu);
  Sgd sgd({.lr = 0.01f});
  TrainOptions o;
  o.epochs = 1;
  o.init = Init::kaiming_normal;
  for (const double fraction : {0.0, 0.2}) {
    o.validation_fraction = fraction;
    AvailableMemory memory("176160768");  // 128 + 40 MiB: less than the 62.8 MB copy
    const std::string refused = test::error_message([&] { train(net, d, sgd, o); });
    EXPECT_NE(refused.find("\"synthetic:rows=20000,features=784,classes=10,seed=1\": out of "
                           "memory for the copy of its 20000 rows that training makes"),
              std::string::npos)
        << refused;
    EXPECT_TRUE(std::all_of(net.parameters().begin(), net.parameters().end(),
                            [](float v) { return v == 0.0f; }));
  }
  EXPECT_EQ(test::error_message([&] { train(net, d, sgd, o); }), "no error");
}

// The optimizer's state counts too: Adam's two buffers are two more copies of the parameters.
TEST(Train, TheOptimizersStateIsCountedAgainstTheMemoryLeft) {
  // 100 -> 50000 -> 2: 5,150,002 parameters, 19.6 MiB a copy.
  Network net = Network::mlp(100, {50000}, 2, Activation::relu);
  Sgd sgd({.lr = 0.01f});
  auto adam = make_optimizer("adam");
  // MiB in "needs at least N MiB more", where nothing is left beyond the 128 MiB kept free.
  AvailableMemory memory("134217728");
  auto needed_mib = [&](Optimizer& optimizer) {
    Trainer trainer(net, optimizer, Loss::cross_entropy);
    const std::string message = test::error_message([&] { trainer.check_memory(32); });
    const auto at = message.find("needs at least ");
    EXPECT_NE(at, std::string::npos) << message;
    EXPECT_NE(message.find("MiB more for its gradients, workspaces, optimizer state"),
              std::string::npos)
        << message;
    return at == std::string::npos ? 0.0 : std::stod(message.substr(at + 15));
  };
  const double plain = needed_mib(sgd), with_adam = needed_mib(*adam);
  EXPECT_NEAR(with_adam - plain, 2 * 19.65, 1.0) << plain << " " << with_adam;
  // Room for SGD's needs and one copy more: SGD trains, Adam is refused.
  const std::string room =
      std::to_string(134217728 + static_cast<long long>((plain + 20) * 1048576));
  memory.set(room.c_str());
  Trainer with_sgd(net, sgd, Loss::cross_entropy);
  EXPECT_EQ(test::error_message([&] { with_sgd.check_memory(32); }), "no error");
  Trainer refused(net, *adam, Loss::cross_entropy);
  EXPECT_NE(test::error_message([&] { refused.check_memory(32); }).find("out of memory"),
            std::string::npos);
  // Once its state is there, it is not counted again.
  adam->prepare(net.parameter_count());
  EXPECT_EQ(test::error_message([&] { refused.check_memory(32); }), "no error");
}

// A batch whose loss or gradient is not finite changes no parameter (fit() refuses such data
// up front; train_step() is handed batches one at a time).
TEST(Trainer, AStepWhoseLossOrGradientIsNotFiniteLeavesTheParameters) {
  Network net = Network::mlp(3, {4}, 2);
  net.initialize(Init::kaiming_uniform, 5);
  Sgd sgd({.lr = 0.1f});
  Trainer trainer(net, sgd, Loss::cross_entropy);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  Matrix x(4, 3);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 3; ++j) x(i, j) = 0.1f * static_cast<float>(i + j);
  const std::vector<std::uint32_t> labels{0, 1, 1, 0};
  x(1, 1) = std::numeric_limits<float>::quiet_NaN();
  StepRecord r = trainer.train_step(x.view(), Targets{labels, {}});
  EXPECT_FALSE(r.updated);
  EXPECT_TRUE(std::isnan(r.loss));
  EXPECT_EQ(r.step, 0u);
  EXPECT_EQ(std::vector<float>(net.parameters().begin(), net.parameters().end()), before);
  x(1, 1) = 3e38f;  // finite, but the products overflow
  const std::vector<std::size_t> rows{1, 2};
  r = trainer.train_step(x.view(), Targets{labels, {}}, rows);
  EXPECT_FALSE(r.updated);
  EXPECT_EQ(std::vector<float>(net.parameters().begin(), net.parameters().end()), before);
  // A sound batch is applied and counted.
  x(1, 1) = 0.5f;
  r = trainer.train_step(x.view(), Targets{labels, {}});
  EXPECT_TRUE(r.updated);
  EXPECT_EQ(r.step, 1u);
  EXPECT_NE(std::vector<float>(net.parameters().begin(), net.parameters().end()), before);
}

TEST(Trainer, CutsLargeBatchesIntoShardsBySizeNotThreads) {
  Network net = Network::mlp(784, {256, 256}, 10);
  Sgd sgd;
  Trainer trainer(net, sgd, Loss::cross_entropy);
  EXPECT_LT(trainer.shard_rows(128), 128u);  // more than one shard
  std::vector<std::size_t> rule;
  for (std::size_t threads : {1, 2, 3, 8}) {
    set_threads(threads);
    rule.push_back(trainer.shard_rows(128));
  }
  set_threads(0);
  EXPECT_EQ(rule, std::vector<std::size_t>(4, rule.front()));
  EXPECT_EQ(trainer.shard_rows(1), 1u);
  Network small = Network::mlp(4, {8}, 3);
  Trainer small_trainer(small, sgd, Loss::cross_entropy);
  EXPECT_EQ(small_trainer.shard_rows(64), 64u);  // too little work to split
}

// A shard larger than pass_rows() runs forward and backward in several passes, its gradient
// accumulated (backward with accumulate = true): the step's mean gradient and loss must be
// those of one pass over the whole batch.
TEST(Trainer, LargeShardsRunInPassesWithTheOnePassGradient) {
  const Dataset d = make_synthetic({.rows = 4400, .features = 784, .classes = 10, .seed = 2});
  Network net = Network::mlp(784, {256, 256}, 10, Activation::relu);
  net.initialize(Init::automatic, 3);
  Sgd sgd({.lr = 0.1f});
  Trainer trainer(net, sgd, Loss::cross_entropy);
  ASSERT_GT(trainer.shard_rows(d.rows()), trainer.pass_rows());  // two passes or more

  Workspace ws(net, d.rows());
  const ConstMatrixView out = net.forward(d.features.view(), ws);
  const MatrixView grad_out = ws.output_gradient(d.rows());
  const double expected_loss = loss_sum(Loss::cross_entropy, out, d.targets(),
                                        1.0f / static_cast<float>(d.rows()), &grad_out) /
                               static_cast<double>(d.rows());
  std::vector<float> expected(net.parameter_count());
  net.backward(d.features.view(), ws, expected);

  const StepRecord step = trainer.train_step(d.features.view(), d.targets());
  EXPECT_NEAR(step.loss, expected_loss, 1e-6 * expected_loss);
  const auto got = net.gradients();
  double max_abs = 0.0, max_diff = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    max_abs = std::max(max_abs, static_cast<double>(std::abs(expected[i])));
    max_diff = std::max(max_diff, static_cast<double>(std::abs(expected[i] - got[i])));
  }
  ASSERT_GT(max_abs, 0.0);
  EXPECT_LT(max_diff, 1e-4 * max_abs);
}

TEST(Trainer, TrainStepLowersTheLossOnAFixedBatch) {
  Network net = Network::mlp(3, {5}, 2, Activation::tanh);
  net.initialize(Init::automatic, 1);
  Sgd sgd({.lr = 0.5f});
  Trainer trainer(net, sgd, Loss::cross_entropy);
  Matrix x(4, 3);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 5) - 2.0f;
  const std::uint32_t labels[] = {0, 1, 1, 0};
  const double first = trainer.train_step(x.view(), {labels, {}}).loss;
  double last = first;
  for (int i = 0; i < 20; ++i) last = trainer.train_step(x.view(), {labels, {}}).loss;
  EXPECT_LT(last, first * 0.5);
  const std::uint32_t bad[] = {0, 1, 2, 0};
  EXPECT_THROW(trainer.train_step(x.view(), {bad, {}}), Error);
  Matrix wrong(4, 2);
  EXPECT_THROW(trainer.train_step(wrong.view(), {labels, {}}), Error);
}

// A step on selected rows (the shards gather them) must be the step on those rows gathered
// first, to the bit: for classification labels and regression values, batches of one and of
// several shards, rows repeated and out of order, on 1 and 2 threads.
TEST(Trainer, AStepOnSelectedRowsIsTheStepOnThoseRowsGathered) {
  const Dataset d = make_synthetic({.rows = 700, .features = 784, .classes = 10, .seed = 5});
  Matrix values(d.rows(), 10);
  for (std::size_t i = 0; i < values.size(); ++i)
    values.data()[i] = static_cast<float>(i % 7) * 0.25f - 0.5f;
  for (const Loss loss : {Loss::cross_entropy, Loss::mse}) {
    for (const std::size_t batch : {1, 7, 160, 301}) {
      for (const std::size_t threads : {1, 2}) {
        set_threads(threads);
        std::vector<std::size_t> rows(batch);
        for (std::size_t i = 0; i < batch; ++i) rows[i] = (i * 389 + 11) % d.rows();
        if (batch > 2) rows[2] = rows[0];  // a row twice
        const Targets all = loss == Loss::mse ? Targets{{}, values.view()} : d.targets();
        Matrix bx(batch, 784), bv(batch, 10);
        std::vector<std::uint32_t> bl(batch);
        for (std::size_t i = 0; i < batch; ++i) {
          std::memcpy(bx.row(i), d.features.row(rows[i]), 784 * sizeof(float));
          std::memcpy(bv.row(i), values.row(rows[i]), 10 * sizeof(float));
          bl[i] = d.labels[rows[i]];
        }
        const Targets gathered = loss == Loss::mse ? Targets{{}, bv.view()} : Targets{bl, {}};
        Network a = Network::mlp(784, {64, 32}, 10), b = Network::mlp(784, {64, 32}, 10);
        a.initialize(Init::automatic, 9);
        b.set_parameters(a.parameters());
        Sgd sa({.lr = 0.05f, .momentum = 0.9f}), sb({.lr = 0.05f, .momentum = 0.9f});
        Trainer ta(a, sa, loss), tb(b, sb, loss);
        for (int step = 0; step < 3; ++step) {
          const StepRecord ra = ta.train_step(d.features.view(), all, rows);
          const StepRecord rb = tb.train_step(bx.view(), gathered);
          EXPECT_EQ(ra.rows, batch);
          EXPECT_EQ(ra.loss, rb.loss);
          EXPECT_EQ(ra.grad_norm, rb.grad_norm);
        }
        EXPECT_EQ(0, std::memcmp(a.parameters().data(), b.parameters().data(),
                                 a.parameter_count() * sizeof(float)))
            << "batch " << batch << ", " << threads << " threads";
      }
    }
  }
  set_threads(0);
}

TEST(Trainer, AStepOnSelectedRowsRejectsAnEmptyOrOutOfRangeSelection) {
  const Dataset d = make_synthetic({.rows = 50, .features = 6, .classes = 3, .seed = 1});
  Network net = Network::mlp(6, {4}, 3);
  net.initialize(Init::automatic, 1);
  Sgd sgd;
  Trainer trainer(net, sgd, Loss::cross_entropy);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  const std::vector<std::size_t> past = {0, 49, 50};
  const std::string past_error =
      test::error_message([&] { trainer.train_step(d.features.view(), d.targets(), past); });
  EXPECT_NE(past_error.find("row 50"), std::string::npos) << past_error;
  EXPECT_THROW(trainer.train_step(d.features.view(), d.targets(), std::span<const std::size_t>{}),
               Error);
  EXPECT_TRUE(std::equal(before.begin(), before.end(), net.parameters().begin()));
}

// Views a step cannot read (no data, rows that overlap) and a network replaced under the
// Trainer after its first step are errors, with or without a row selection: gathering rows
// into buffers made for the old network's width wrote past them.
TEST(Trainer, AStepRefusesViewsItCannotReadAndANetworkReplacedUnderIt) {
  const Dataset d = make_synthetic({.rows = 50, .features = 6, .classes = 3, .seed = 1});
  Network net = Network::mlp(6, {4}, 3);
  net.initialize(Init::automatic, 1);
  Sgd sgd;
  Trainer trainer(net, sgd, Loss::cross_entropy);
  const std::vector<std::size_t> rows = {0, 3, 5};
  const ConstMatrixView no_data{nullptr, 50, 6, 6}, overlapping{d.features.data(), 50, 6, 1};
  for (const ConstMatrixView& x : {no_data, overlapping}) {
    const std::string with_rows =
        test::error_message([&] { trainer.train_step(x, d.targets(), rows); });
    EXPECT_NE(with_rows.find("not a matrix"), std::string::npos) << with_rows;
    EXPECT_THROW(trainer.train_step(x, d.targets()), Error);
  }
  trainer.train_step(d.features.view(), d.targets(), rows);

  const Dataset wide = make_synthetic({.rows = 50, .features = 64, .classes = 3, .seed = 2});
  net = Network::mlp(64, {4}, 3);
  net.initialize(Init::automatic, 1);
  for (bool select : {true, false}) {
    const std::string replaced = test::error_message([&] {
      if (select)
        trainer.train_step(wide.features.view(), wide.targets(), rows);
      else
        trainer.train_step(wide.features.view(), wide.targets());
    });
    EXPECT_NE(replaced.find("network of other layer sizes"), std::string::npos) << replaced;
  }

  // Regression targets whose view has no data.
  Network reg = Network::mlp(6, {4}, 1);
  reg.initialize(Init::automatic, 1);
  Trainer mse(reg, sgd, Loss::mse);
  const Targets no_values{{}, ConstMatrixView{nullptr, 50, 1, 1}};
  for (bool select : {true, false}) {
    const std::string bad = test::error_message([&] {
      if (select)
        mse.train_step(d.features.view(), no_values, rows);
      else
        mse.train_step(d.features.view(), no_values);
    });
    EXPECT_NE(bad.find("target view"), std::string::npos) << bad;
  }
}

TEST(Trainer, BadLabelsAreRejectedBeforeAnyUpdate) {
  Dataset d = make_synthetic({.rows = 50, .features = 6, .classes = 3, .seed = 1});
  d.labels[37] = 3;  // past the network's 3 outputs
  Network net = Network::mlp(6, {4}, 3);
  net.initialize(Init::automatic, 1);
  Sgd sgd;
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  {
    // A step checks the labels of its own rows, naming the data set's row.
    Trainer trainer(net, sgd, Loss::cross_entropy);
    const std::vector<std::size_t> rows = {2, 37, 5};
    const std::string step_error =
        test::error_message([&] { trainer.train_step(d.features.view(), d.targets(), rows); });
    EXPECT_NE(step_error.find("label 3 in row 37"), std::string::npos) << step_error;
    EXPECT_THROW(trainer.train_step(d.features.view(), d.targets()), Error);
  }
  {
    // fit checks the whole data set before its first step, wherever the bad row would fall.
    TrainOptions o;
    o.batch_size = 8;
    o.epochs = 1;
    Trainer trainer(net, sgd, Loss::cross_entropy, o);
    const std::string fit_error = test::error_message([&] { trainer.fit(d, nullptr); });
    EXPECT_NE(fit_error.find("label 3 in row 37"), std::string::npos) << fit_error;
    EXPECT_EQ(0u, trainer.rows_computed());
  }
  EXPECT_TRUE(std::equal(before.begin(), before.end(), net.parameters().begin()));
}

TEST(Trainer, CallbacksStopTheRun) {
  const Dataset d = load_dataset("iris");
  Network net = Network::mlp(4, {4}, 3);
  Sgd sgd({.lr = 0.1f});
  TrainOptions o;
  o.epochs = 50;
  o.init = Init::automatic;
  Callbacks cb;
  cb.on_epoch = [](const EpochRecord& e) { return e.epoch < 3; };
  TrainResult r = train(net, d, sgd, o, cb);
  EXPECT_EQ(r.stop_reason, StopReason::callback);
  EXPECT_EQ(r.epochs, 3u);
  cb = {};
  cb.on_step = [](const StepRecord& s) { return s.step < 5; };
  r = train(net, d, sgd, o, cb);
  EXPECT_EQ(r.steps, 5u);
  EXPECT_EQ(r.stop_reason, StopReason::callback);
}

TEST(Trainer, RejectsHandBuiltDataWhosePartsDisagree) {
  Dataset d = load_dataset("iris");
  Network net = Network::mlp(4, {4}, 3);
  Sgd sgd;
  Trainer trainer(net, sgd, Loss::cross_entropy);
  Dataset short_labels = d;
  short_labels.labels.pop_back();
  EXPECT_THROW(trainer.fit(short_labels, nullptr), Error);
  EXPECT_THROW(trainer.evaluate(short_labels), Error);
  Dataset bad_label = d;
  bad_label.labels[7] = 3;  // classes is 3: labels are 0..2
  EXPECT_THROW(trainer.fit(bad_label, nullptr), Error);
  EXPECT_THROW(trainer.evaluate(bad_label), Error);
  // train() splits the data before fit() sees it: the parts are checked before that copy
  // (a short label or value vector was read past its end).
  TrainOptions o;
  o.epochs = 1;
  auto refuses = [](const std::function<void()>& f, const std::string& fragment) {
    const std::string message = test::error_message(f);
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  };
  refuses([&] { train(net, short_labels, sgd, o); }, "has 150 rows but 149 labels");
  Dataset regression = make_synthetic({.rows = 40, .features = 4, .classes = 3, .seed = 1});
  regression.task = Task::regression;
  regression.values = Matrix(10, 1);
  Network one_output = Network::mlp(4, {4}, 1);
  refuses([&] { train(one_output, regression, sgd, o); }, "has 40 rows but 10 rows of targets");
  refuses([&] { evaluate_model(one_output, Loss::mse, regression); },
          "has 40 rows but 10 rows of targets");
  const std::vector<std::size_t> rows = {0, 1};
  refuses([&] { (void)regression.subset(rows); }, "has 40 rows but 10 rows of targets");
  // A class the model does not know is named by its row, counted from 0 as elsewhere.
  Dataset unknown_class = make_synthetic({.rows = 40, .features = 4, .classes = 3, .seed = 1});
  unknown_class.labels[5] = 7;
  unknown_class.classes = 8;
  refuses([&] { evaluate_model(net, Loss::cross_entropy, unknown_class); },
          "row 5 has class 7, but the model knows classes 0..2 (rows count from 0)");
  // A NaN or infinite feature or target (possible only in code) is named, not a NaN loss.
  Dataset nan_feature = make_synthetic({.rows = 40, .features = 4, .classes = 3, .seed = 1});
  nan_feature.features(6, 2) = std::numeric_limits<float>::quiet_NaN();
  refuses([&] { evaluate_model(net, Loss::cross_entropy, nan_feature); },
          "feature 2 of row 6 is nan");
  Dataset inf_target = make_synthetic({.rows = 40, .features = 4, .classes = 3, .seed = 1});
  inf_target.task = Task::regression;
  inf_target.values = Matrix(40, 1);
  inf_target.values(39, 0) = std::numeric_limits<float>::infinity();
  refuses([&] { evaluate_model(one_output, Loss::mse, inf_target); }, "target 0 of row 39 is inf");
  // A validation fraction of NaN or below 0 is an error, not "no validation data".
  o.validation_fraction = std::numeric_limits<double>::quiet_NaN();
  refuses([&] { train(net, d, sgd, o); }, "validation fraction nan is invalid");
  o.validation_fraction = -0.1;
  refuses([&] { train(net, d, sgd, o); }, "validation fraction -0.1 is invalid");
  EXPECT_THROW(Trainer(net, sgd, static_cast<Loss>(9)), Error);
  // A NaN parameter set by hand: refused before the first step, named.
  Network nan_net = Network::mlp(4, {4}, 3);
  nan_net.initialize(Init::pytorch, 1);
  nan_net.parameters()[2] = std::numeric_limits<float>::quiet_NaN();
  Trainer nan_trainer(nan_net, sgd, Loss::cross_entropy);
  try {
    nan_trainer.fit(d, nullptr);
    ADD_FAILURE() << "trained with a NaN parameter";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 2 (layer 1) is nan"), std::string::npos)
        << e.what();
  }
  // Every row in class 2 of 3 is one class: nothing to learn, named as such.
  Dataset one_class = d;
  std::fill(one_class.labels.begin(), one_class.labels.end(), 2u);
  try {
    trainer.fit(one_class, nullptr);
    ADD_FAILURE() << "one class was trained on";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("every row has class 2"), std::string::npos) << e.what();
  }
}

// A NaN or infinite feature or target in data built by hand is named, with its row, before
// any training: not a "diverged, try a smaller learning rate", nor a NaN standardisation.
TEST(Trainer, NamesANonFiniteFeatureOrTargetBeforeTraining) {
  auto sgd = make_optimizer("sgd:lr=0.1");
  for (const bool standardize : {true, false}) {
    SCOPED_TRACE(standardize ? "standardised" : "raw");
    TrainOptions o;
    o.epochs = 1;
    o.standardize = standardize;
    Dataset d = make_synthetic({.rows = 40, .features = 4, .classes = 3, .seed = 1});
    d.name = "hand";
    d.features(17, 2) = std::numeric_limits<float>::quiet_NaN();
    Network net = Network::mlp(4, {4}, 3);
    const std::string feature = test::error_message([&] { train(net, d, *sgd, o); });
    EXPECT_NE(feature.find("data \"hand\": feature 2 of row 17 is nan"), std::string::npos)
        << feature;

    Dataset r = make_synthetic({.rows = 40, .features = 4, .classes = 3, .seed = 1});
    r.name = "reg";
    r.task = Task::regression;
    r.values = Matrix(40, 1);
    r.values(33, 0) = -std::numeric_limits<float>::infinity();
    Network one = Network::mlp(4, {4}, 1);
    const std::string target = test::error_message([&] { train(one, r, *sgd, o); });
    EXPECT_NE(target.find("data \"reg\": target 0 of row 33 is -inf"), std::string::npos) << target;
    // The same check in a Trainer's fit, on data already split.
    Trainer trainer(one, *sgd, Loss::mse, o);
    EXPECT_NE(test::error_message([&] { trainer.fit(r, nullptr); }).find("row 33"),
              std::string::npos);
  }
}

TEST(Trainer, RejectsDataThatDoesNotFitTheModel) {
  const Dataset d = load_dataset("iris");
  Sgd sgd;
  Network wrong_inputs = Network::mlp(5, {4}, 3);
  EXPECT_THROW(train(wrong_inputs, d, sgd, {}), Error);
  Network too_few_outputs = Network::mlp(4, {4}, 2);
  EXPECT_THROW(train(too_few_outputs, d, sgd, {}), Error);
  Network net = Network::mlp(4, {4}, 3);
  TrainOptions o;
  o.loss = Loss::mse;
  EXPECT_THROW(train(net, d, sgd, o), Error);
  o = {};
  o.epochs = 0;
  EXPECT_THROW(train(net, d, sgd, o), Error);
}

// A mean over no rows is no evaluation: an error, as evaluate_model gives, not a NaN loss.
TEST(Trainer, EvaluateRefusesDataWithNoRows) {
  Dataset empty;
  empty.name = "none";
  empty.features = Matrix(0, 4);
  empty.task = Task::classification;
  empty.classes = 3;
  Network net = Network::mlp(4, {4}, 3);
  Sgd sgd;
  Trainer trainer(net, sgd, Loss::cross_entropy);
  try {
    trainer.evaluate(empty);
    ADD_FAILURE() << "evaluate on no rows did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"none\" has no rows"), std::string::npos) << e.what();
  }
  EXPECT_THROW(evaluate_model(net, Loss::cross_entropy, empty), Error);
}

// The confusion matrix counts every row up to kMaxConfusionClasses classes; beyond, it is left
// out (65536 classes would be 4 billion counts), and the loss and accuracy are still there.
TEST(Trainer, EvaluateCountsAConfusionMatrixUpToItsLimit) {
  for (const std::size_t classes : {kMaxConfusionClasses, kMaxConfusionClasses + 1}) {
    const Dataset d = make_synthetic({.rows = 50, .features = 3, .classes = classes});
    Network net = Network::mlp(3, {}, classes);
    net.initialize(Init::automatic, 3);
    const ModelEvaluation e = evaluate_model(net, Loss::cross_entropy, d);
    EXPECT_EQ(e.rows, 50u);
    EXPECT_TRUE(std::isfinite(e.mean_loss));
    EXPECT_GE(e.accuracy, 0.0);
    if (classes > kMaxConfusionClasses) {
      EXPECT_TRUE(e.confusion.empty());
      continue;
    }
    ASSERT_EQ(e.confusion.size(), classes);
    std::size_t total = 0, right = 0;
    for (std::size_t i = 0; i < classes; ++i) {
      for (std::size_t j = 0; j < classes; ++j) total += e.confusion[i][j];
      right += e.confusion[i][i];
    }
    EXPECT_EQ(total, 50u);
    EXPECT_DOUBLE_EQ(e.accuracy, static_cast<double>(right) / 50.0);
  }
}

// A user's optimizer instance goes straight to the trainer.
class HalfStep final : public Optimizer {
 public:
  HalfStep() : Optimizer(0.1f) {}
  void step(std::span<float> p, std::span<const float> g) override {
    for (std::size_t i = 0; i < p.size(); ++i) p[i] -= 0.5f * lr() * g[i];
    ++calls;
  }
  std::string_view name() const override { return "half"; }
  int calls = 0;
};

TEST(Trainer, TakesAUsersOwnOptimizer) {
  const Dataset d = load_dataset("iris");
  Network net = Network::mlp(4, {4}, 3);
  HalfStep opt;
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 40;
  o.init = Init::automatic;
  const TrainResult r = train(net, d, opt, o);
  EXPECT_EQ(opt.calls, static_cast<int>(r.steps));
  EXPECT_EQ(r.steps, 6u);
}

}  // namespace
}  // namespace descent

namespace descent {
namespace {

TEST(Trainer, ProfileSplitsEveryStepIntoPhasesAndChangesNoResult) {
  const Dataset d = load_dataset("digits");
  auto run = [&](bool profile, std::size_t batch, double clip_norm) {
    Network net = Network::mlp(d.feature_count(), {32}, d.classes, Activation::relu);
    Sgd sgd({.lr = 0.05f, .momentum = 0.9f});
    TrainOptions o;
    o.epochs = 2;
    o.batch_size = batch;
    o.seed = 5;
    o.init = Init::automatic;
    o.clip_norm = clip_norm;
    o.profile = profile;
    const TrainResult r = train(net, d, sgd, o);
    const std::vector<float> params(net.parameters().begin(), net.parameters().end());
    return std::pair(r, params);
  };
  for (std::size_t batch : {16, 0}) {
    const auto [plain, plain_params] = run(false, batch, 0.5);
    const auto [timed, timed_params] = run(true, batch, 0.5);
    EXPECT_EQ(plain.profile.steps, 0u);
    EXPECT_EQ(plain.profile.total(), 0.0);
    EXPECT_EQ(timed_params, plain_params) << "profiling changed the parameters";
    const StepProfile& p = timed.profile;
    EXPECT_EQ(p.steps, timed.steps);
    EXPECT_GT(p.forward, 0.0);
    EXPECT_GT(p.backward, 0.0);
    EXPECT_GT(p.reduce, 0.0);  // the norm and clipping
    EXPECT_GT(p.optimizer, 0.0);
    // The full batch trains on the data in place: nothing to gather.
    if (batch == 0) {
      EXPECT_EQ(p.data, 0.0);
    } else {
      EXPECT_GT(p.data, 0.0);
    }
    EXPECT_LE(p.total(), timed.seconds);
  }
}

#if defined(__x86_64__) || defined(_M_X64)
// A linear model with a subnormal weight, w = 1e-39, inputs x = 1e20 and targets 0. Flushed,
// w reads as 0 and the weight's gradient is 0; not flushed, w x = 1e-19 and the gradient
// 2 w x^2 = 20 is a normal number, whichever thread computed it. With shards of one row on 4
// threads, a shard computed without the caller's setting shows up in the sum.
TEST(Train, FlushDenormalsAppliesToEveryThreadOfAStep) {
  constexpr std::size_t kRows = 8;
  Matrix x(kRows, 1), y(kRows, 1);
  for (std::size_t i = 0; i < kRows; ++i) {
    x(i, 0) = 1e20f;
    y(i, 0) = 0.0f;
  }
  const Targets targets{{}, y.view()};
  // The unflushed step runs first on each thread count, so the threads already exist, with
  // the default settings, when the flushed one starts.
  std::vector<float> weight_grads[2];
  for (std::size_t threads : {1, 4}) {
    set_threads(threads);
    for (bool flush : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "flush " << flush << ", threads " << threads);
      Network net = Network::mlp(1, {}, 1, Activation::identity);
      const DenseLayer& layer = net.layers()[0];
      net.parameters()[layer.weight_offset] = 1e-39f;
      net.parameters()[layer.bias_offset] = 0.0f;
      Sgd sgd({.lr = 1e-3});
      TrainOptions o;
      o.flush_denormals = flush;
      o.shard_rows = 1;
      Trainer trainer(net, sgd, Loss::mse, o);
      EXPECT_TRUE(std::isfinite(trainer.train_step(x.view(), targets).loss));
      const float g = net.gradients()[layer.weight_offset];
      if (flush) {
        EXPECT_EQ(g, 0.0f);
      } else {
        EXPECT_NEAR(g, 20.0f, 1e-3f);
      }
      weight_grads[flush ? 1 : 0].push_back(g);
    }
  }
  for (const std::vector<float>& grads : weight_grads)
    EXPECT_EQ(std::memcmp(&grads[0], &grads[1], sizeof(float)), 0);
  set_threads(0);
}
#endif

}  // namespace
}  // namespace descent
