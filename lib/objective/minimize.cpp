// minimize(): gradient descent on any Objective, with the trainer's stop criteria.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "core/memory.hpp"
#include "descent/error.hpp"
#include "descent/objective.hpp"
#include "train/train_detail.hpp"

namespace descent {

namespace {

using Clock = std::chrono::steady_clock;

double norm(std::span<const float> v) {
  double s = 0.0;
  for (const float x : v) s += static_cast<double>(x) * static_cast<double>(x);
  return std::sqrt(s);
}

void check_options(const MinimizeOptions& o) {
  const StopCriteria& s = o.stop;
  detail::check_stop_criteria(s, o.clip_norm, o.clip_value);
  if (s.target_accuracy)
    throw Error("minimize: target_accuracy needs validation data; an objective has a value only");
  if (s.early_stopping_patience > 0)
    throw Error("minimize: early stopping needs validation data; an objective has a value only");
  if (s.max_steps == 0 && s.max_seconds == 0.0 && s.grad_tolerance == 0.0 && !s.target_loss &&
      s.plateau_tolerance == 0.0 && !o.on_step) {
    throw Error("minimize: no way to stop: set max_steps or another stop criterion");
  }
  if (o.schedule) {
    detail::check_schedule_lasts(*o.schedule, o.schedule->steps_taken(),
                                 s.max_steps == 0 ? std::nullopt : std::optional(s.max_steps),
                                 "optimizer step");
  }
}

// The bytes a trajectory of `points` points of `n` coordinates holds (saturating).
std::size_t trajectory_bytes(std::size_t points, std::size_t n) {
  const std::size_t per_point = sizeof(TracePoint) + n * sizeof(float);
  return points > SIZE_MAX / per_point ? SIZE_MAX : points * per_point;
}

std::string trajectory_too_large(std::size_t points, std::size_t n) {
  return fmt::format(
      "minimize: recording the trajectory ({} points of {} coordinates, {:.1f} GiB) would "
      "leave less than {} MiB of memory: take fewer steps (max_steps), or set "
      "record_trajectory = false",
      points, n, static_cast<double>(trajectory_bytes(points, n)) / (1024.0 * 1024.0 * 1024.0),
      detail::kKeepFreeMiB);
}

}  // namespace

MinimizeResult minimize(Objective& objective, Optimizer& optimizer, std::span<const float> start,
                        const MinimizeOptions& options) {
  const std::size_t n = objective.dimension();
  if (start.size() != n) {
    throw Error(fmt::format("minimize: {} takes a point of {} coordinates, the start has {}",
                            objective.name(), n, start.size()));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(start[i]))
      throw Error(fmt::format("minimize: coordinate {} of the start is {}", i, start[i]));
  }
  check_options(options);
  const StopCriteria& crit = options.stop;
  // The start and one point a step, known up front where max_steps bounds the run; otherwise
  // checked as it doubles.
  if (options.record_trajectory && crit.max_steps > 0 && crit.max_steps < SIZE_MAX &&
      !detail::memory_left_for(trajectory_bytes(crit.max_steps + 1, n))) {
    throw Error(trajectory_too_large(crit.max_steps + 1, n));
  }
  optimizer.prepare(n);

