// Data-parallel training across ranks, with the ranks as threads of this process
// (make_local_group): exact mode gives the single process's parameters and history bit for
// bit at any rank count, the work is really split, fast mode stays close and keeps the
// replicas equal, and the ranks agree on stops and refuse mismatched runs. The same under
// mpirun, through the CLI, is tests/mpi/run_mpi.cmake.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "descent/data.hpp"
#include "descent/distributed.hpp"
#include "descent/error.hpp"
#include "descent/optimizer.hpp"
#include "descent/parallel.hpp"
#include "descent/train.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

struct RunSetup {
  std::size_t batch = 32;
  std::size_t shard_rows = 0;
  std::size_t epochs = 3;
  std::vector<std::size_t> hidden = {24, 16};
  const char* optimizer = "adam:lr=0.01";
  double clip_norm = 0.0;
};

struct Outcome {
  std::vector<float> parameters;
  std::vector<std::uint64_t> history;  // every epoch's losses, accuracy and norms, as bits
  TrainResult result;
  std::string error;                  // the descent::Error a rank threw, if any
  std::vector<char> optimizer_state;  // after the error
};

std::uint64_t bits(double v) {
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

const Dataset& data() {
  static const Dataset d = make_synthetic("synthetic:rows=230,features=20,classes=4,seed=3");
  return d;
}

// One rank's (or the single process's) run; `adjust` may change the options per rank.
Outcome train_one(const RunSetup& setup, std::shared_ptr<Communicator> comm, Reduction reduction,
                  const std::function<void(TrainOptions&, Callbacks&, Network&)>& adjust = {}) {
  Network net = Network::mlp(20, setup.hidden, 4, Activation::relu);
  auto optimizer = make_optimizer(setup.optimizer);
  TrainOptions o;
  o.batch_size = setup.batch;
  o.shard_rows = setup.shard_rows;
  o.epochs = setup.epochs;
  o.seed = 11;
  o.init = Init::automatic;
  o.clip_norm = setup.clip_norm;
  o.distributed.communicator = std::move(comm);
  o.distributed.reduction = reduction;
  Callbacks cb;
  if (adjust) adjust(o, cb, net);
  Outcome out;
  try {
    out.result = train(net, data(), *optimizer, o, cb);
  } catch (const Error& e) {
    out.error = e.what();
    out.parameters.assign(net.parameters().begin(), net.parameters().end());
    out.optimizer_state = optimizer->save_state();
    return out;
  }
  const auto p = net.parameters();
  out.parameters.assign(p.begin(), p.end());
  for (const EpochRecord& r : out.result.history) {
    for (double v : {r.train_loss, r.val_loss, r.val_accuracy, r.grad_norm, r.lr})
      out.history.push_back(bits(v));
    for (double v : r.layer_grad_norms) out.history.push_back(bits(v));
  }
  return out;
}

// Every rank of a local group of n on its own thread.
std::vector<Outcome> train_ranks(
    const RunSetup& setup, std::size_t n, Reduction reduction,
    const std::function<void(std::size_t, TrainOptions&, Callbacks&, Network&)>& adjust = {}) {
  auto group = make_local_group(n);
  std::vector<Outcome> outcomes(n);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      outcomes[r] =
          train_one(setup, group[r], reduction, [&](TrainOptions& o, Callbacks& cb, Network& net) {
            if (adjust) adjust(r, o, cb, net);
          });
    });
  }
  for (auto& t : threads) t.join();
  return outcomes;
}

std::size_t training_rows() {
  return data().rows() - static_cast<std::size_t>(std::llround(0.2 * data().rows()));
}

TEST(Distributed, ALocalGroupHasAtMostOneRankPerThreadAllowed) {
  EXPECT_THROW((void)make_local_group(0), Error);
  EXPECT_NE(test::error_message([] {
              (void)make_local_group(kMaxThreads + 1);
            }).find("make_local_group: 1025 ranks: at most 1024"),
            std::string::npos);
  EXPECT_EQ(make_local_group(3).size(), 3u);
}

