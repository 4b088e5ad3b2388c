// Schedules beyond their golden values: spec errors, state, and how the trainer drives them.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "descent/descent.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

TEST(Schedules, EveryNameIsKnown) {
  for (const std::string& name : schedule_names()) {
    std::string spec = name;
    if (name == "step") spec += ":step_size=3";
    if (name == "multistep") spec += ":milestones=[2,4]";
    if (name == "exponential") spec += ":gamma=0.9";
    if (name == "cosine") spec += ":T_max=5";
    if (name == "cosine_restarts") spec += ":T_0=5";
    if (name == "onecycle") spec += ":total_steps=50";
    auto s = make_schedule(spec, 0.1);
    EXPECT_EQ(s->name(), name);
    EXPECT_EQ(s->needs_metric(), name == "plateau");
  }
}

TEST(Schedules, InvalidSpecsNameTheKeyAndValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cosin:T_max=3", "unknown schedule \"cosin\""},
      {"cosine", "T_max is required"},
      {"cosine:T_max=0", "T_max=0 is invalid: must be a whole number >= 1"},
      {"cosine:T_max=1e18", "T_max=1e18 is invalid: too large"},
      {"cosine:T_max=2.5", "T_max=2.5 is invalid"},
      {"step:step_size=3,gama=0.5", "unknown key \"gama\""},
      {"multistep:milestones=20", "milestones=20 is not a list"},
      {"multistep:milestones=[1,x]", "\"x\" is not a number"},
      {"multistep:milestones=[-1]", "must be whole numbers >= 0"},
      {"linear:start_factor=0", "start_factor=0 is invalid"},
      {"linear:end_factor=2", "end_factor=2 is invalid"},
      {"onecycle:max_lr=1", "total_steps is required"},
      {"onecycle:total_steps=10,pct_start=0.1", "pct_start"},
      {"onecycle:total_steps=1,pct_start=1", "pct_start"},
      {"onecycle:total_steps=100,div_factor=0", "div_factor=0 is invalid"},
      {"plateau:factor=1", "factor=1 is invalid"},
      {"plateau:factor=-0.5", "factor=-0.5 is invalid"},
      {"step:step_size=2,gamma=-0.1", "gamma=-0.1 is invalid: must be >= 0"},
      {"multistep:milestones=[2],gamma=-1", "gamma=-1 is invalid: must be >= 0"},
      {"exponential:gamma=-0.9", "gamma=-0.9 is invalid: must be >= 0"},
      {"plateau:mode=up", "mode=up is invalid: use min or max"},
      {"plateau:threshold_mode=relative", "threshold_mode=relative is invalid: use rel or abs"},
      {"plateau:warmup_iters=5", "warmup is not available for plateau"},
      {"cosine:T_max=5,warmup_start_factor=0.1", "needs warmup_iters > 0"},
      {"cosine:T_max=5,warmup_iters=3,warmup_start_factor=0", "warmup_start_factor=0 is invalid"},
      {"cosine:T_max=5,warmup_iters=-1", "warmup_iters=-1 is invalid"},
  };
  for (const auto& [spec, fragment] : cases) {
    const std::string message = test::error_message([&] { make_schedule(spec, 0.1); });
    EXPECT_NE(message.find(fragment), std::string::npos) << spec << ": " << message;
  }
  EXPECT_THROW(make_schedule("plateau", 0.1)->step(), Error);
}

// torch's chained LinearLR rounds to -7e-19 at end_factor 0; descent's rate stays at 0, which
// the optimizer accepts (a negative rate it refuses, stopping the run).
TEST(Schedules, LinearToZeroEndsAtZeroNotBelow) {
  auto s = make_schedule("linear:end_factor=0,total_iters=5", 0.1);
  for (int i = 0; i < 8; ++i) {
    s->step();
    EXPECT_GE(s->rate(), 0.0) << "step " << i + 1;
  }
  EXPECT_EQ(s->rate(), 0.0);
}

TEST(Schedules, StateRoundTripsMidway) {
  for (const char* spec :
       {"cosine:T_max=10,warmup_iters=3", "cosine_restarts:T_0=4,T_mult=2",
        "cosine_restarts:T_0=2,T_mult=9000000000000000",  // T_i past 2^53 after a restart
        "onecycle:total_steps=40", "multistep:milestones=[3,7]", "plateau:patience=1"}) {
    SCOPED_TRACE(spec);
    auto a = make_schedule(spec, 0.1), b = make_schedule(spec, 0.1);
    for (int i = 0; i < 6; ++i) {
      a->step(1.0 / (1 + i % 2));
      b->step(1.0 / (1 + i % 2));
    }
    auto c = make_schedule(spec, 0.1);
    c->load_state(b->save_state());
    for (int i = 6; i < 20; ++i) {
      a->step(1.0);
      c->step(1.0);
      EXPECT_EQ(a->rate(), c->rate()) << "step " << i;
    }
    EXPECT_THROW(make_schedule("step:step_size=2", 0.1)->load_state(b->save_state()), Error);
  }
}

