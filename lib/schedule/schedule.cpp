// make_schedule: spec strings to schedules. Every schedule but plateau is one of
// torch.optim.lr_scheduler's, or SequentialLR(warmup LinearLR, it), run by lr_scheduler.cpp.

#include "descent/schedule.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/state_io.hpp"
#include "descent/error.hpp"
#include "descent/spec.hpp"
#include "schedule/lr_scheduler.hpp"

namespace descent {
namespace {

using namespace lr_scheduler;

constexpr std::string_view kScheduleStateMagic{"DSNTSCH1", 8};
constexpr double kMaxRate = std::numeric_limits<double>::max();
// A spec's length: its canonical form (numbers written out, every default added) stays
// below the 1 MiB a checkpoint reads.
constexpr std::size_t kMaxSpecLength = 100000;

const std::vector<std::string>& names() {
  static const std::vector<std::string> n = {
      "constant",        "step",   "multistep",  "exponential", "cosine",
      "cosine_restarts", "linear", "polynomial", "onecycle",    "plateau"};
  return n;
}

// A schedule of torch.optim.lr_scheduler, alone or after a linear warmup.
class TorchSchedule final : public Schedule {
 public:
  TorchSchedule(std::string name, double base_lr) : Schedule(base_lr), name_(std::move(name)) {
    group_.lr = base_lr;
  }
  Group& group() { return group_; }
  void start(std::unique_ptr<Scheduler> main, long long warmup_iters, double warmup_start,
             std::optional<std::size_t> limit) {
    limit_ = limit;
    if (warmup_iters == 0) {
      main_ = std::move(main);
    } else {
      // The order a PyTorch script builds them in: the warmup, the schedule, SequentialLR.
      auto warmup = std::make_unique<LinearLR>(group_, warmup_start, 1.0, warmup_iters);
      warmup->construct();
      main->construct();
      sequential_ =
          std::make_unique<SequentialLR>(group_, std::move(warmup), std::move(main), warmup_iters);
    }
    if (main_) main_->construct();
    set_rate(group_.lr);
  }

  using Schedule::step;
  void step() override {
    if (sequential_) {
      sequential_->step();
    } else {
      main_->step();
    }
    set_rate(group_.lr);
  }
  std::string_view name() const override { return name_; }
  std::optional<std::size_t> step_limit() const override { return limit_; }
  std::size_t steps_taken() const override {
    const long long epoch = sequential_ ? sequential_->last_epoch() : main_->last_epoch();
    return epoch > 0 ? static_cast<std::size_t>(epoch) : 0;
  }

 protected:
  void visit_state(StateVisitor& v) override {
    v.bounded("lr", group_.lr, 0.0, kMaxRate);
    v.bounded("initial_lr", group_.initial_lr, 0.0, kMaxRate);
    if (sequential_) {
      sequential_->visit(v);
    } else {
      main_->visit(v);
    }
    set_rate(group_.lr);
  }

 private:
  std::string name_;
  Group group_;
  std::unique_ptr<Scheduler> main_;
  std::unique_ptr<SequentialLR> sequential_;
  std::optional<std::size_t> limit_;
};

// torch.optim.lr_scheduler.ReduceLROnPlateau.
class PlateauSchedule final : public Schedule {
 public:
  struct Options {
    bool maximize = false;  // mode=max
    double factor = 0.1;
    long long patience = 10;
    double threshold = 1e-4;
    bool relative = true;  // threshold_mode=rel
    long long cooldown = 0;
    double min_lr = 0.0;
    double eps = 1e-8;
  };
  PlateauSchedule(double base_lr, const Options& o)
      : Schedule(base_lr),
        o_(o),
        best_(o.maximize ? -std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::infinity()) {}

  using Schedule::step;
  void step() override {
    throw Error("schedule \"plateau\" steps with the monitored value: call step(metric)");
  }
  void step(double metric) override {
    ++last_epoch_;
    if (better(metric)) {
      best_ = metric;
      bad_epochs_ = 0;
    } else {
      ++bad_epochs_;
    }
    if (cooldown_counter_ > 0) {
      --cooldown_counter_;
      bad_epochs_ = 0;  // bad epochs in cooldown do not count
    }
    if (bad_epochs_ > o_.patience) {
      const double old_lr = rate();
      const double new_lr = std::max(old_lr * o_.factor, o_.min_lr);
      if (old_lr - new_lr > o_.eps) set_rate(new_lr);
      cooldown_counter_ = o_.cooldown;
      bad_epochs_ = 0;
    }
  }
  std::string_view name() const override { return "plateau"; }
  bool needs_metric() const override { return true; }
  std::size_t steps_taken() const override { return static_cast<std::size_t>(last_epoch_); }

 protected:
  void visit_state(StateVisitor& v) override {
    double lr = rate();
    v.bounded("lr", lr, 0.0, kMaxRate);
    set_rate(lr);
    constexpr double inf = std::numeric_limits<double>::infinity();
    v.bounded("best", best_, -inf, inf);
    v.whole("num_bad_epochs", bad_epochs_, 0.0);
    v.whole("cooldown_counter", cooldown_counter_, 0.0);
    v.whole("last_epoch", last_epoch_, 0.0);
  }

