// Checkpoints: a run cut short and resumed from its last checkpoint ends with the same bits as
// one that was never interrupted; a checkpoint that is damaged or belongs to another run is
// refused with an Error and changes nothing.

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

#include <zlib.h>

#include "descent/descent.hpp"
#include "test_util.hpp"
#include "train/run.hpp"

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
  EXPECT_NE(error_resuming(other_optimizer, dir / "ck")
                .find("the checkpoint was written with optimizer adam:"),
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

std::vector<float> params_of(const Network& net) {
  return {net.parameters().begin(), net.parameters().end()};
}

// Writes bytes with their last four replaced by the CRC-32 of the rest: damage that the
// checksum does not catch, so the checks behind it must.
std::string with_fixed_checksum(std::string bytes) {
  const std::size_t body = bytes.size() - 4;
  const auto crc = static_cast<std::uint32_t>(
      crc32_z(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<z_size_t>(body)));
  std::memcpy(bytes.data() + body, &crc, 4);
  return bytes;
}

// train() refused (a checkpoint of another run, options it cannot use) leaves the network as
// it was: the initialisation and standardisation it prepares are put back.
TEST(Checkpoint, ARefusedTrainChangesNotTheNetwork) {
  test::TempDir dir;
  DigitsRun first;
  first.options.epochs = 2;
  first.options.checkpoint = dir / "ck";
  first.go();

  DigitsRun other_data;
  other_data.net.initialize(Init::automatic, 77);
  Standardization s;
  s.mean.assign(64, 0.5f);
  s.stddev.assign(64, 2.0f);
  other_data.net.set_standardization(s);
  const std::vector<float> before = params_of(other_data.net);
  other_data.data.features(0, 0) += 1.0f;
  other_data.options.resume = dir / "ck";
  EXPECT_THROW(other_data.go(), Error);
  EXPECT_EQ(params_of(other_data.net), before);
  EXPECT_EQ(other_data.net.standardization().mean, s.mean);

  DigitsRun no_epochs;
  no_epochs.net = other_data.net;
  no_epochs.options.epochs = 0;
  EXPECT_THROW(no_epochs.go(), Error);
  EXPECT_EQ(params_of(no_epochs.net), before);
  EXPECT_EQ(no_epochs.net.standardization().stddev, s.stddev);
}

// A checkpoint that cannot be written is found before the first step, not after an epoch.
TEST(Checkpoint, AWriteThatFailsMidRunNamesTheEpoch) {
  // /dev/full takes the check before training (a device is written in place) and fails the
  // first write.
  DigitsRun run;
  run.options.epochs = 2;
  run.options.checkpoint = "/dev/full";
  const std::string error = test::error_message([&] { run.go(); });
  EXPECT_NE(error.find("the checkpoint after epoch 1: cannot write"), std::string::npos) << error;
}

TEST(Checkpoint, AnUnwritableCheckpointIsFoundBeforeTraining) {
  test::TempDir dir;
  for (const auto& path : {dir / "missing" / "ck", dir.path()}) {
    DigitsRun run;
    run.options.checkpoint = path;
    std::size_t steps = 0;
    Callbacks cb;
    cb.on_step = [&](const StepRecord&) { return ++steps > 0; };
    const std::string error = test::error_message([&] { run.go(cb); });
    EXPECT_NE(error.find("checkpoint " + path.string()), std::string::npos) << error;
    EXPECT_EQ(steps, 0u);
  }
}

TEST(Checkpoint, HoldsTheModelAsItWasWhenWritten) {
  test::TempDir dir;
  DigitsRun run;
  run.options.epochs = 2;
  run.options.checkpoint = dir / "ck";
  run.go();
  const LoadedModel model = load_checkpoint_model(dir / "ck");
  EXPECT_EQ(model.loss, Loss::cross_entropy);
  EXPECT_EQ(params_of(model.network), params_of(run.net));
  ASSERT_EQ(model.network.standardization().features(), 64u);
  EXPECT_EQ(model.network.standardization().mean, run.net.standardization().mean);
  const std::string bytes = test::read_text(dir / "ck");
  EXPECT_TRUE(is_checkpoint(std::span<const char>(bytes.data(), 8)));
  EXPECT_FALSE(is_checkpoint(std::span<const char>(bytes.data(), 7)));
  // A damaged or truncated file, or a model file, is not taken for one.
  std::string damaged = bytes;
  damaged[bytes.size() / 2] = static_cast<char>(damaged[bytes.size() / 2] ^ 0x41);
  test::write_text(dir / "bad", damaged);
  EXPECT_NE(
      test::error_message([&] { load_checkpoint_model(dir / "bad"); }).find("checksum mismatch"),
      std::string::npos);
  test::write_text(dir / "short", bytes.substr(0, 100));
  EXPECT_THROW(load_checkpoint_model(dir / "short"), Error);
  save_network(dir / "model", run.net, Loss::cross_entropy);
  EXPECT_NE(test::error_message([&] {
              load_checkpoint_model(dir / "model");
            }).find("not a descent checkpoint"),
            std::string::npos);
}

TEST(Checkpoint, RefusesDamagedFilesAndChangesNothing) {
  test::TempDir dir;
  DigitsRun first;
  first.options.epochs = 1;
  first.options.checkpoint = dir / "ck";
  first.go();
  const std::string bytes = test::read_text(dir / "ck");
  // The same run resumed from `content`: an error leaves its network, optimizer and schedule
  // as they were.
  auto try_resume = [&](const std::string& content) {
    test::write_text(dir / "bad", content);
    DigitsRun target;
    target.options.epochs = 1;
    target.options.init.reset();
    target.net.initialize(Init::automatic, 77);
    target.options.resume = dir / "bad";
    const std::vector<float> before = params_of(target.net);
    const std::vector<char> schedule_before = target.options.schedule->save_state();
    const std::string message = test::error_message([&] { target.go(); });
    if (message != "no error") {
      EXPECT_EQ(params_of(target.net), before) << message;
      EXPECT_EQ(target.optimizer->steps(), 0u) << message;
      EXPECT_EQ(target.optimizer->lr(), 0.01) << message;
      EXPECT_EQ(target.options.schedule->save_state(), schedule_before) << message;
    }
    return message;
  };
  // Untouched, it is accepted: the run had finished its one epoch, so nothing is left to do.
  EXPECT_EQ(try_resume(bytes), "no error");
  for (std::size_t cut :
       {std::size_t{0}, std::size_t{7}, std::size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_NE(try_resume(bytes.substr(0, cut)), "no error") << "cut at " << cut;
  }
  for (std::size_t at : {std::size_t{9}, std::size_t{200}, bytes.size() / 3, bytes.size() - 2}) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x41);
    EXPECT_NE(try_resume(damaged).find("checksum mismatch"), std::string::npos) << "byte " << at;
  }
  EXPECT_NE(try_resume("not a checkpoint at all").find("not a descent checkpoint"),
            std::string::npos);
  // Damage behind a valid checksum: refused by the checks on the contents, or harmless; never
  // a crash (the sanitizer build runs this too).
  std::size_t refused = 0, tried = 0;
  for (std::size_t at = 12; at + 4 < bytes.size(); at += 211, ++tried) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x5a);
    if (try_resume(with_fixed_checksum(damaged)) != "no error") ++refused;
  }
  EXPECT_GT(refused, 0u) << "of " << tried;
}