// A state names the spec it was saved from: the same schedule with other settings, or another
// base rate, is refused, naming both.
TEST(Schedules, StateOfTheSameScheduleWithOtherSettingsIsRefused) {
  auto a = make_schedule("cosine:T_max=10", 0.1);
  a->step();
  const std::string message = test::error_message(
      [&] { make_schedule("cosine:T_max=50", 0.1)->load_state(a->save_state()); });
  EXPECT_NE(message.find("T_max=10"), std::string::npos) << message;
  EXPECT_NE(message.find("T_max=50"), std::string::npos) << message;
  EXPECT_THROW(make_schedule("cosine:T_max=10", 0.2)->load_state(a->save_state()), Error);
  auto same = make_schedule("cosine:T_max=10", 0.1);
  same->load_state(a->save_state());
  EXPECT_EQ(same->rate(), a->rate());
  EXPECT_EQ(same->steps_taken(), 1u);

  // A state written before states named the spec (the bare name as owner, as in older
  // checkpoints) is still read: the same bytes with the owner "cosine" and their CRC again.
  const std::vector<char> state = a->save_state();
  std::uint32_t owner_size = 0;
  std::memcpy(&owner_size, state.data() + 8, 4);
  std::vector<char> old(state.begin(), state.begin() + 8);
  const std::uint32_t bare = 6;
  old.insert(old.end(), reinterpret_cast<const char*>(&bare),
             reinterpret_cast<const char*>(&bare) + 4);
  old.insert(old.end(), {'c', 'o', 's', 'i', 'n', 'e'});
  old.insert(old.end(), state.begin() + 12 + owner_size, state.end() - 4);
  const std::uint32_t crc = bytes::crc32(old);
  old.insert(old.end(), reinterpret_cast<const char*>(&crc),
             reinterpret_cast<const char*>(&crc) + 4);
  auto from_old = make_schedule("cosine:T_max=10", 0.1);
  from_old->load_state(old);
  EXPECT_EQ(from_old->rate(), a->rate());
  EXPECT_EQ(from_old->steps_taken(), 1u);

  // A long spec (a multistep of 3,000 milestones) saves a state that loads back.
  std::string milestones = "multistep:milestones=[";
  for (int m = 1; m <= 3000; ++m) milestones += fmt::format("{}{}", m == 1 ? "" : ",", 10 * m);
  milestones += "]";
  auto long_spec = make_schedule(milestones, 0.1);
  long_spec->step();
  auto long_again = make_schedule(milestones, 0.1);
  EXPECT_NO_THROW(long_again->load_state(long_spec->save_state()));
  EXPECT_EQ(long_again->steps_taken(), 1u);
  EXPECT_THROW(make_schedule(std::string(100001, ' ') + "constant", 0.1), Error);
}

// A schedule that saves whatever state a test makes up, under another schedule's name.
class MadeUpSchedule final : public Schedule {
 public:
  MadeUpSchedule(std::string name, std::function<void(StateVisitor&)> visit)
      : Schedule(0.1), name_(std::move(name)), visit_(std::move(visit)) {}
  using Schedule::step;
  void step() override {}
  std::string_view name() const override { return name_; }

 protected:
  void visit_state(StateVisitor& v) override { visit_(v); }

 private:
  std::string name_;
  std::function<void(StateVisitor&)> visit_;
};

