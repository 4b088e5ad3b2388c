#pragma once
// Learning-rate schedules with the values of torch.optim.lr_scheduler, step for step.
//
//   auto s = descent::make_schedule("cosine:T_max=50,warmup_iters=5", optimizer.lr());
//   optimizer.set_lr(s->lr());        // the rate for the coming step
//   ... train one epoch (or one step) ...
//   s->step();                        // plateau: s->step(validation_loss)
//   optimizer.set_lr(s->lr());
//
// Spec names and keys (PyTorch's scheduler, its defaults):
//   constant                                 the rate stays
//   step            step_size, gamma=0.1     StepLR
//   multistep       milestones=[..], gamma=0.1   MultiStepLR
//   exponential     gamma                    ExponentialLR
//   cosine          T_max, eta_min=0         CosineAnnealingLR (and what it does past T_max)
//   cosine_restarts T_0, T_mult=1, eta_min=0 CosineAnnealingWarmRestarts
//   linear          start_factor=1/3, end_factor=1, total_iters=5   LinearLR
//   polynomial      total_iters=5, power=1   PolynomialLR
//   onecycle        max_lr (default: the base rate), total_steps, pct_start=0.3,
//                   div_factor=25, final_div_factor=1e4   OneCycleLR, cosine annealing,
//                   the rate only (cycle_momentum=False)
//   plateau         mode=min, factor=0.1, patience=10, threshold=1e-4, threshold_mode=rel,
//                   cooldown=0, min_lr=0, eps=1e-8   ReduceLROnPlateau
// Every schedule but plateau also takes warmup_iters and warmup_start_factor (default 1/3):
// SequentialLR([LinearLR(start_factor=warmup_start_factor, total_iters=warmup_iters),
// schedule], milestones=[warmup_iters]).

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace descent {

class StateVisitor;

class Schedule {
 public:
  virtual ~Schedule() = default;

  // The learning rate for the coming step.
  float lr() const noexcept { return static_cast<float>(rate_); }
  // The same, in the double precision it is computed in.
  double rate() const noexcept { return rate_; }
  // Advances one unit (an epoch, or an optimizer step). For plateau, an Error: it needs the
  // monitored value.
  virtual void step() = 0;
  // Advances one epoch given the monitored value; schedules other than plateau ignore it.
  virtual void step(double metric);
  // The spec's name ("cosine", ...).
  virtual std::string_view name() const = 0;
  // plateau: steps once per epoch with a metric, whatever the trainer's setting.
  virtual bool needs_metric() const { return false; }
  // How many step() calls the schedule defines (onecycle: warmup_iters + total_steps, one less
  // with pct_start = 1), or nothing when unlimited. fit() and minimize() refuse a run that
  // would step past it; there the rate is no longer one the schedule defines (onecycle's
  // cosine turns back up, as torch's does at its last allowed step).
  virtual std::optional<std::size_t> step_limit() const { return std::nullopt; }
  // How many times it has advanced (step() or step(metric)) since it was made, or since the
  // state load_state read; 0 for a schedule that does not count. A run that takes a schedule
  // part-way through counts its step_limit from here.
  virtual std::size_t steps_taken() const { return 0; }

  // The position in the schedule as bytes, and back (checkpoints). load_state throws
  // descent::Error for another schedule's state (another name, or, for schedules make_schedule
  // built, another spec or base rate) or damaged bytes.
  std::vector<char> save_state() const;
  void load_state(std::span<const char> bytes);

  // What make_schedule built it from: the spec with every key and its effective value, and
  // the base rate (empty for a schedule built otherwise). Checkpoints compare it.
  const std::string& spec() const noexcept { return spec_; }

 protected:
  explicit Schedule(double rate) : rate_(rate) {}
  void set_rate(double rate) noexcept { rate_ = rate; }
  virtual void visit_state(StateVisitor& visitor) = 0;

 private:
  friend std::unique_ptr<Schedule> make_schedule(std::string_view spec, double base_lr);
  // What a saved state is for: the spec, or the name where there is none.
  std::string_view owner() const;
  double rate_;
  std::string spec_;
};

// Builds a schedule from its spec for an optimizer whose learning rate is base_lr. Throws
// descent::Error for an unknown name or key, or an unparsable or invalid value.
std::unique_ptr<Schedule> make_schedule(std::string_view spec, double base_lr);

// The schedule names make_schedule knows.
std::vector<std::string> schedule_names();

}  // namespace descent