// The parts of a checkpoint that must agree with each other, each made to disagree in turn.
TEST(Checkpoint, RefusesContentsThatDoNotAgree) {
  Network net = Network::mlp(4, {8}, 3);
  auto adam = make_optimizer("adam");
  adam->prepare(net.parameter_count());
  auto cosine = make_schedule("cosine:T_max=10", adam->lr());
  RunFingerprint f;
  f.optimizer = adam->spec();
  f.schedule = cosine->spec();
  f.batch_size = 16;
  f.train_rows = 120;
  auto good = [&] {
    Trainer::Run run;
    run.epoch = 1;
    run.shuffle_rng.reseed(3);
    run.warned_vanishing = {0, 0};
    run.warned_exploding = {0, 0};
    EpochRecord e;
    e.epoch = 1;
    e.step = 8;
    e.layer_grad_norms = {0.5, 0.25};
    e.layer_weight_norms = {2.0, 1.0};
    run.history.push_back(e);
    return run;
  };
  test::TempDir dir;
  auto error_with = [&](const Trainer::Run& run, std::size_t steps = 8) {
    write_checkpoint(dir / "ck", net, Loss::cross_entropy, *adam, cosine.get(), f, steps, run);
    Network target = Network::mlp(4, {8}, 3);
    auto adam2 = make_optimizer("adam");
    adam2->prepare(target.parameter_count());
    auto cosine2 = make_schedule("cosine:T_max=10", adam2->lr());
    std::size_t steps_read = 0;
    Trainer::Run read;
    return test::error_message([&] {
      read_checkpoint(dir / "ck", target, Loss::cross_entropy, *adam2, cosine2.get(), f, steps_read,
                      read);
    });
  };
  EXPECT_EQ(error_with(good()), "no error");
  auto expect_refused = [&](const Trainer::Run& run, const std::string& fragment,
                            std::size_t steps = 8) {
    const std::string message = error_with(run, steps);
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  };
  {
    Trainer::Run r = good();
    r.epoch = 2;
    expect_refused(r, "the history does not match the epoch count");
  }
  {
    Trainer::Run r = good();
    r.history[0].epoch = 3;
    expect_refused(r, "not consecutive");
  }
  {
    Trainer::Run r = good();
    r.stopped = StopReason::converged;
    expect_refused(r, "the stop reason does not match the history");
  }
  {
    Trainer::Run r = good();
    r.partial = true;
    r.epoch = 0;
    r.epoch_rng = r.shuffle_rng.state();
    expect_refused(r, "a partial epoch without a stop reason");
  }
  {
    Trainer::Run r = good();
    r.stopped = StopReason::max_steps;
    r.history[0].stop_reason = StopReason::max_steps;
    r.partial = true;
    r.epoch = 0;
    expect_refused(r, "damaged epoch shuffling state");  // the epoch's generator state is zero
    r.epoch_rng = r.shuffle_rng.state();
    r.epoch_first = 120;  // every row: the epoch would have been complete
    expect_refused(r, "its position in the epoch");
    r.epoch_first = 40;
    EXPECT_EQ(error_with(r), "no error");
  }
  {
    Trainer::Run r = good();
    r.best_epoch = 2;
    expect_refused(r, "the best epoch lies after the last one");
    r.best_epoch = 1;
    // Said with the file's name, as every other fault of a checkpoint is.
    expect_refused(r,
                   (dir / "ck").string() + ": checkpoint: damaged: the best epoch has no weights");
  }
  {
    // A flag of another value than 0 or 1 is damage, not a setting that differs from its own
    // reading ("written with shuffle true; this run has true").
    const RunFingerprint saved = f;
    f.shuffle = 2;
    expect_refused(good(), (dir / "ck").string() + ": checkpoint: damaged shuffle setting");
    f = saved;
    f.schedule_per = 5;
    expect_refused(good(), "damaged schedule stepping");
    f = saved;
  }
  {
    Trainer::Run r = good();
    r.last_good.resize(5);
    r.have_last_good = true;
    expect_refused(r, "last sound weights of 5 values");
  }
  {
    Trainer::Run r = good();
    r.history[0].layer_grad_norms = {1.0};
    r.history[0].layer_weight_norms = {1.0};
    expect_refused(r, "for another network");
  }
  expect_refused(good(), "its step count", 9);
  {
    Trainer::Run r = good();
    r.elapsed = -1.0;
    expect_refused(r, "the elapsed time");
  }
}

