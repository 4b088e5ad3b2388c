// torch.optim.lr_scheduler (PyTorch 1.13, unchanged in its chainable rules since), in C++.

#include "schedule/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace descent::lr_scheduler {
namespace {

constexpr double kPi = std::numbers::pi;

// Python's floor division and modulo for the integers the schedules use.
long long floor_div(long long a, long long b) {
  long long q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
long long py_mod(long long a, long long b) {
  return a - b * floor_div(a, b);
}

constexpr double kMaxRate = std::numeric_limits<double>::max();

// Visits an integer >= min as a double (exact below 2^53; restoring checks the range before
// the cast).
void visit_integer(StateVisitor& v, std::string_view name, long long& value, double min) {
  double x = static_cast<double>(value);
  v.whole(name, x, min);
  value = static_cast<long long>(x);
}

}  // namespace

void Scheduler::construct() {
  if (!group_.has_initial_lr) {
    group_.initial_lr = group_.lr;
    group_.has_initial_lr = true;
  }
  base_lr_ = group_.initial_lr;
  last_epoch_ = -1;
  initial_step();
}

void Scheduler::initial_step() {
  step_count_ = 0;
  step();
}

void Scheduler::step() {
  ++step_count_;
  ++last_epoch_;
  group_.lr = get_lr();
}

void Scheduler::step_to(long long epoch) {
  ++step_count_;
  last_epoch_ = epoch;
  group_.lr = closed_form();
}

void Scheduler::visit(StateVisitor& v) {
  visit_integer(v, "last_epoch", last_epoch_, -1.0);
  visit_integer(v, "step_count", step_count_, 0.0);
  v.bounded("base_lr", base_lr_, 0.0, kMaxRate);
}

double StepLR::get_lr() {
  if (last_epoch_ == 0 || py_mod(last_epoch_, step_size_) != 0) return lr();
  return lr() * gamma_;
}

double StepLR::closed_form() {
  return base_lr() * std::pow(gamma_, static_cast<double>(floor_div(last_epoch_, step_size_)));
}

MultiStepLR::MultiStepLR(Group& g, std::vector<long long> milestones, double gamma)
    : Scheduler(g), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
}

double MultiStepLR::get_lr() {
  const auto count = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  if (count == 0) return lr();
  return lr() * std::pow(gamma_, static_cast<double>(count));
}

double MultiStepLR::closed_form() {
  const auto passed =
      std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin();
  return base_lr() * std::pow(gamma_, static_cast<double>(passed));
}

double ExponentialLR::get_lr() {
  return last_epoch_ == 0 ? lr() : lr() * gamma_;
}

double ExponentialLR::closed_form() {
  return base_lr() * std::pow(gamma_, static_cast<double>(last_epoch_));
}

double CosineAnnealingLR::get_lr() {
  const double t = static_cast<double>(last_epoch_);
  const double t_max = static_cast<double>(t_max_);
  if (last_epoch_ == 0) return lr();
  if (step_count() == 1 && last_epoch_ > 0) {
    return eta_min_ + (base_lr() - eta_min_) * (1.0 + std::cos(t * kPi / t_max)) / 2.0;
  }
  if (py_mod(last_epoch_ - 1 - t_max_, 2 * t_max_) == 0) {
    return lr() + (base_lr() - eta_min_) * (1.0 - std::cos(kPi / t_max)) / 2.0;
  }
  return (1.0 + std::cos(kPi * t / t_max)) / (1.0 + std::cos(kPi * (t - 1.0) / t_max)) *
             (lr() - eta_min_) +
         eta_min_;
}

double CosineAnnealingLR::closed_form() {
  return eta_min_ + (base_lr() - eta_min_) *
                        (1.0 + std::cos(kPi * static_cast<double>(last_epoch_) /
                                        static_cast<double>(t_max_))) /
                        2.0;
}

double LinearLR::get_lr() {
  if (last_epoch_ == 0) return lr() * start_;
  if (last_epoch_ > total_) return lr();
  // torch's chained form; with both factors >= 0 a rate below 0 is only rounding (end_factor 0
  // gives -7e-19 at the end), which the optimizer would refuse as a rate.
  return std::max(0.0, lr() * (1.0 + (end_ - start_) /
                                         (static_cast<double>(total_) * start_ +
                                          static_cast<double>(last_epoch_ - 1) * (end_ - start_))));
}

double LinearLR::closed_form() {
  return base_lr() *
         (start_ + (end_ - start_) * static_cast<double>(std::min(total_, last_epoch_)) /
                       static_cast<double>(total_));
}