TEST(Schedules, RefusesStateOutOfRangeAndChangesNothing) {
  // The fields of a step schedule's state, in order, with one made wrong at a time.
  const char* names[] = {"lr", "initial_lr", "last_epoch", "step_count", "base_lr"};
  const double good[] = {0.1, 0.1, 3.0, 4.0, 0.1};
  const std::vector<std::pair<std::size_t, double>> bad = {
      {0, -0.1},  {0, std::numeric_limits<double>::infinity()},
      {1, -1.0},  {2, 2.5},
      {2, 1e300}, {2, -7.0},
      {3, -1.0},  {4, std::numeric_limits<double>::quiet_NaN()}};
  for (const auto& [field, value] : bad) {
    const auto state = MadeUpSchedule("step", [&](StateVisitor& v) {
                         for (std::size_t i = 0; i < 5; ++i) {
                           double x = i == field ? value : good[i];
                           v.scalar(names[i], x);
                         }
                       }).save_state();
    auto schedule = make_schedule("step:step_size=2", 0.5);
    schedule->step();
    const auto before = schedule->save_state();
    const std::string message = test::error_message([&] { schedule->load_state(state); });
    EXPECT_NE(message.find(names[field]), std::string::npos)
        << names[field] << "=" << value << ": " << message;
    EXPECT_EQ(schedule->save_state(), before);
  }
  // The same fields in range are accepted.
  const auto fine = MadeUpSchedule("step", [&](StateVisitor& v) {
                      for (std::size_t i = 0; i < 5; ++i) {
                        double x = good[i];
                        v.scalar(names[i], x);
                      }
                    }).save_state();
  auto schedule = make_schedule("step:step_size=2", 0.5);
  schedule->load_state(fine);
  EXPECT_EQ(schedule->rate(), 0.1);
}

TrainResult run(const char* schedule, SchedulePer per, std::size_t epochs, const Callbacks& cb = {},
                std::size_t max_steps = 0) {
  const Dataset d = load_dataset("iris");
  Network net = Network::mlp(4, {8}, 3);
  auto sgd = make_optimizer("sgd:lr=0.1");
  TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 40;  // 120 training rows: 3 steps per epoch
  o.init = Init::automatic;
  o.schedule = make_schedule(schedule, sgd->lr());
  o.schedule_per = per;
  o.stop.max_steps = max_steps;
  return train(net, d, *sgd, o, cb);
}

TEST(TrainerSchedules, PerEpochByDefault) {
  const TrainResult r = run("step:step_size=1,gamma=0.5", SchedulePer::epoch, 4);
  ASSERT_EQ(r.history.size(), 4u);
  for (std::size_t e = 0; e < 4; ++e)
    EXPECT_DOUBLE_EQ(r.history[e].lr, 0.1 * std::pow(0.5, static_cast<double>(e)));
}

TEST(TrainerSchedules, PerStepWhenAsked) {
  std::vector<double> rates;
  Callbacks cb;
  cb.on_step = [&](const StepRecord& s) {
    rates.push_back(s.lr);
    return true;
  };
  run("exponential:gamma=0.9", SchedulePer::step, 2, cb);
  ASSERT_EQ(rates.size(), 6u);
  for (std::size_t i = 0; i < rates.size(); ++i)
    EXPECT_NEAR(rates[i], 0.1 * std::pow(0.9, static_cast<double>(i)), 1e-9);
}

TEST(TrainerSchedules, PlateauStepsPerEpochWithTheValidationLoss) {
  // A loss that cannot improve by a relative 100%: every epoch is bad, and with patience 0
  // each one halves the rate.
  const TrainResult r = run("plateau:patience=0,factor=0.5,threshold=1", SchedulePer::step, 4);
  for (std::size_t e = 0; e < 4; ++e)
    EXPECT_NEAR(r.history[e].lr, 0.1 * std::pow(0.5, static_cast<double>(e)), 1e-12) << e;
}

// A first phase shorter than a step (pct_start * total_steps < 1, or pct_start = 0) is empty
// and the rate anneals from the start, and with pct_start = 1 the second one is, as PyTorch
// 1.13 computes it: the values below are its OneCycleLR(max_lr=0.01, cycle_momentum=False)
// rates, printed with repr().
TEST(Schedules, OneCycleWithAnEmptyFirstPhaseIsPyTorchs) {
  const std::pair<const char*, std::vector<double>> cases[] = {
      {"onecycle:max_lr=0.01,total_steps=3", {0.009944154354509118, 0.00462637102666975, 4e-08}},
      {"onecycle:max_lr=0.01,total_steps=5,pct_start=0",
       {0.00904508879153485, 0.00654509879153485, 0.003454941208465151, 0.0009549512084651508,
        4e-08}},
      {"onecycle:max_lr=0.01,total_steps=4,pct_start=0.1",
       {0.00933012969841412, 0.005868257415371099, 0.001786094807319497, 4e-08}},
      // No second phase: a warm-up over total_steps - 1 steps.
      {"onecycle:max_lr=0.01,total_steps=5,pct_start=1",
       {0.0003999999999999993, 0.0018058874503045722, 0.0052, 0.008594112549695427, 0.01}},
  };
  for (const auto& [spec, rates] : cases) {
    const auto s = make_schedule(spec, 0.01);
    if (std::string(spec).find("pct_start=1") != std::string::npos) {
      // A warm-up only: PyTorch divides by zero at the step after these; the rate stays.
      EXPECT_EQ(s->step_limit(), rates.size() - 1) << spec;
    }
    for (std::size_t i = 0; i < rates.size(); ++i) {
      EXPECT_NEAR(s->rate(), rates[i], 1e-12 * rates[i]) << spec << " step " << i;
      if (i + 1 < rates.size()) s->step();
    }
    if (std::string(spec).find("pct_start=1") != std::string::npos) {
      s->step();  // past its end: the rate stays (where PyTorch raises)
      EXPECT_EQ(s->rate(), rates.back());
    }
  }
}