TEST(Checkpoint, ZeroGeneratorStateIsRefused) {
  Rng rng(1);
  EXPECT_THROW(rng.set_state(Rng::State{}), Error);
  const Rng::State s = rng.state();
  rng.set_state(s);
  EXPECT_EQ(rng.state(), s);
}

// Trains `make()` whole, and again cut short by a crash at `crash_step` and resumed from its
// last checkpoint; both must end with the same bits.
template <class Make>
void expect_resume_identical(Make make, std::size_t crash_step) {
  test::TempDir dir;
  auto whole = make();
  const TrainResult reference = whole.go();
  auto crashed = make();
  crashed.options.checkpoint = dir / "ck";
  Callbacks die;
  die.on_step = [&](const StepRecord& s) {
    if (s.step == crash_step) throw Crash();
    return true;
  };
  EXPECT_THROW(crashed.go(die), Crash);
  auto resumed = make();
  resumed.options.checkpoint = dir / "ck";
  resumed.options.resume = dir / "ck";
  const TrainResult r = resumed.go();
  EXPECT_GT(r.resumed_epoch, 0u);
  EXPECT_EQ(params_of(resumed.net), params_of(whole.net));
  expect_same_history(r.history, reference.history);
  EXPECT_EQ(r.stop_reason, reference.stop_reason);
  EXPECT_EQ(r.stop_message, reference.stop_message);
  EXPECT_EQ(r.best_epoch, reference.best_epoch);
  EXPECT_EQ(r.steps, reference.steps);
  EXPECT_EQ(resumed.optimizer->save_state(), whole.optimizer->save_state());
}

