// minimize() on the analytic objectives, in the manner of ensmallen's tests: every optimizer
// reaches each convex function's minimum in a fixed budget; Adam and momentum cross
// Rosenbrock's valley; momentum rolls through the double well's local minimum where plain
// gradient descent stops in it; the stability bound lr < 2/L of gradient descent on a
// quadratic holds on both sides; and the stop criteria report what happened.

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/objective.hpp"
#include "descent/optimizer.hpp"
#include "descent/schedule.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

std::vector<float> start_of(const Objective& f) {
  const auto p = f.initial_point();
  return std::vector<float>(p.begin(), p.end());
}

double distance(const std::vector<float>& x, const std::vector<double>& y) {
  double s = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return std::sqrt(s);
}

MinimizeResult run(const std::string& function, const std::string& optimizer, std::size_t steps,
                   double tolerance = 0.0) {
  const auto f = make_objective(function);
  const auto opt = make_optimizer(optimizer);
  MinimizeOptions options;
  options.stop.max_steps = steps;
  options.stop.grad_tolerance = tolerance;
  return minimize(*f, *opt, start_of(*f), options);
}

// Each optimizer with settings that suit these small convex problems (the curvatures are
// 2 for the parabola, 1..10 for the quadratic, 2..18 for Booth).
const char* const kOptimizers[] = {
    "sgd:lr=0.05",
    "sgd:lr=0.02,momentum=0.9",
    "sgd:lr=0.02,momentum=0.9,nesterov=true",
    "adagrad:lr=1",
    "rmsprop:lr=0.01",
    "rmsprop:lr=0.01,momentum=0.5,centered=true",
    "adam:lr=0.05",
    "adam:lr=0.05,amsgrad=true",
    "adamw:lr=0.05,weight_decay=0",
    "nadam:lr=0.05",
    "radam:lr=0.05",
    "adamax:lr=0.1",
    "adadelta:lr=2,rho=0.99",
};

TEST(Minimize, EveryOptimizerReachesEachConvexFunctionsMinimum) {
  for (const char* function : {"parabola", "quadratic:dim=2,condition=10", "booth"}) {
    const auto f = make_objective(function);
    const std::vector<double> target = f->minimizers().at(0);
    for (const char* optimizer : kOptimizers) {
      const MinimizeResult r = run(function, optimizer, 3000, 1e-6);
      EXPECT_LT(distance(r.point, target), 1e-2) << optimizer << " on " << function;
      EXPECT_LT(r.value - *f->minimum(), 1e-3) << optimizer << " on " << function;
      EXPECT_NE(r.stop_reason, StopReason::diverged) << optimizer << " on " << function;
    }
  }
}

TEST(Minimize, AdamAndMomentumReachRosenbrocksMinimum) {
  for (const char* optimizer : {"adam:lr=0.02", "sgd:lr=0.0015,momentum=0.9"}) {
    const MinimizeResult r = run("rosenbrock", optimizer, 20000);
    EXPECT_LT(distance(r.point, {1.0, 1.0}), 2e-2)
        << optimizer << " ended at " << r.point[0] << ", " << r.point[1];
  }
}

// The seeds' picture of momentum: a ball rolling with speed crosses a shallow dip.
TEST(Minimize, MomentumRollsThroughTheLocalMinimumWherePlainDescentStops) {
  const auto f = make_objective("double_well");
  const double local = f->local_minimizers().at(0).at(0);
  const double global = f->minimizers().at(0).at(0);
  const MinimizeResult plain = run("double_well", "sgd:lr=0.02", 2000, 1e-5);
  const MinimizeResult heavy = run("double_well", "sgd:lr=0.02,momentum=0.9", 2000, 1e-5);
  EXPECT_NEAR(plain.point[0], local, 1e-3);
  EXPECT_EQ(plain.stop_reason, StopReason::converged);
  EXPECT_NEAR(heavy.point[0], global, 1e-3);
  EXPECT_EQ(heavy.stop_reason, StopReason::converged);
}