  MinimizeResult result;
  std::vector<float> x(start.begin(), start.end()), last_good = x, grad(n);
  const auto began = Clock::now();
  double first_value = 0.0, previous_value = 0.0, lr_used = 0.0;
  std::size_t flat_steps = 0;
  auto stop = [&](StopReason reason, std::string message) {
    result.stop_reason = reason;
    result.stop_message = std::move(message);
  };
  for (std::size_t step = 0;; ++step) {
    const double value = objective.value_and_gradient(x, grad);
    const double gnorm = norm(grad);
    TracePoint here{step, x, value, gnorm, lr_used};
    const bool finite = std::isfinite(value) && std::isfinite(gnorm);
    // No finite point to fall back on, and no learning rate to blame: the start is wrong.
    if (step == 0 && !finite) {
      // (Only the quadratic has settings that make its numbers larger.)
      const bool quadratic = objective.name().starts_with("quadratic");
      throw Error(fmt::format(
          "minimize: at the start, {}'s {} is {}: no step can be taken from there; start "
          "nearer its minimum{}",
          objective.name(), std::isfinite(value) ? "gradient norm" : "value",
          number_text(std::isfinite(value) ? gnorm : value),
          quadratic ? ", or give the function milder settings (a smaller scale or condition)"
                    : ""));
    }
    if (step == 0) first_value = value;
    const double bound = crit.divergence_factor * std::max(std::abs(first_value), 1.0);
    const bool exploded = finite && step > 0 && crit.divergence_factor > 0.0 && value > bound;
    // A point that diverged is not kept: the one before it is the result.
    if (finite && !exploded) {
      last_good = x;
      result.value = value;
      result.grad_norm = gnorm;
    }
    if (options.record_trajectory) {
      auto& t = result.trajectory;
      if (t.size() == t.capacity() && t.size() >= 1024 &&
          !detail::memory_left_for(trajectory_bytes(t.size(), n))) {
        throw Error(trajectory_too_large(2 * t.size(), n));
      }
      t.push_back(here);
    }
    if (step > 0 && options.on_step && !options.on_step(here)) {
      stop(StopReason::callback, fmt::format("a callback stopped the descent at step {}", step));
      break;
    }
    if (!finite) {
      stop(StopReason::diverged,
           fmt::format("at step {} the {} is {}; the last finite point was kept -- try a "
                       "smaller learning rate than {}",
                       step, std::isfinite(value) ? "gradient norm" : "value",
                       number_text(std::isfinite(value) ? gnorm : value), optimizer.lr()));
      break;
    }
    if (exploded) {
      stop(StopReason::diverged,
           fmt::format("at step {} the value {:.6g} exceeds {} x the first ({:.6g}); the point "
                       "before it was kept -- try a smaller learning rate than {}",
                       step, value, crit.divergence_factor, first_value, optimizer.lr()));
      break;
    }
    if (crit.target_loss && value <= *crit.target_loss) {
      stop(StopReason::target_reached,
           fmt::format("the value {:.6g} reached the target {} at step {}", value,
                       *crit.target_loss, step));
      break;
    }
    if (gnorm <= crit.grad_tolerance) {
      stop(StopReason::converged,
           fmt::format("the gradient norm {:.3g} is within the tolerance {} at step {}: the "
                       "gradient is about zero",
                       gnorm, crit.grad_tolerance, step));
      break;
    }
    if (crit.plateau_tolerance > 0.0 && step > 0) {
      const double change =
          std::abs(value - previous_value) / std::max(std::abs(previous_value), 1e-300);
      flat_steps = change < crit.plateau_tolerance ? flat_steps + 1 : 0;
      if (flat_steps >= crit.plateau_patience) {
        stop(StopReason::plateau,
             fmt::format("the value changed by less than {} for {} steps in a row (step {})",
                         crit.plateau_tolerance, crit.plateau_patience, step));
        break;
      }
    }
    previous_value = value;
    if (crit.max_steps > 0 && step >= crit.max_steps) {
      stop(StopReason::max_steps, fmt::format("took the {} steps asked for", crit.max_steps));
      break;
    }
    if (crit.max_seconds > 0.0 &&
        std::chrono::duration<double>(Clock::now() - began).count() >= crit.max_seconds) {
      stop(StopReason::time_budget,
           fmt::format("ran out of the {} s budget after {} steps", crit.max_seconds, step));
      break;
    }
    // The update: the schedule's rate, clipping as torch's clip_grad_*_, the optimizer.
    if (options.schedule) optimizer.set_lr(options.schedule->rate());
    if (options.clip_value > 0.0) {
      const auto c = static_cast<float>(options.clip_value);
      for (float& g : grad) g = std::clamp(g, -c, c);
    }
    if (options.clip_norm > 0.0) {
      const double total = options.clip_value > 0.0 ? norm(grad) : gnorm;
      const double coef = options.clip_norm / (total + 1e-6);
      if (coef < 1.0)
        for (float& g : grad) g = static_cast<float>(g * coef);
    }
    lr_used = optimizer.lr();
    optimizer.step(x, grad);
    ++result.steps;
    if (options.schedule) {
      if (options.schedule->needs_metric()) {
        options.schedule->step(value);
      } else {
        options.schedule->step();
      }
    }
  }
  result.point = last_good;
  result.seconds = std::chrono::duration<double>(Clock::now() - began).count();
  return result;
}

}  // namespace descent