 private:
  bool better(double a) const {
    if (!o_.maximize)
      return o_.relative ? a < best_ * (1.0 - o_.threshold) : a < best_ - o_.threshold;
    return o_.relative ? a > best_ * (o_.threshold + 1.0) : a > best_ + o_.threshold;
  }

  Options o_;
  double best_;
  // Counters as doubles: visited as scalars, exact far beyond any run's length.
  double bad_epochs_ = 0.0;
  double cooldown_counter_ = 0.0;
  double last_epoch_ = 0.0;
};

}  // namespace

void Schedule::step(double metric) {
  (void)metric;
  step();
}

std::vector<char> Schedule::save_state() const {
  auto& self = const_cast<Schedule&>(*this);
  return state_io::write(kScheduleStateMagic, owner(), rate_,
                         [&](StateVisitor& v) { self.visit_state(v); });
}

void Schedule::load_state(std::span<const char> bytes) {
  // A state saved under the name alone (before states named the spec) is still read.
  state_io::read(
      bytes, kScheduleStateMagic, owner(), "schedule state",
      [&](StateVisitor& v) { visit_state(v); }, spec_.empty() ? std::string_view{} : name());
}

std::string_view Schedule::owner() const {
  return spec_.empty() ? name() : std::string_view(spec_);
}

std::vector<std::string> schedule_names() {
  return names();
}

std::unique_ptr<Schedule> make_schedule(std::string_view text, double base_lr) {
  if (!std::isfinite(base_lr) || base_lr < 0.0) {
    throw Error(fmt::format("schedule: base learning rate {} is invalid", base_lr));
  }
  // Its canonical form names a saved state and a checkpoint's run, which read at most 1 MiB.
  if (text.size() > kMaxSpecLength) {
    throw Error(fmt::format("schedule: a spec of {} characters is too long (at most {})",
                            text.size(), kMaxSpecLength));
  }
  const Spec spec = Spec::parse(text, "schedule");
  const std::string& name = spec.name;
  bool known = false;
  for (const auto& n : names()) known = known || n == name;
  if (!known) {
    throw Error(fmt::format("unknown schedule \"{}\" (known: {})", name, fmt::join(names(), ", ")));
  }
  SpecReader r(spec, "schedule");
  // A rate the schedule reaches is used as the optimizer's (float arithmetic), so it is held
  // to --lr's limits: beyond float's range every update overflows.
  auto check_rate = [&r](const char* key, double rate) {
    if (rate > static_cast<double>(std::numeric_limits<float>::max()))
      r.invalid(key, "too large for the 32-bit floats the parameters are (at most 3.4e38)");
  };

  if (name == "plateau") {
    PlateauSchedule::Options o;
    o.maximize = r.choice("mode", "min", {"min", "max"}) == "max";
    o.factor = r.number("factor", o.factor);
    if (!(o.factor >= 0.0 && o.factor < 1.0)) r.invalid("factor", "must be in [0, 1)");
    o.patience = r.integer("patience", o.patience, 0);
    o.threshold = r.number("threshold", o.threshold);
    if (o.threshold < 0.0) r.invalid("threshold", "must be >= 0");
    o.relative = r.choice("threshold_mode", "rel", {"rel", "abs"}) == "rel";
    o.cooldown = r.integer("cooldown", o.cooldown, 0);
    o.min_lr = r.number("min_lr", o.min_lr);
    if (o.min_lr < 0.0) r.invalid("min_lr", "must be >= 0");
    check_rate("min_lr", o.min_lr);
    o.eps = r.number("eps", o.eps);
    if (o.eps < 0.0) r.invalid("eps", "must be >= 0");
    if (spec.has("warmup_iters") || spec.has("warmup_start_factor")) {
      throw Error(
          "schedule \"plateau\": warmup is not available for plateau (it is not a "
          "PyTorch LRScheduler that SequentialLR can chain)");
    }
    r.finish();
    auto plateau = std::make_unique<PlateauSchedule>(base_lr, o);
    plateau->spec_ = fmt::format("{} (base rate {})", r.canonical(), base_lr);
    return plateau;
  }

  auto schedule = std::make_unique<TorchSchedule>(name, base_lr);
  Group& g = schedule->group();
  std::unique_ptr<Scheduler> main;
  std::optional<std::size_t> limit;
  if (name == "constant") {
    main = std::make_unique<ConstantRate>(g);
  } else if (name == "step") {
    if (!spec.has("step_size")) r.required("step_size");
    const long long step_size = r.integer("step_size", 1, 1);
    const double gamma = r.number("gamma", 0.1);
    if (gamma < 0.0) r.invalid("gamma", "must be >= 0");
    main = std::make_unique<StepLR>(g, step_size, gamma);
  } else if (name == "multistep") {
    if (!spec.has("milestones")) r.required("milestones", "milestones=[30,80]");
    std::vector<long long> milestones;
    for (double m : r.numbers("milestones", {})) {
      if (m != std::floor(m) || m < 0.0 || m > 9.0e15)
        r.invalid("milestones", "must be whole numbers >= 0");
      milestones.push_back(static_cast<long long>(m));
    }
    const double gamma = r.number("gamma", 0.1);
    if (gamma < 0.0) r.invalid("gamma", "must be >= 0");
    main = std::make_unique<MultiStepLR>(g, milestones, gamma);
  } else if (name == "exponential") {
    if (!spec.has("gamma")) r.required("gamma");
    const double gamma = r.number("gamma", 1.0);
    if (gamma < 0.0) r.invalid("gamma", "must be >= 0");
    main = std::make_unique<ExponentialLR>(g, gamma);
  } else if (name == "cosine") {
    if (!spec.has("T_max")) r.required("T_max");
    const long long t_max = r.integer("T_max", 1, 1);
    const double eta_min = r.number("eta_min", 0.0);
    if (eta_min < 0.0) r.invalid("eta_min", "must be >= 0");
    check_rate("eta_min", eta_min);
    main = std::make_unique<CosineAnnealingLR>(g, t_max, eta_min);
  } else if (name == "cosine_restarts") {
    if (!spec.has("T_0")) r.required("T_0");
    const long long t_0 = r.integer("T_0", 1, 1);
    const long long t_mult = r.integer("T_mult", 1, 1);
    const double eta_min = r.number("eta_min", 0.0);
    if (eta_min < 0.0) r.invalid("eta_min", "must be >= 0");
    check_rate("eta_min", eta_min);
    main = std::make_unique<CosineAnnealingWarmRestarts>(g, t_0, t_mult, eta_min);
  } else if (name == "linear") {
    const double start = r.number("start_factor", 1.0 / 3.0);
    if (!(start > 0.0 && start <= 1.0)) r.invalid("start_factor", "must be in (0, 1]");
    const double end = r.number("end_factor", 1.0);
    if (!(end >= 0.0 && end <= 1.0)) r.invalid("end_factor", "must be in [0, 1]");
    main = std::make_unique<LinearLR>(g, start, end, r.integer("total_iters", 5, 1));
  } else if (name == "polynomial") {
    const long long total = r.integer("total_iters", 5, 1);
    const double power = r.number("power", 1.0);
    if (power < 0.0) r.invalid("power", "must be >= 0");
    main = std::make_unique<PolynomialLR>(g, total, power);
  } else if (name == "onecycle") {
    const double max_lr = r.number("max_lr", base_lr);
    if (!(max_lr > 0.0)) r.invalid("max_lr", "must be > 0");
    check_rate("max_lr", max_lr);
    if (!(static_cast<float>(max_lr) > 0.0f))
      r.invalid("max_lr",
                "so small that it is 0 as a 32-bit float (no update would change anything)");
    if (!spec.has("total_steps")) r.required("total_steps");
    const long long total = r.integer("total_steps", 1, 1);
    const double pct = r.number("pct_start", 0.3);
    if (!(pct >= 0.0 && pct <= 1.0)) r.invalid("pct_start", "must be in [0, 1]");
    // PyTorch divides by pct_start * total_steps - 1 in the first phase: with a product of 1
    // it raises ZeroDivisionError at once. Below 1 the first phase is empty, and PyTorch
    // anneals from the start. With pct_start = 1 the second phase is empty: the rate warms up
    // for total_steps - 1 steps, and the next step divides by zero (so the limit is one less).
    if (pct * static_cast<double>(total) == 1.0) {
      r.invalid("pct_start",
                "needs pct_start * total_steps other than 1 (PyTorch divides by zero there)");
    }
    const double div = r.number("div_factor", 25.0);
    if (!(div > 0.0)) r.invalid("div_factor", "must be > 0");
    const double final_div = r.number("final_div_factor", 1e4);
    if (!(final_div > 0.0)) r.invalid("final_div_factor", "must be > 0");
    main = std::make_unique<OneCycleLR>(g, max_lr, total, pct, div, final_div);
    // No second phase where pct_start * total_steps rounds to total_steps (pct_start = 1, or
    // just under): OneCycleLR keeps the rate there, PyTorch divides by zero.
    const double steps = static_cast<double>(total);
    limit = static_cast<std::size_t>(pct * steps == steps ? total - 1 : total);
  }
  const long long warmup_iters = r.integer("warmup_iters", 0, 0);
  const double warmup_start = r.number("warmup_start_factor", 1.0 / 3.0);
  if (!(warmup_start > 0.0 && warmup_start <= 1.0))
    r.invalid("warmup_start_factor", "must be in (0, 1]");
  if (warmup_iters == 0 && spec.has("warmup_start_factor"))
    r.invalid("warmup_start_factor", "needs warmup_iters > 0");
  r.finish();
  if (limit) *limit += static_cast<std::size_t>(warmup_iters);
  schedule->start(std::move(main), warmup_iters, warmup_start, limit);
  schedule->spec_ = fmt::format("{} (base rate {})", r.canonical(), base_lr);
  return schedule;
}

}  // namespace descent