// On 1/2 sum c_i x_i^2 with largest curvature L, gradient descent converges for lr < 2/L and
// diverges above it.
TEST(Minimize, GradientDescentOnAQuadraticConvergesJustBelowTwoOverLAndDivergesJustAbove) {
  for (const char* function :
       {"quadratic:dim=2,condition=10", "quadratic:dim=5,condition=4,scale=3"}) {
    const auto f = make_objective(function);
    // L: the value along the steepest axis is 1/2 L x^2.
    std::vector<float> axis(f->dimension(), 0.0f);
    axis.back() = 1.0f;
    const double L = 2.0 * f->value(axis);
    for (const double factor : {0.99, 1.01}) {
      const double lr = factor * 2.0 / L;
      const MinimizeResult r = run(function, "sgd:lr=" + std::to_string(lr), 20000, 1e-6);
      if (factor < 1.0) {
        EXPECT_EQ(r.stop_reason, StopReason::converged) << function << " lr " << lr;
        EXPECT_LT(r.value, 1e-10) << function;
      } else {
        EXPECT_EQ(r.stop_reason, StopReason::diverged) << function << " lr " << lr;
      }
    }
  }
}

TEST(Minimize, RecordsTheTrajectoryFromTheStart) {
  const MinimizeResult r = run("parabola", "sgd:lr=0.1", 5);
  ASSERT_EQ(r.trajectory.size(), 6u);  // the start and five steps
  EXPECT_EQ(r.steps, 5u);
  EXPECT_EQ(r.stop_reason, StopReason::max_steps);
  // w <- w - lr * 2 (w - 3) from 0: 0.6, 1.08, ...
  EXPECT_FLOAT_EQ(r.trajectory[0].point[0], 0.0f);
  EXPECT_FLOAT_EQ(r.trajectory[1].point[0], 0.6f);
  EXPECT_FLOAT_EQ(r.trajectory[2].point[0], 1.08f);
  EXPECT_DOUBLE_EQ(r.trajectory[0].value, 9.0);
  EXPECT_DOUBLE_EQ(r.trajectory[1].lr, 0.1);
  EXPECT_EQ(r.point, r.trajectory.back().point);
}

TEST(Minimize, StopCriteriaNameWhatHappened) {
  // A target value.
  {
    const auto f = make_objective("parabola");
    const auto sgd = make_optimizer("sgd:lr=0.1");
    MinimizeOptions o;
    o.stop.target_loss = 0.01;
    const MinimizeResult r = minimize(*f, *sgd, start_of(*f), o);
    EXPECT_EQ(r.stop_reason, StopReason::target_reached);
    EXPECT_LE(r.value, 0.01);
  }
  // Divergence keeps the last finite point.
  {
    const MinimizeResult r = run("parabola", "sgd:lr=1.5", 10000);
    EXPECT_EQ(r.stop_reason, StopReason::diverged);
    EXPECT_TRUE(std::isfinite(r.point[0]));
    // |w - 3| doubles each step; the point past 1000 x the first value (9) is not the one kept.
    EXPECT_LE(r.value, 9000.0);
    EXPECT_GT(r.value, 9000.0 / 16.0);
    EXPECT_DOUBLE_EQ(r.value, (r.point[0] - 3.0) * (r.point[0] - 3.0));
    EXPECT_NE(r.stop_message.find("smaller learning rate"), std::string::npos) << r.stop_message;
  }
  // A start where the gradient already overflows: no finite point to keep, so an error that
  // names the start rather than a "diverged" result with a made-up value of 0.
  {
    const auto f = make_objective("rosenbrock");
    const auto sgd = make_optimizer("sgd:lr=0.001");
    MinimizeOptions o;
    o.stop.max_steps = 10;
    const std::vector<float> far{1e30f, 1e30f};
    try {
      (void)minimize(*f, *sgd, far, o);
      ADD_FAILURE() << "a start with an infinite gradient gave a result";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("at the start"), std::string::npos) << e.what();
      // Rosenbrock has no settings to make milder; only the quadratic is told to.
      EXPECT_EQ(std::string(e.what()).find("milder settings"), std::string::npos) << e.what();
    }
    const auto steep = make_objective("quadratic:scale=1e30");
    try {
      (void)minimize(*steep, *sgd, far, o);
      ADD_FAILURE() << "a start with an infinite value gave a result";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("a smaller scale or condition"), std::string::npos)
          << e.what();
    }
  }
  // The saddle: no minimum; descent leaves it along -y and the value runs away below.
  {
    const MinimizeResult r = run("saddle", "sgd:lr=0.1", 10000);
    EXPECT_EQ(r.stop_reason, StopReason::diverged);
    EXPECT_GT(std::abs(r.point[1]), 1e3f);
    EXPECT_NEAR(r.point[0], 0.0f, 1e-6f);
  }
  // A plateau.
  {
    const auto f = make_objective("parabola");
    const auto sgd = make_optimizer("sgd:lr=0.001");
    MinimizeOptions o;
    o.stop.max_steps = 0;
    o.stop.plateau_tolerance = 1e-2;
    o.stop.plateau_patience = 3;
    const MinimizeResult r = minimize(*f, *sgd, start_of(*f), o);
    EXPECT_EQ(r.stop_reason, StopReason::plateau);
  }
  // A callback.
  {
    const auto f = make_objective("booth");
    const auto sgd = make_optimizer("sgd:lr=0.01");
    MinimizeOptions o;
    o.on_step = [](const TracePoint& p) { return p.step < 7; };
    const MinimizeResult r = minimize(*f, *sgd, start_of(*f), o);
    EXPECT_EQ(r.stop_reason, StopReason::callback);
    EXPECT_EQ(r.steps, 7u);
  }
}