// A rank's communicator used by two threads at once: the second is refused (it used to
// publish over the first one's input and let the other ranks through the barrier early).
// Whichever of the two gets in first waits for rank 1; the other must have been refused.
TEST(Distributed, ARankEnteredByTwoThreadsAtOnceRefusesTheSecond) {
  auto group = make_local_group(2);
  std::atomic<int> refused{0}, done{0};
  std::string message;
  std::mutex message_mutex;
  auto rank0 = [&](std::uint64_t bits) {
    try {
      EXPECT_EQ(group[0]->allreduce_or(bits), bits | 4u);
      ++done;
    } catch (const Error& e) {
      const std::lock_guard lock(message_mutex);
      message = e.what();
      ++refused;
    }
  };
  std::thread first(rank0, 1u), second(rank0, 2u);
  // Bounded: should the guard ever go, the test fails instead of waiting for ctest's timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (refused.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_EQ(group[1]->allreduce_or(4u) & 4u, 4u);
  first.join();
  second.join();
  EXPECT_EQ(refused.load(), 1);
  EXPECT_EQ(done.load(), 1);
  EXPECT_NE(message.find("rank 0 of the local group is in a collective on another thread"),
            std::string::npos)
      << message;
  // The group goes on afterwards.
  std::thread again([&] { EXPECT_EQ(group[0]->allreduce_or(8u), 24u); });
  EXPECT_EQ(group[1]->allreduce_or(16u), 24u);
  again.join();
}

TEST(Distributed, ReductionNames) {
  EXPECT_EQ(parse_reduction("exact"), Reduction::exact);
  EXPECT_EQ(parse_reduction("fast"), Reduction::fast);
  EXPECT_EQ(to_string(Reduction::fast), "fast");
  EXPECT_THROW(parse_reduction("allreduce"), Error);
  EXPECT_THROW(make_local_group(0), Error);
}

TEST(Distributed, ExactIsBitIdenticalToOneProcessAtAnyRankCount) {
  const RunSetup setups[] = {
      {.batch = 7, .shard_rows = 2},                     // 4 shards, the last of one row
      {.batch = 32, .shard_rows = 0},                    // the automatic rule
      {.batch = 50, .shard_rows = 4, .clip_norm = 0.5},  // 13 shards, clipping
      {.batch = 0, .shard_rows = 16, .optimizer = "sgd:lr=0.2,momentum=0.9"},  // full batch
  };
  for (const RunSetup& setup : setups) {
    const Outcome one = train_one(setup, nullptr, Reduction::exact);
    ASSERT_TRUE(one.error.empty()) << one.error;
    for (std::size_t ranks : {1, 2, 3, 4, 5}) {
      SCOPED_TRACE(testing::Message() << "batch " << setup.batch << ", shard_rows "
                                      << setup.shard_rows << ", " << ranks << " ranks");
      const std::vector<Outcome> outcomes = train_ranks(setup, ranks, Reduction::exact);
      std::size_t total = 0;
      for (std::size_t r = 0; r < ranks; ++r) {
        const Outcome& o = outcomes[r];
        ASSERT_TRUE(o.error.empty()) << "rank " << r << ": " << o.error;
        EXPECT_EQ(o.parameters, one.parameters) << "rank " << r;
        EXPECT_EQ(o.history, one.history) << "rank " << r;
        EXPECT_EQ(o.result.ranks, ranks);
        ASSERT_EQ(o.result.rank_rows.size(), ranks);
        EXPECT_EQ(o.result.rank_rows[r], o.result.rows_computed);
        total += o.result.rows_computed;
      }
      // Every row of every epoch was computed once, by one rank.
      EXPECT_EQ(total, setup.epochs * training_rows());
      EXPECT_EQ(one.result.rows_computed, setup.epochs * training_rows());
    }
  }
}

TEST(Distributed, ExactSplitsTheWorkAtShardBoundaries) {
  // Batch 7 in shards of 2 (2, 2, 2, 1 rows) on 3 ranks: rank 0 takes two shards, ranks 1
  // and 2 one each, so each computes, and unequal parts.
  const RunSetup setup{.batch = 7, .shard_rows = 2, .epochs = 1};
  const std::vector<Outcome> outcomes = train_ranks(setup, 3, Reduction::exact);
  const std::vector<std::size_t>& rows = outcomes[0].result.rank_rows;
  ASSERT_EQ(rows.size(), 3u);
  const std::size_t batches = training_rows() / 7, tail = training_rows() % 7;  // 184 = 26*7+2
  ASSERT_EQ(tail, 2u);
  EXPECT_EQ(rows[0], batches * 4 + 2);  // the tail batch is one shard of 2 rows
  EXPECT_EQ(rows[1], batches * 2);
  EXPECT_EQ(rows[2], batches * 1);
  for (const Outcome& o : outcomes) EXPECT_EQ(o.result.rank_rows, rows);
}