TEST(Checkpoint, ResumesAPerStepSchedule) {
  expect_resume_identical(
      [] {
        DigitsRun run;
        run.options.schedule = make_schedule("onecycle:total_steps=270,max_lr=0.02", 0.01);
        run.options.schedule_per = SchedulePer::step;
        return run;
      },
      200);
}

TEST(Checkpoint, ResumesAPlateauSchedule) {
  expect_resume_identical(
      [] {
        DigitsRun run;
        run.options.epochs = 8;
        run.options.schedule = make_schedule("plateau:patience=0,factor=0.5,threshold=0.2", 0.01);
        return run;
      },
      250);
}

TEST(Checkpoint, ResumesEarlyStoppingToTheSameBestWeights) {
  DigitsRun probe;
  probe.options.epochs = 30;
  probe.options.stop.early_stopping_patience = 2;
  probe.options.stop.early_stopping_min_delta = 0.02;
  const TrainResult r = probe.go();
  ASSERT_EQ(r.stop_reason, StopReason::early_stopped);  // so the test means something
  ASSERT_GE(r.history.size(), 4u);
  expect_resume_identical(
      [] {
        DigitsRun run;
        run.options.epochs = 30;
        run.options.stop.early_stopping_patience = 2;
        run.options.stop.early_stopping_min_delta = 0.02;
        return run;
      },
      (r.history.size() - 1) * 45 - 10);
}