double PolynomialLR::get_lr() {
  if (last_epoch_ == 0 || last_epoch_ > total_) return lr();
  const double t = static_cast<double>(last_epoch_), total = static_cast<double>(total_);
  const double decay = std::pow((1.0 - t / total) / (1.0 - (t - 1.0) / total), power_);
  return lr() * decay;
}

double PolynomialLR::closed_form() {
  return base_lr() * std::pow(1.0 - static_cast<double>(std::min(total_, last_epoch_)) /
                                        static_cast<double>(total_),
                              power_);
}

double CosineAnnealingWarmRestarts::get_lr() {
  return eta_min_ + (base_lr() - eta_min_) * (1.0 + std::cos(kPi * t_cur_ / t_i_)) / 2.0;
}

void CosineAnnealingWarmRestarts::step() {
  // PyTorch's step(epoch=None): the first call (last_epoch < 0) is step(0).
  if (last_epoch_ < 0) {
    step_to(0);
    return;
  }
  const long long epoch = last_epoch_ + 1;
  t_cur_ += 1.0;
  if (t_cur_ >= t_i_) {
    t_cur_ -= t_i_;
    t_i_ *= static_cast<double>(t_mult_);
  }
  last_epoch_ = epoch;
  group_.lr = get_lr();
}

void CosineAnnealingWarmRestarts::step_to(long long epoch) {
  const double e = static_cast<double>(epoch), t_0 = static_cast<double>(t_0_);
  if (epoch >= t_0_) {
    if (t_mult_ == 1) {
      t_cur_ = static_cast<double>(py_mod(epoch, t_0_));
    } else {
      const double m = static_cast<double>(t_mult_);
      const auto n = static_cast<long long>(std::log(e / t_0 * (m - 1.0) + 1.0) / std::log(m));
      t_cur_ = e - t_0 * (std::pow(m, static_cast<double>(n)) - 1.0) / (m - 1.0);
      t_i_ = t_0 * std::pow(m, static_cast<double>(n));
    }
  } else {
    t_i_ = t_0;
    t_cur_ = e;
  }
  last_epoch_ = epoch;
  group_.lr = get_lr();
}

void CosineAnnealingWarmRestarts::visit(StateVisitor& v) {
  Scheduler::visit(v);
  // T_0 T_mult^n: with T_mult up to 2^63 it passes 2^53 after one restart.
  v.bounded("T_i", t_i_, 1.0, std::numeric_limits<double>::max());
  v.bounded("T_cur", t_cur_, -kMaxRate, kMaxRate);
}

OneCycleLR::OneCycleLR(Group& g, double max_lr, long long total_steps, double pct_start,
                       double div_factor, double final_div_factor)
    : Scheduler(g),
      max_lr_(max_lr),
      min_lr_(max_lr / div_factor / final_div_factor),
      initial_lr_(max_lr / div_factor),
      total_steps_(total_steps),
      end_step_1_(pct_start * static_cast<double>(total_steps) - 1.0),
      end_step_2_(static_cast<double>(total_steps) - 1.0) {}

void OneCycleLR::construct() {
  group_.initial_lr = initial_lr_;
  group_.has_initial_lr = true;
  Scheduler::construct();
}

double OneCycleLR::get_lr() {
  // PyTorch raises past total_steps; descent keeps the last rate (the trainer refuses a run
  // that would get there).
  if (last_epoch_ > total_steps_) return lr();
  const double step = static_cast<double>(last_epoch_);
  // pct_start = 1: no second phase, where PyTorch divides by zero; the rate stays.
  if (step > end_step_1_ && end_step_2_ == end_step_1_) return lr();
  auto anneal = [](double start, double end, double pct) {
    return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0);
  };
  if (step <= end_step_1_) return anneal(initial_lr_, max_lr_, step / end_step_1_);
  return anneal(max_lr_, min_lr_, (step - end_step_1_) / (end_step_2_ - end_step_1_));
}

SequentialLR::SequentialLR(Group& group, std::unique_ptr<Scheduler> first,
                           std::unique_ptr<Scheduler> second, long long milestone)
    : group_(group), first_(std::move(first)), second_(std::move(second)), milestone_(milestone) {
  group_.lr = group_.initial_lr;
  first_->set_last_epoch(first_->last_epoch() - 1);
  second_->set_last_epoch(second_->last_epoch() - 1);
  first_->initial_step();
  last_epoch_ = 0;
}

void SequentialLR::step() {
  ++last_epoch_;
  if (last_epoch_ < milestone_) {
    first_->step();
  } else if (last_epoch_ == milestone_) {
    second_->step_to(0);
  } else {
    second_->step();
  }
}

void SequentialLR::visit(StateVisitor& v) {
  visit_integer(v, "sequential.last_epoch", last_epoch_, 0.0);
  first_->visit(v);
  second_->visit(v);
}

}  // namespace descent::lr_scheduler