TEST(TrainerSchedules, OneCycleThatWouldRunOutIsRefusedUpFront) {
  const std::string message =
      test::error_message([] { run("onecycle:total_steps=5", SchedulePer::step, 2); });
  EXPECT_NE(message.find("defines 5 steps but this run advances it 6 times"), std::string::npos)
      << message;
  EXPECT_NO_THROW(run("onecycle:total_steps=6", SchedulePer::step, 2));
  // A step limit that ends the run first: 5 steps of the 6 (3 an epoch), or the 2 epochs
  // that 4 steps reach.
  const TrainResult limited = run("onecycle:total_steps=5", SchedulePer::step, 2, {}, 5);
  EXPECT_EQ(limited.steps, 5u);
  EXPECT_EQ(limited.stop_reason, StopReason::max_steps);
  EXPECT_NO_THROW(run("onecycle:total_steps=2", SchedulePer::epoch, 5, {}, 4));
  EXPECT_THROW(run("onecycle:total_steps=2", SchedulePer::epoch, 5, {}, 7), Error);
}

// A schedule an earlier run advanced has only the rest of its steps for the next run.
TEST(TrainerSchedules, AScheduleReusedAfterARunHasOnlyItsRemainingSteps) {
  const Dataset d = load_dataset("iris");
  Network net = Network::mlp(4, {8}, 3);
  auto sgd = make_optimizer("sgd:lr=0.1");
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = 40;  // 3 steps an epoch
  o.init = Init::automatic;
  o.schedule = make_schedule("onecycle:total_steps=8,warmup_iters=1", sgd->lr());
  o.schedule_per = SchedulePer::step;
  train(net, d, *sgd, o);
  EXPECT_EQ(o.schedule->steps_taken(), 3u);
  train(net, d, *sgd, o);  // steps 4 to 6 of 9
  EXPECT_EQ(o.schedule->steps_taken(), 6u);
  o.epochs = 2;  // 6 more, with 3 left
  const std::string message = test::error_message([&] { train(net, d, *sgd, o); });
  EXPECT_NE(message.find("defines 9 steps, 6 of them taken already, but this run advances it 6"),
            std::string::npos)
      << message;
  EXPECT_EQ(o.schedule->steps_taken(), 6u);  // refused before it changed anything
  o.epochs = 1;
  EXPECT_NO_THROW(train(net, d, *sgd, o));
  EXPECT_EQ(o.schedule->steps_taken(), 9u);

  // A Trainer that fits twice: max_steps counts its steps since it was made, so the second
  // run has 4 of its 12 left, as has the schedule.
  {
    TrainOptions t = o;
    t.epochs = 2;  // all 150 rows, 4 steps an epoch: 8 a run, cut to 12 in all
    t.stop.max_steps = 12;
    t.schedule = make_schedule("onecycle:total_steps=12", sgd->lr());
    Trainer trainer(net, *sgd, Loss::cross_entropy, t);
    trainer.fit(d, nullptr);
    EXPECT_EQ(t.schedule->steps_taken(), 8u);
    const TrainResult second = trainer.fit(d, nullptr);
    EXPECT_EQ(second.stop_reason, StopReason::max_steps);
    EXPECT_EQ(t.schedule->steps_taken(), 12u);
  }

  // Counted the same way for plateau (per epoch) and after load_state.
  auto plateau = make_schedule("plateau", 0.1);
  plateau->step(1.0);
  plateau->step(2.0);
  EXPECT_EQ(plateau->steps_taken(), 2u);
  auto fresh = make_schedule("onecycle:total_steps=8,warmup_iters=1", 0.1);
  EXPECT_EQ(fresh->steps_taken(), 0u);
  fresh->load_state(o.schedule->save_state());
  EXPECT_EQ(fresh->steps_taken(), 9u);
}

}  // namespace
}  // namespace descent