TEST(Checkpoint, AStepLimitMidEpochResumesWhenRaised) {
  test::TempDir dir;
  DigitsRun whole;
  const TrainResult reference = whole.go();

  DigitsRun limited;
  limited.options.checkpoint = dir / "ck";
  limited.options.stop.max_steps = 100;  // in epoch 3 (45 steps an epoch)
  const TrainResult first = limited.go();
  ASSERT_EQ(first.stop_reason, StopReason::max_steps);
  EXPECT_EQ(first.steps, 100u);
  EXPECT_EQ(first.history.size(), 3u);

  // Resumed with the same limit: nothing to do, the same result.
  DigitsRun same;
  same.options.stop.max_steps = 100;
  same.options.resume = dir / "ck";
  const TrainResult again = same.go();
  EXPECT_EQ(again.stop_reason, StopReason::max_steps);
  EXPECT_EQ(again.steps, 100u);
  EXPECT_NE(again.stop_message.find("already stopped"), std::string::npos) << again.stop_message;
  EXPECT_EQ(params_of(same.net), params_of(limited.net));

  // With the limit lifted, it finishes epoch 3 in the same order and ends as if never stopped.
  DigitsRun more;
  more.options.resume = dir / "ck";
  std::size_t steps_here = 0;
  Callbacks count;
  count.on_step = [&](const StepRecord&) {
    ++steps_here;
    return true;
  };
  const TrainResult r = more.go(count);
  EXPECT_EQ(steps_here, reference.steps - 100);
  EXPECT_EQ(params_of(more.net), params_of(whole.net));
  expect_same_history(r.history, reference.history);
  EXPECT_EQ(r.stop_reason, StopReason::max_epochs);
}

// Full-batch descent on a line with a rate that blows up: one step per epoch, so a checkpoint
// at the end of an epoch can be the last one before the diverging step.
struct LineRun {
  Dataset data;
  Network net = Network::mlp(2, {}, 1);
  std::unique_ptr<Optimizer> optimizer = make_optimizer("sgd:lr=2.5");
  TrainOptions options;
  LineRun() {
    data.name = "line";
    data.task = Task::regression;
    data.features = Matrix(40, 2);
    data.values = Matrix(40, 1);
    for (std::size_t i = 0; i < 40; ++i) {
      data.features(i, 0) = static_cast<float>(i % 7) / 7.0f - 0.5f;
      data.features(i, 1) = static_cast<float>(i % 5) / 5.0f - 0.4f;
      data.values(i, 0) = 2.0f * data.features(i, 0) - data.features(i, 1) + 0.5f;
    }
    options.batch_size = 0;
    options.epochs = 1000;
    options.validation_fraction = 0.0;
    options.standardize = false;
    options.init = Init::automatic;
  }
  TrainResult go(const Callbacks& cb = {}) { return train(net, data, *optimizer, options, cb); }
};

TEST(Checkpoint, DivergingRightAfterAResumeKeepsTheLastSoundWeights) {
  test::TempDir dir;
  LineRun whole;
  const TrainResult reference = whole.go();
  ASSERT_EQ(reference.stop_reason, StopReason::diverged);
  const std::size_t diverged_epoch = reference.history.size();
  ASSERT_GE(diverged_epoch, 3u);

  LineRun before;
  before.options.epochs = diverged_epoch - 1;  // stops one step before the diverging one
  before.options.checkpoint = dir / "ck";
  EXPECT_EQ(before.go().stop_reason, StopReason::max_epochs);

  LineRun resumed;
  resumed.options.resume = dir / "ck";
  resumed.options.checkpoint = dir / "ck";
  const TrainResult r = resumed.go();
  EXPECT_EQ(r.stop_reason, StopReason::diverged);
  EXPECT_EQ(params_of(resumed.net), params_of(whole.net));
  EXPECT_EQ(r.stop_message, reference.stop_message);

  // A diverged run is finished: resuming it again trains nothing and keeps those weights.
  LineRun finished;
  finished.options.resume = dir / "ck";
  std::size_t steps_here = 0;
  Callbacks count;
  count.on_step = [&](const StepRecord&) {
    ++steps_here;
    return true;
  };
  const TrainResult again = finished.go(count);
  EXPECT_EQ(steps_here, 0u);
  EXPECT_EQ(again.stop_reason, StopReason::diverged);
  EXPECT_NE(again.stop_message.find("already stopped"), std::string::npos);
  EXPECT_EQ(params_of(finished.net), params_of(whole.net));
}

}  // namespace
}  // namespace descent
