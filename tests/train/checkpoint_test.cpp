// Checkpoints: a run cut short and resumed from its last checkpoint ends with the same bits as
// one that was never interrupted; a checkpoint that is damaged or belongs to another run is
// refused with an Error and changes nothing.

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

#include "descent/descent.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

struct Crash : std::runtime_error {
  Crash() : std::runtime_error("simulated crash") {}
};

// digits, Adam, a cosine schedule, shuffling, validation: 45 steps an epoch.
struct DigitsRun {
  Dataset data = load_dataset("digits");
  Network net = Network::mlp(64, {32}, 10);
  std::unique_ptr<Optimizer> optimizer;
  TrainOptions options;
  explicit DigitsRun(const char* optimizer_spec = "adam:lr=0.01") {
    optimizer = make_optimizer(optimizer_spec);
    options.epochs = 6;
    options.batch_size = 32;
    options.seed = 9;
    options.init = Init::automatic;
    options.schedule = make_schedule("cosine:T_max=6", optimizer->lr());
  }
  TrainResult go(const Callbacks& cb = {}) { return train(net, data, *optimizer, options, cb); }
};

void expect_same_history(const std::vector<EpochRecord>& a, const std::vector<EpochRecord>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].step, b[i].step);
    EXPECT_EQ(a[i].train_loss, b[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(a[i].val_loss, b[i].val_loss);
    EXPECT_EQ(a[i].val_accuracy, b[i].val_accuracy);
    EXPECT_EQ(a[i].grad_norm, b[i].grad_norm);
    EXPECT_EQ(a[i].lr, b[i].lr);
    EXPECT_EQ(a[i].layer_grad_norms, b[i].layer_grad_norms);
    EXPECT_EQ(a[i].layer_weight_norms, b[i].layer_weight_norms);
    EXPECT_EQ(a[i].stop_reason, b[i].stop_reason);
  }
}

TEST(Checkpoint, ResumingACrashedRunEndsBitIdentical) {
  test::TempDir dir;
  DigitsRun whole;
  const TrainResult reference = whole.go();

  DigitsRun crashed;
  crashed.options.checkpoint = dir / "ck";
  Callbacks die;
  die.on_step = [](const StepRecord& s) {
    if (s.step == 160) throw Crash();  // mid-epoch 4: the last checkpoint is epoch 3's
    return true;
  };
  EXPECT_THROW(crashed.go(die), Crash);

  DigitsRun resumed;
  resumed.options.checkpoint = dir / "ck";
  resumed.options.resume = dir / "ck";
  std::size_t steps_here = 0, first_epoch_here = 0;
  Callbacks count;
  count.on_step = [&](const StepRecord& s) {
    if (steps_here++ == 0) first_epoch_here = s.epoch;
    return true;
  };
  const TrainResult r = resumed.go(count);
  // It really resumed: epochs 4 to 6 ran here, not 1 to 6.
  EXPECT_EQ(r.resumed_epoch, 3u);
  EXPECT_EQ(first_epoch_here, 4u);
  EXPECT_EQ(steps_here, 3 * 45u);
  EXPECT_EQ(r.steps, reference.steps);
  EXPECT_EQ(0, std::memcmp(resumed.net.parameters().data(), whole.net.parameters().data(),
                           whole.net.parameter_count() * sizeof(float)));
  expect_same_history(r.history, reference.history);
  EXPECT_EQ(r.stop_reason, StopReason::max_epochs);
}

TEST(Checkpoint, EveryNEpochsAndAtTheEnd) {
  test::TempDir dir;
  DigitsRun run;
  run.options.epochs = 5;
  run.options.checkpoint = dir / "ck";
  run.options.checkpoint_every = 2;
  run.go();
  // The final checkpoint (epoch 5) resumes to a run with nothing left to do.
  DigitsRun again;
  again.options.epochs = 5;
  again.options.resume = dir / "ck";
  const TrainResult r = again.go();
  EXPECT_EQ(r.history.size(), 5u);
  EXPECT_EQ(0, std::memcmp(again.net.parameters().data(), run.net.parameters().data(),
                           run.net.parameter_count() * sizeof(float)));
  // And with more epochs asked for, it trains on.
  DigitsRun more;
  more.options.epochs = 7;
  more.options.schedule = make_schedule("cosine:T_max=6", 0.01);
  more.options.resume = dir / "ck";
  EXPECT_EQ(more.go().history.size(), 7u);
}

std::string error_resuming(DigitsRun& run, const std::filesystem::path& checkpoint) {
  run.options.resume = checkpoint;
  run.options.epochs = 3;
  return test::error_message([&] { run.go(); });
}

TEST(Checkpoint, RefusesCheckpointsOfOtherRuns) {
  test::TempDir dir;
  DigitsRun first;
  first.options.epochs = 2;
  first.options.checkpoint = dir / "ck";
  first.go();

  DigitsRun other_shape;
  other_shape.net = Network::mlp(64, {33}, 10);
  EXPECT_NE(error_resuming(other_shape, dir / "ck").find("is for a 64-32 relu-10 network"),
            std::string::npos)
      << error_resuming(other_shape, dir / "ck");
  DigitsRun other_optimizer("sgd:lr=0.1");
  other_optimizer.options.schedule = make_schedule("cosine:T_max=6", 0.1);
  EXPECT_NE(error_resuming(other_optimizer, dir / "ck").find("is for adam, not sgd"),
            std::string::npos);
  DigitsRun other_batch;
  other_batch.options.batch_size = 64;
  EXPECT_NE(error_resuming(other_batch, dir / "ck").find("batch size 32"), std::string::npos);
  DigitsRun other_data;
  other_data.data = load_dataset("digits");
  other_data.data.features(0, 0) += 1.0f;
  EXPECT_NE(error_resuming(other_data, dir / "ck").find("training data"), std::string::npos);
  DigitsRun no_schedule;
  no_schedule.options.schedule.reset();
  EXPECT_NE(error_resuming(no_schedule, dir / "ck").find("schedule cosine"), std::string::npos);
}

TEST(Checkpoint, RefusesDamagedFilesAndChangesNothing) {
  test::TempDir dir;
  DigitsRun first;
  first.options.epochs = 1;
  first.options.checkpoint = dir / "ck";
  first.go();
  const std::string bytes = test::read_text(dir / "ck");
  DigitsRun target;
  target.net.initialize(Init::automatic, 77);
  const std::vector<float> before(target.net.parameters().begin(), target.net.parameters().end());
  auto try_resume = [&](const std::string& content) {
    test::write_text(dir / "bad", content);
    TrainOptions o = target.options;
    o.resume = dir / "bad";
    Trainer trainer(target.net, *target.optimizer, Loss::cross_entropy, o);
    return test::error_message([&] { trainer.fit(target.data, nullptr); });
  };
  for (std::size_t cut :
       {std::size_t{0}, std::size_t{7}, std::size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_NE(try_resume(bytes.substr(0, cut)), "no error") << "cut at " << cut;
  }
  for (std::size_t at : {std::size_t{9}, std::size_t{200}, bytes.size() / 3, bytes.size() - 2}) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x41);
    EXPECT_NE(try_resume(damaged), "no error") << "byte " << at;
  }
  EXPECT_NE(try_resume("not a checkpoint at all").find("not a descent checkpoint"),
            std::string::npos);
  EXPECT_EQ(std::vector<float>(target.net.parameters().begin(), target.net.parameters().end()),
            before);
  EXPECT_EQ(target.optimizer->steps(), 0u);
}

}  // namespace
}  // namespace descent