TEST(Distributed, FastStaysCloseAndKeepsTheReplicasEqual) {
  const RunSetup setup{.batch = 40, .shard_rows = 8, .optimizer = "sgd:lr=0.05"};
  const Outcome one = train_one(setup, nullptr, Reduction::exact);
  for (std::size_t ranks : {2, 3}) {
    const std::vector<Outcome> outcomes = train_ranks(setup, ranks, Reduction::fast);
    std::size_t total = 0;
    for (std::size_t r = 0; r < ranks; ++r) {
      ASSERT_TRUE(outcomes[r].error.empty()) << outcomes[r].error;
      EXPECT_EQ(outcomes[r].parameters, outcomes[0].parameters) << "rank " << r;
      EXPECT_GT(outcomes[r].result.rows_computed, 0u);
      total += outcomes[r].result.rows_computed;
    }
    EXPECT_EQ(total, setup.epochs * training_rows());
    // The same sums in another order: float rounding apart, the same parameters.
    ASSERT_EQ(outcomes[0].parameters.size(), one.parameters.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < one.parameters.size(); ++i) {
      worst = std::max(
          worst, static_cast<double>(std::abs(outcomes[0].parameters[i] - one.parameters[i])));
    }
    EXPECT_LT(worst, 1e-4) << ranks << " ranks";
  }
}

TEST(Distributed, ACallbackOnOneRankStopsEveryRankAtTheSameStep) {
  const RunSetup setup{.batch = 16, .shard_rows = 4, .epochs = 5};
  const std::vector<Outcome> outcomes = train_ranks(
      setup, 3, Reduction::exact, [](std::size_t r, TrainOptions&, Callbacks& cb, Network&) {
        if (r == 1) cb.on_step = [](const StepRecord& s) { return s.step < 7; };
      });
  for (const Outcome& o : outcomes) {
    ASSERT_TRUE(o.error.empty()) << o.error;
    EXPECT_EQ(o.result.stop_reason, StopReason::callback);
    EXPECT_EQ(o.result.steps, 7u);
    EXPECT_EQ(o.parameters, outcomes[0].parameters);
  }
}

TEST(Distributed, RanksGivenDifferentOptionsRefuseToStart) {
  const RunSetup setup{.batch = 16, .epochs = 2};
  const std::vector<Outcome> outcomes = train_ranks(
      setup, 3, Reduction::exact,
      [](std::size_t r, TrainOptions& o, Callbacks&, Network&) { o.batch_size = r == 2 ? 8 : 16; });
  for (const Outcome& o : outcomes) {
    EXPECT_NE(o.error.find("rank(s) 2 train something else than rank 0"), std::string::npos)
        << o.error;
  }
  // A stop criterion one rank alone has would end its collectives early.
  const std::vector<Outcome> stops = train_ranks(
      setup, 2, Reduction::exact,
      [](std::size_t r, TrainOptions& o, Callbacks&, Network&) { o.stop.max_steps = 5 + r; });
  for (const Outcome& o : stops) {
    EXPECT_NE(o.error.find("rank(s) 1 train something else than rank 0"), std::string::npos)
        << o.error;
  }
}

TEST(Distributed, AReplicaThatDriftsIsCaughtAtTheEpochsEnd) {
  const RunSetup setup{.batch = 16, .epochs = 3};
  const std::vector<Outcome> outcomes = train_ranks(
      setup, 2, Reduction::exact, [](std::size_t r, TrainOptions&, Callbacks& cb, Network& net) {
        if (r == 1) {
          cb.on_epoch = [&net](const EpochRecord&) {
            net.parameters()[0] += 1.0f;  // a replica broken behind the trainer's back
            return true;
          };
        }
      });
  for (const Outcome& o : outcomes) {
    EXPECT_NE(o.error.find("after epoch 2 the parameters of rank(s) 1 differ from rank 0's"),
              std::string::npos)
        << o.error;
  }
}

