// The learning-rate range test.

#include "descent/lr_find.hpp"

#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/parallel.hpp"
#include "descent/rng.hpp"
#include "descent/train.hpp"
#include "train/train_detail.hpp"

namespace descent {

namespace {

void check(const LrFindOptions& o) {
  auto bad = [](std::string_view what, double v, std::string_view why) {
    return Error(fmt::format("lr_find: {} = {} is invalid: {}", what, v, why));
  };
  if (!(std::isfinite(o.start_lr) && o.start_lr > 0.0))
    throw bad("start_lr", o.start_lr, "a rate must be a finite number > 0");
  // Every rate of the sweep goes to the optimizer as a 32-bit float: the range must lie
  // within what one holds (below it the rates are 0, above it they overflow).
  if (!(static_cast<float>(o.start_lr) > 0.0f))
    throw bad("start_lr", o.start_lr, "it is 0 as a 32-bit float (at least 1.4e-45)");
  if (!(std::isfinite(o.end_lr) && o.end_lr > o.start_lr))
    throw bad("end_lr", o.end_lr,
              fmt::format("it must be finite and above start_lr ({})", o.start_lr));
  if (!std::isfinite(static_cast<float>(o.end_lr)))
    throw bad("end_lr", o.end_lr, "it is beyond the 32-bit floats' range (at most 3.4e38)");
  if (o.steps < 2) throw bad("steps", static_cast<double>(o.steps), "it takes at least 2 steps");
  // A point is kept per step: a count beyond any use would fill the memory, or run for ever.
  if (o.steps > kMaxLrFindSteps) {
    throw bad("steps", static_cast<double>(o.steps),
              fmt::format("it takes at most {} steps", kMaxLrFindSteps));
  }
  if (!(o.smoothing >= 0.0 && o.smoothing < 1.0))
    throw bad("smoothing", o.smoothing, "it must be in [0, 1)");
  if (!(std::isfinite(o.explode_factor) && o.explode_factor > 1.0))
    throw bad("explode_factor", o.explode_factor, "it must be a finite number > 1");
}

}  // namespace

LrFindResult lr_find(Network& network, const Dataset& data, Optimizer& optimizer, Loss loss,
                     const LrFindOptions& options) {
  check(options);
  detail::check_data(network, loss, data, "lr_find");
  if (data.rows() == 0) throw Error(fmt::format("lr_find: data \"{}\" has no rows", data.name));
  detail::check_classes(loss, data, "lr_find: data");
  // As fit refuses it: every loss would be NaN, read as "exploded at the first rate".
  if (const std::string bad = describe_non_finite_parameter(network); !bad.empty())
    throw Error(fmt::format("lr_find: the network's {}: initialise it first", bad));
  const ThreadScope threads(options.threads);
  Trainer trainer(network, optimizer, loss);
  const std::size_t rows = data.rows();
  const std::size_t batch = options.batch_size == 0 ? rows : std::min(options.batch_size, rows);
  // Refused now where it would not fit, not after the copy below. (What it counts for fit's
  // copy of the parameters is the copy here.)
  trainer.check_memory(batch);
  // The network's parameters and the optimizer's rate and state come back as they were,
  // whatever happens on the way.
  struct Restore {
    Network& network;
    Optimizer& optimizer;
    AlignedBuffer<float> parameters;
    double lr;
    ~Restore() {
      network.set_parameters(parameters.span());
      optimizer.reset();
      optimizer.set_lr(lr);
    }
  } restore{network, optimizer, detail::copy_of(network.parameters()), optimizer.lr()};
  optimizer.reset();
  const detail::PreparedTargets targets = detail::prepare_targets(loss, data);
  trainer.reserve(batch);
  std::vector<std::size_t> order(rows);
  Rng rng(detail::derive_seed(options.seed, 2));
  std::size_t first = rows;  // a new epoch's order at the first step

  LrFindResult result;
  const double ratio = std::log(options.end_lr / options.start_lr);
  double average = 0.0, best = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < options.steps; ++i) {
    if (first + batch > rows) {
      std::iota(order.begin(), order.end(), std::size_t{0});
      if (batch < rows) rng.shuffle(std::span<std::size_t>(order));
      first = 0;
    }
    const double lr = options.start_lr * std::exp(ratio * static_cast<double>(i) /
                                                  static_cast<double>(options.steps - 1));
    optimizer.set_lr(lr);
    const StepRecord step =
        trainer.train_step(data.features.view(), targets.view,
                           std::span<const std::size_t>(order).subspan(first, batch));
    first += batch;
    // The first loss and gradient come before any update: non-finite, the weights or the data
    // are at fault, which no lower rate would mend.
    if (i == 0 && (!std::isfinite(step.loss) || !std::isfinite(step.grad_norm)))
      throw Error("lr_find: " + detail::non_finite_at_start(step));
    average = options.smoothing * average + (1.0 - options.smoothing) * step.loss;
    const double smoothed =
        average / (1.0 - std::pow(options.smoothing, static_cast<double>(i + 1)));
    result.points.push_back({i, lr, step.loss, smoothed});
    if (!std::isfinite(smoothed) || !std::isfinite(step.loss) ||
        (i > 0 && smoothed > options.explode_factor * best)) {
      result.exploded = true;
      break;
    }
    best = std::min(best, smoothed);
  }

  // The suggestion: the steepest fall of the smoothed loss against log(lr), before its
  // lowest point (past it the loss is on its way up). The slope is taken across a few steps
  // (central differences over +-kSpan), and the first tenth of the planned steps is skipped:
  // there the average still rests on a handful of batches.
  const auto& p = result.points;
  std::size_t lowest = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i].smoothed_loss < p[lowest].smoothed_loss) lowest = i;
  result.min_loss_lr = p[lowest].lr;
  result.suggested_lr = p[lowest].lr;
  constexpr std::size_t kSpan = 2;
  const std::size_t skip = std::max(kSpan, options.steps / 10);
  double steepest = 0.0;
  for (std::size_t i = skip; i + kSpan <= lowest; ++i) {
    const LrFindPoint& a = p[i - kSpan];
    const LrFindPoint& b = p[i + kSpan];
    const double slope = (b.smoothed_loss - a.smoothed_loss) / (std::log(b.lr) - std::log(a.lr));
    if (slope < steepest) {
      steepest = slope;
      result.suggested_lr = p[i].lr;
      result.fell = true;
    }
  }
  return result;
}

}  // namespace descent
