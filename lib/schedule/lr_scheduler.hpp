#pragma once
// Internal: torch.optim.lr_scheduler's machinery, mirrored so that descent's schedules take
// the same values step for step, quirks included. A scheduler updates the learning rate of a
// parameter group (Group) either by its chainable rule (step(): the new rate from the
// current one) or by its closed form (step_to(epoch), which SequentialLR uses at a
// milestone). All arithmetic is in double, as in Python.

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "descent/state.hpp"

namespace descent::lr_scheduler {

// The optimizer's parameter group: its current rate and its 'initial_lr'.
struct Group {
  double lr = 0.0;
  double initial_lr = 0.0;
  bool has_initial_lr = false;
};

// torch.optim.lr_scheduler._LRScheduler with last_epoch = -1.
class Scheduler {
 public:
  explicit Scheduler(Group& group) : group_(group) {}
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // __init__: 'initial_lr' defaults to the current rate; base_lr is it; the initial step.
  virtual void construct();
  void initial_step();
  // step(): one more epoch by the chainable rule.
  virtual void step();
  // step(epoch): jump to `epoch` by the closed form where there is one.
  virtual void step_to(long long epoch);

  long long last_epoch() const noexcept { return last_epoch_; }
  void set_last_epoch(long long epoch) noexcept { last_epoch_ = epoch; }
  virtual void visit(StateVisitor& visitor);

 protected:
  virtual double get_lr() = 0;
  virtual double closed_form() { return get_lr(); }
  double lr() const noexcept { return group_.lr; }
  double base_lr() const noexcept { return base_lr_; }
  long long step_count() const noexcept { return step_count_; }
  Group& group_;
  long long last_epoch_ = -1;

 private:
  long long step_count_ = 0;
  double base_lr_ = 0.0;
};

class ConstantRate final : public Scheduler {
 public:
  using Scheduler::Scheduler;

 protected:
  double get_lr() override { return lr(); }
  double closed_form() override { return base_lr(); }
};

class StepLR final : public Scheduler {
 public:
  StepLR(Group& g, long long step_size, double gamma)
      : Scheduler(g), step_size_(step_size), gamma_(gamma) {}

 protected:
  double get_lr() override;
  double closed_form() override;

 private:
  long long step_size_;
  double gamma_;
};

class MultiStepLR final : public Scheduler {
 public:
  MultiStepLR(Group& g, std::vector<long long> milestones, double gamma);

 protected:
  double get_lr() override;
  double closed_form() override;

 private:
  std::vector<long long> milestones_;  // sorted, repeats kept (a Counter in PyTorch)
  double gamma_;
};

class ExponentialLR final : public Scheduler {
 public:
  ExponentialLR(Group& g, double gamma) : Scheduler(g), gamma_(gamma) {}

 protected:
  double get_lr() override;
  double closed_form() override;

 private:
  double gamma_;
};

class CosineAnnealingLR final : public Scheduler {
 public:
  CosineAnnealingLR(Group& g, long long t_max, double eta_min)
      : Scheduler(g), t_max_(t_max), eta_min_(eta_min) {}

 protected:
  double get_lr() override;
  double closed_form() override;

 private:
  long long t_max_;
  double eta_min_;
};

class LinearLR final : public Scheduler {
 public:
  LinearLR(Group& g, double start_factor, double end_factor, long long total_iters)
      : Scheduler(g), start_(start_factor), end_(end_factor), total_(total_iters) {}

 protected:
  double get_lr() override;
  double closed_form() override;

 private:
  double start_, end_;
  long long total_;
};

class PolynomialLR final : public Scheduler {
 public:
  PolynomialLR(Group& g, long long total_iters, double power)
      : Scheduler(g), total_(total_iters), power_(power) {}

 protected:
  double get_lr() override;
  double closed_form() override;

 private:
  long long total_;
  double power_;
};

class CosineAnnealingWarmRestarts final : public Scheduler {
 public:
  CosineAnnealingWarmRestarts(Group& g, long long t_0, long long t_mult, double eta_min)
      : Scheduler(g),
        t_0_(t_0),
        t_mult_(t_mult),
        eta_min_(eta_min),
        t_i_(static_cast<double>(t_0)) {}
  void step() override;
  void step_to(long long epoch) override;
  void visit(StateVisitor& visitor) override;

 protected:
  double get_lr() override;

 private:
  long long t_0_, t_mult_;
  double eta_min_;
  double t_i_;
  double t_cur_ = -1.0;
};

// cycle_momentum=False, anneal_strategy='cos', three_phase=False.
class OneCycleLR final : public Scheduler {
 public:
  OneCycleLR(Group& g, double max_lr, long long total_steps, double pct_start, double div_factor,
             double final_div_factor);
  // Sets the group's 'initial_lr' to max_lr / div_factor first, as OneCycleLR.__init__ does.
  void construct() override;

 protected:
  double get_lr() override;

 private:
  double max_lr_, min_lr_, initial_lr_;
  long long total_steps_;
  double end_step_1_, end_step_2_;
};

// torch.optim.lr_scheduler.SequentialLR([first, second], milestones=[milestone]); first and
// second are constructed (in that order) before this.
class SequentialLR {
 public:
  SequentialLR(Group& group, std::unique_ptr<Scheduler> first, std::unique_ptr<Scheduler> second,
               long long milestone);
  void step();
  void visit(StateVisitor& visitor);
  long long last_epoch() const noexcept { return last_epoch_; }

 private:
  Group& group_;
  std::unique_ptr<Scheduler> first_, second_;
  long long milestone_;
  long long last_epoch_ = 0;
};

}  // namespace descent::lr_scheduler