TEST(Distributed, ARankThatThrowsReleasesTheOthers) {
  // Rank 2's epoch callback throws after the first epoch: the other ranks, waiting in their
  // next collective, get an error instead of waiting forever.
  const RunSetup setup{.batch = 16, .shard_rows = 4, .epochs = 3};
  std::vector<Outcome> outcomes;
  try {
    outcomes = train_ranks(setup, 3, Reduction::exact,
                           [](std::size_t r, TrainOptions&, Callbacks& cb, Network&) {
                             if (r == 2) {
                               cb.on_epoch = [](const EpochRecord&) -> bool {
                                 throw Error("rank 2's callback gives up");
                               };
                             }
                           });
  } catch (...) {
    FAIL() << "an exception escaped a rank's thread";
  }
  EXPECT_NE(outcomes[2].error.find("rank 2's callback gives up"), std::string::npos);
  for (std::size_t r : {0, 1}) {
    EXPECT_NE(outcomes[r].error.find("rank 2 of the local group failed"), std::string::npos)
        << "rank " << r << ": " << outcomes[r].error;
  }
}

// A rank that refuses the run at its first checks (its options, or the split of its data)
// releases the others, which would otherwise wait for it in their first collective forever.
TEST(Distributed, ARankThatRefusesTheRunReleasesTheOthers) {
  const RunSetup setup{.batch = 16, .epochs = 2};
  for (const bool in_split : {false, true}) {
    SCOPED_TRACE(in_split ? "the split" : "the options");
    const std::vector<Outcome> outcomes = train_ranks(
        setup, 2, Reduction::exact, [&](std::size_t r, TrainOptions& o, Callbacks&, Network&) {
          if (r != 1) return;
          if (in_split)
            o.validation_fraction = 1.5;
          else
            o.epochs = 0;
        });
    EXPECT_NE(outcomes[1].error.find(in_split ? "validation" : "epochs"), std::string::npos)
        << outcomes[1].error;
    EXPECT_NE(outcomes[0].error.find("rank 1 of the local group failed"), std::string::npos)
        << outcomes[0].error;
  }
}

// A run that fails after it has started keeps what it trained on every rank, including one
// that computes no rows (a batch of one shard on two ranks): train() puts the network back
// only when the run was refused before its first step.
TEST(Distributed, ARunThatFailsMidwayKeepsItsWeightsOnEveryRank) {
  const RunSetup setup{.batch = 16, .shard_rows = 0, .epochs = 3};
  const std::vector<Outcome> outcomes = train_ranks(
      setup, 2, Reduction::exact, [](std::size_t r, TrainOptions&, Callbacks& cb, Network&) {
        if (r == 0) {
          cb.on_epoch = [](const EpochRecord& e) -> bool {
            if (e.epoch == 2) throw Error("rank 0 gives up at epoch 2");
            return true;
          };
        }
      });
  EXPECT_NE(outcomes[0].error.find("gives up"), std::string::npos) << outcomes[0].error;
  EXPECT_NE(outcomes[1].error.find("rank 0 of the local group failed"), std::string::npos)
      << outcomes[1].error;
  ASSERT_FALSE(outcomes[1].parameters.empty());
  EXPECT_EQ(outcomes[1].parameters, outcomes[0].parameters);
  EXPECT_TRUE(std::any_of(outcomes[1].parameters.begin(), outcomes[1].parameters.end(),
                          [](float v) { return v != 0.0f; }));
}

TEST(Distributed, OnlyRankZeroWritesTheCheckpoint) {
  const test::TempDir dir;
  const RunSetup setup{.batch = 16, .epochs = 2};
  const std::vector<Outcome> outcomes = train_ranks(
      setup, 2, Reduction::exact, [&](std::size_t r, TrainOptions& o, Callbacks&, Network&) {
        o.checkpoint = dir.path() / ("rank" + std::to_string(r) + ".ckpt");
      });
  for (const Outcome& o : outcomes) ASSERT_TRUE(o.error.empty()) << o.error;
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "rank0.ckpt"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "rank1.ckpt"));
}

