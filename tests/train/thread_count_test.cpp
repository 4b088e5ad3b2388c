// The guarantee of the parallel mini-batch gradient: the same binary, ISA, seed and data give
// bit-identical saved parameters and history (every column but the timing ones) for any thread
// count. Two models -- the bundled digits MLP and an MNIST-shaped 784-256-256-10 MLP on
// synthetic data -- at batch 1, 7, 128 and the full batch, on 1, 2, 3, 4 and 8 threads (more
// than this machine may have cores: oneTBB is allowed to exceed them, so they really run).

#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "descent/data.hpp"
#include "descent/io.hpp"
#include "descent/optimizer.hpp"
#include "descent/parallel.hpp"
#include "descent/train.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

constexpr std::size_t kThreadCounts[] = {1, 2, 3, 4, 8};

struct Outcome {
  std::vector<char> model;           // the saved model file's bytes
  std::string history;               // the history CSV without its timing columns
  std::vector<std::uint64_t> steps;  // every step's loss and gradient norm, as bits
  std::size_t wrong_threads = 0;     // steps that saw descent::threads() != the request
};

// The history CSV with the columns "seconds" and "samples_per_second" removed.
std::string without_timing(const std::string& csv) {
  std::istringstream in(csv);
  std::string line;
  std::vector<bool> keep;
  std::string out;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream row(line);
    while (std::getline(row, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    if (keep.empty()) {
      for (const auto& name : cells)
        keep.push_back(name != "seconds" && name != "samples_per_second");
    }
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (i >= keep.size() || keep[i]) out += cells[i] + ",";
    out += "\n";
  }
  return out;
}

struct Case {
  const char* data;
  std::vector<std::size_t> hidden;
  const char* optimizer;
  std::size_t batch;  // 0: the full training set
  std::size_t epochs;
  std::size_t max_steps;
  double clip_norm;
};

Outcome run(const Dataset& data, const Case& c, std::size_t threads) {
  const std::size_t classes = data.classes;
  Network net = Network::mlp(data.feature_count(), c.hidden, classes, Activation::relu);
  auto optimizer = make_optimizer(c.optimizer);
  TrainOptions o;
  o.batch_size = c.batch;
  o.epochs = c.epochs;
  o.stop.max_steps = c.max_steps;
  o.threads = threads;
  o.seed = 5;
  o.validation_fraction = 0.2;
  o.init = Init::automatic;
  o.clip_norm = c.clip_norm;
  Outcome out;
  Callbacks cb;
  cb.on_step = [&](const StepRecord& s) {
    if (descent::threads() != threads) ++out.wrong_threads;
    std::uint64_t bits[2];
    std::memcpy(&bits[0], &s.loss, sizeof(double));
    std::memcpy(&bits[1], &s.grad_norm, sizeof(double));
    out.steps.insert(out.steps.end(), bits, bits + 2);
    return true;
  };
  const TrainResult r = train(net, data, *optimizer, o, cb);
  EXPECT_EQ(r.threads, threads);
  out.model = model_bytes(net, Loss::cross_entropy);
  test::TempDir dir;
  write_history_csv(dir / "history.csv", r.history);
  out.history = without_timing(test::read_text(dir / "history.csv"));
  return out;
}

void expect_same_for_every_thread_count(const Dataset& data, const Case& c) {
  Outcome reference;
  for (std::size_t threads : kThreadCounts) {
    SCOPED_TRACE(testing::Message()
                 << data.name << ", batch " << c.batch << ", " << threads << " threads");
    Outcome o = run(data, c, threads);
    EXPECT_EQ(o.wrong_threads, 0u);
    ASSERT_FALSE(o.steps.empty());
    if (threads == kThreadCounts[0]) {
      reference = std::move(o);
      continue;
    }
    EXPECT_EQ(o.model, reference.model);  // bytes, not a tolerance
    EXPECT_EQ(o.history, reference.history);
    EXPECT_EQ(o.steps, reference.steps);
  }
}

TEST(ThreadCount, DigitsModelIsBitIdenticalOnAnyThreadCount) {
  const Dataset digits = load_dataset("digits");
  for (std::size_t batch : {1, 7, 128, 0}) {
    const std::size_t epochs = batch == 0 ? 6 : batch == 1 ? 1 : 3;
    expect_same_for_every_thread_count(
        digits, {"digits", {128, 64}, "nesterov:lr=0.01", batch, epochs, 0, 0.0});
  }
}

TEST(ThreadCount, MnistShapedModelIsBitIdenticalOnAnyThreadCount) {
  const Dataset data = make_synthetic({.rows = 2000, .features = 784, .classes = 10, .seed = 3});
  // Batch 128 must be cut into shards (the parallel path), whatever the thread count, and
  // batch 60 must be one shard whose products and update are split across the threads (the
  // other parallel path), on every ISA: only a batch of a few rows is stepped serially.
  {
    Network net = Network::mlp(784, {256, 256}, 10, Activation::relu);
    auto sgd = make_optimizer("sgd");
    Trainer trainer(net, *sgd, Loss::cross_entropy);
    for (std::size_t threads : kThreadCounts) {
      const ThreadScope scope(threads);
      EXPECT_GT((128 + trainer.shard_rows(128) - 1) / trainer.shard_rows(128), 1u);
      EXPECT_GT((1600 + trainer.shard_rows(1600) - 1) / trainer.shard_rows(1600), 1u);
      EXPECT_GE(trainer.shard_rows(60), 60u);
      EXPECT_FALSE(trainer.runs_serially(60));
      EXPECT_TRUE(trainer.runs_serially(1));
    }
  }
  for (std::size_t batch : {1, 7, 60, 128, 0}) {
    // Adam with clipping: the optimizer's and the norm's parallel passes are covered too.
    expect_same_for_every_thread_count(data, {"synthetic",
                                              {256, 256},
                                              "adam:lr=1e-3",
                                              batch,
                                              2,
                                              batch == 0 ? std::size_t{3} : std::size_t{12},
                                              1.0});
  }
}

}  // namespace
}  // namespace descent