TEST(Minimize, FollowsASchedule) {
  const auto f = make_objective("parabola");
  const auto sgd = make_optimizer("sgd:lr=0.1");
  MinimizeOptions o;
  o.stop.max_steps = 4;
  o.schedule = make_schedule("step:step_size=2,gamma=0.5", 0.1);
  const MinimizeResult r = minimize(*f, *sgd, start_of(*f), o);
  ASSERT_EQ(r.trajectory.size(), 5u);
  EXPECT_DOUBLE_EQ(r.trajectory[1].lr, 0.1);
  EXPECT_DOUBLE_EQ(r.trajectory[2].lr, 0.1);
  EXPECT_DOUBLE_EQ(r.trajectory[3].lr, 0.05);
  EXPECT_DOUBLE_EQ(r.trajectory[4].lr, 0.05);
}

// A schedule of a fixed number of steps (onecycle) must last the run, as fit() requires:
// past its end the rate is no longer one it defines.
TEST(Minimize, RefusesAScheduleShorterThanTheRun) {
  const auto f = make_objective("parabola");
  const auto sgd = make_optimizer("sgd:lr=0.1");
  MinimizeOptions o;
  o.stop.max_steps = 8;
  o.schedule = make_schedule("onecycle:total_steps=3", 0.01);
  EXPECT_EQ(test::error_message([&] { minimize(*f, *sgd, start_of(*f), o); }),
            "schedule \"onecycle\" defines 3 steps but this run advances it 8 times (once per "
            "optimizer step): raise total_steps or train less");
  o.stop.max_steps = 3;
  const MinimizeResult r = minimize(*f, *sgd, start_of(*f), o);
  EXPECT_EQ(r.trajectory.size(), 4u);
  // Unlimited steps cannot fit a limited schedule either.
  MinimizeOptions open;
  open.stop.max_steps = 0;
  open.stop.grad_tolerance = 1e-3;
  open.schedule = make_schedule("onecycle:total_steps=3", 0.01);
  EXPECT_NE(test::error_message([&] { minimize(*f, *sgd, start_of(*f), open); })
                .find("advances it with no bound on its steps (once per optimizer step): raise "
                      "total_steps or bound the run"),
            std::string::npos);
}

TEST(Minimize, RejectsBadStartsAndOptions) {
  const auto f = make_objective("himmelblau");
  const auto sgd = make_optimizer("sgd:lr=0.01");
  EXPECT_THROW(minimize(*f, *sgd, std::vector<float>{1.0f}), Error);
  EXPECT_THROW(minimize(*f, *sgd, std::vector<float>{1.0f, NAN}), Error);
  MinimizeOptions o;
  o.stop.target_accuracy = 0.9;
  EXPECT_THROW(minimize(*f, *sgd, start_of(*f), o), Error);
  MinimizeOptions never;
  never.stop.max_steps = 0;
  EXPECT_THROW(minimize(*f, *sgd, start_of(*f), never), Error);
  MinimizeOptions clip;
  clip.clip_norm = -1.0;
  EXPECT_THROW(minimize(*f, *sgd, start_of(*f), clip), Error);
  // A trajectory that could not fit in memory is refused before the first step, with the way
  // out; without recording, the same run is not refused for it.
  const auto big = make_objective("quadratic:dim=4096");
  MinimizeOptions huge;
  huge.stop.max_steps = std::size_t{1} << 40;
  const std::string message =
      test::error_message([&] { minimize(*big, *sgd, start_of(*big), huge); });
  EXPECT_NE(message.find("recording the trajectory"), std::string::npos) << message;
  EXPECT_NE(message.find("record_trajectory = false"), std::string::npos) << message;
  huge.record_trajectory = false;
  huge.stop.grad_tolerance = 1e30;  // converged at once
  EXPECT_EQ(minimize(*big, *sgd, start_of(*big), huge).stop_reason, StopReason::converged);
}

}  // namespace
}  // namespace descent