// A resumed run that a rank refuses after the checkpoint was read (rank 1 asks for more
// epochs) leaves every rank's network, optimizer and schedule as they were before train().
TEST(Distributed, AResumeRefusedAfterReadingTheCheckpointChangesNothing) {
  const test::TempDir dir;
  const RunSetup setup{.batch = 16, .epochs = 2};
  const auto checkpoint = dir.path() / "run.ckpt";
  const char* schedule_spec = "step:step_size=1,gamma=0.5";
  const double lr = make_optimizer(setup.optimizer)->lr();
  const Outcome single =
      train_one(setup, nullptr, Reduction::exact, [&](TrainOptions& o, Callbacks&, Network&) {
        o.checkpoint = checkpoint;
        o.schedule = make_schedule(schedule_spec, lr);
      });
  ASSERT_TRUE(single.error.empty()) << single.error;

  std::vector<std::shared_ptr<Schedule>> schedules(2);
  std::vector<std::vector<float>> before(2);
  const std::vector<Outcome> outcomes = train_ranks(
      setup, 2, Reduction::exact, [&](std::size_t r, TrainOptions& o, Callbacks&, Network& net) {
        o.resume = checkpoint;
        o.epochs = r == 0 ? 4 : 5;
        o.init.reset();  // a resumed run takes the checkpoint's weights
        schedules[r] = make_schedule(schedule_spec, lr);
        o.schedule = schedules[r];
        net.initialize(Init::automatic, 5);
        before[r].assign(net.parameters().begin(), net.parameters().end());
      });
  Network fresh = Network::mlp(20, setup.hidden, 4, Activation::relu);
  auto fresh_optimizer = make_optimizer(setup.optimizer);
  fresh_optimizer->prepare(fresh.parameter_count());
  const std::vector<char> fresh_schedule = make_schedule(schedule_spec, lr)->save_state();
  for (std::size_t r = 0; r < 2; ++r) {
    EXPECT_NE(outcomes[r].error.find("train something else than rank 0"), std::string::npos)
        << "rank " << r << ": " << outcomes[r].error;
    EXPECT_EQ(outcomes[r].parameters, before[r]) << "rank " << r;
    EXPECT_NE(outcomes[r].parameters, single.parameters) << "rank " << r;
    // (== rather than EXPECT_EQ: a failure would print every byte of the states.)
    EXPECT_TRUE(outcomes[r].optimizer_state == fresh_optimizer->save_state()) << "rank " << r;
    EXPECT_TRUE(schedules[r]->save_state() == fresh_schedule) << "rank " << r;
  }
}

TEST(Distributed, RanksShareTheEvaluationAndGetOneProcesssFigures) {
  // 1100 rows: 5 chunks of evaluation, split 2/2/1 over 3 ranks.
  const Dataset big = make_synthetic("synthetic:rows=1100,features=20,classes=4,seed=8");
  Network net = Network::mlp(20, {16}, 4);
  net.initialize(Init::automatic, 2);
  auto sgd = make_optimizer("sgd:lr=0.1");
  Trainer alone(net, *sgd, Loss::cross_entropy);
  const Evaluation one = alone.evaluate(big);
  auto group = make_local_group(3);
  std::vector<Evaluation> results(3);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      Network copy = net;
      auto opt = make_optimizer("sgd:lr=0.1");
      TrainOptions o;
      o.distributed.communicator = group[r];
      Trainer trainer(copy, *opt, Loss::cross_entropy, o);
      results[r] = trainer.evaluate(big);
    });
  }
  for (auto& t : threads) t.join();
  for (const Evaluation& e : results) {
    EXPECT_EQ(bits(e.loss), bits(one.loss));
    EXPECT_EQ(bits(e.accuracy), bits(one.accuracy));
    EXPECT_EQ(e.rows, one.rows);
  }
}

TEST(Distributed, TooManyFixedShardsIsRefused) {
  const RunSetup setup{.batch = 0, .shard_rows = 0};
  const Outcome o =
      train_one(setup, nullptr, Reduction::exact, [](TrainOptions& opt, Callbacks&, Network&) {
        opt.shard_rows = 1;
        opt.batch_size = 0;  // 184 rows in 184 shards: allowed
      });
  EXPECT_TRUE(o.error.empty()) << o.error;
  Network net = Network::mlp(20, {8}, 4);
  auto sgd = make_optimizer("sgd:lr=0.1");
  TrainOptions opt;
  opt.shard_rows = 1;
  Trainer trainer(net, *sgd, Loss::cross_entropy, opt);
  EXPECT_THROW(trainer.reserve(2000), Error);  // 2000 shards
}

}  // namespace
}  // namespace descent
