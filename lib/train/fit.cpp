// Trainer::fit, the loop: batching and shuffling, the schedule, clipping, stop criteria,
// divergence, diagnostics, history, callbacks and checkpoints. And train(), the recipe.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "core/bytes.hpp"
#include "descent/error.hpp"
#include "descent/parallel.hpp"
#include "kernels/kernel_table.hpp"
#include "train/run.hpp"
#include "train/train_detail.hpp"

namespace descent {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kVanishing = 1e-7;  // a layer gradient norm below this is vanishing
constexpr double kExploding = 1e3;   // growth over the first epoch's norm that is exploding

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::uint32_t crc_of(const Dataset& d) {
  bytes::Writer w;
  w.put_floats(d.features.span());
  if (d.task == Task::classification) {
    for (std::uint32_t label : d.labels) w.put<std::uint32_t>(label);
  } else {
    w.put_floats(d.values.span());
  }
  return bytes::crc32(w.out);
}

void check_options(const TrainOptions& o, bool has_validation, Loss loss) {
  if (o.epochs == 0) throw Error("epochs must be at least 1");
  const StopCriteria& s = o.stop;
  auto require = [](bool ok, std::string_view what, double value, std::string_view why) {
    if (!ok) throw Error(fmt::format("{} {} is invalid: {}", what, value, why));
  };
  require(std::isfinite(o.clip_norm) && o.clip_norm >= 0.0, "clip_norm", o.clip_norm,
          "must be >= 0");
  require(std::isfinite(o.clip_value) && o.clip_value >= 0.0, "clip_value", o.clip_value,
          "must be >= 0");
  require(std::isfinite(s.max_seconds) && s.max_seconds >= 0.0, "max_seconds", s.max_seconds,
          "must be >= 0");
  require(std::isfinite(s.grad_tolerance) && s.grad_tolerance >= 0.0, "grad_tolerance",
          s.grad_tolerance, "must be >= 0");
  require(std::isfinite(s.plateau_tolerance) && s.plateau_tolerance >= 0.0, "plateau_tolerance",
          s.plateau_tolerance, "must be >= 0");
  require(std::isfinite(s.early_stopping_min_delta) && s.early_stopping_min_delta >= 0.0,
          "early_stopping_min_delta", s.early_stopping_min_delta, "must be >= 0");
  require(std::isfinite(s.divergence_factor) && s.divergence_factor >= 0.0, "divergence_factor",
          s.divergence_factor, "must be >= 0");
  if (s.plateau_tolerance > 0.0 && s.plateau_patience == 0)
    throw Error("plateau_patience must be at least 1");
  if (s.target_loss && !std::isfinite(*s.target_loss))
    throw Error(fmt::format("target_loss {} is invalid: must be finite", *s.target_loss));
  if (s.target_accuracy) {
    require(*s.target_accuracy >= 0.0 && *s.target_accuracy <= 1.0, "target_accuracy",
            *s.target_accuracy, "must be in [0, 1]");
    if (!has_validation) throw Error("target_accuracy needs validation data");
    if (loss == Loss::mse) throw Error("target_accuracy needs a classification loss, not mse");
  }
  if (s.early_stopping_patience > 0 && !has_validation)
    throw Error("early stopping watches the validation loss: it needs validation data");
  if (!o.checkpoint.empty() && o.checkpoint_every == 0)
    throw Error("checkpoint_every must be at least 1");
}

std::string layer_name(const DenseLayer& layer, std::size_t index) {
  return fmt::format("layer {} ({} -> {})", index + 1, layer.inputs, layer.outputs);
}

}  // namespace

std::string_view to_string(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::max_epochs:
      return "max_epochs";
    case StopReason::max_steps:
      return "max_steps";
    case StopReason::time_budget:
      return "time_budget";
    case StopReason::converged:
      return "converged";
    case StopReason::plateau:
      return "plateau";
    case StopReason::target_reached:
      return "target_reached";
    case StopReason::early_stopped:
      return "early_stopped";
    case StopReason::diverged:
      return "diverged";
    case StopReason::callback:
      return "callback";
  }
  return "unknown";
}

Loss default_loss(const Dataset& data) noexcept {
  return data.task == Task::classification ? Loss::cross_entropy : Loss::mse;
}

TrainResult Trainer::fit(const Dataset& train, const Dataset* validation,
                         const Callbacks& callbacks) {
  if (validation != nullptr && validation->rows() == 0) validation = nullptr;
  detail::check_data(network_, loss_, train, "training");
  if (validation != nullptr) detail::check_data(network_, loss_, *validation, "validation");
  if (train.rows() == 0) throw Error(fmt::format("training data \"{}\" has no rows", train.name));
  check_options(options_, validation != nullptr, loss_);
  (void)active_isa();  // an invalid DESCENT_ISA is reported here, before any work

  const ThreadScope thread_scope(options_.threads);
  const std::size_t rows = train.rows();
  const std::size_t batch = options_.batch_size == 0 ? rows : std::min(options_.batch_size, rows);
  const std::size_t steps_per_epoch = (rows + batch - 1) / batch;
  // Full batch: every step sees every row, in the data's order; nothing to gather.
  const bool gather = batch < rows;
  const detail::PreparedTargets targets = detail::prepare_targets(loss_, train);
  const std::size_t params = network_.parameter_count();
  const auto& k = kernels::active();

  State& s = *state_;
  if (gather) {
    s.batch_x = Matrix(batch, network_.inputs());
    if (!targets.view.labels.empty()) s.batch_labels.assign(batch, 0);
    if (targets.view.values.data != nullptr)
      s.batch_values = Matrix(batch, targets.view.values.cols);
  }
  reserve(batch);                          // every allocation a step needs, before the first step
  AlignedBuffer<float> last_good(params);  // the parameters before the latest update
  bool have_last_good = false;
  std::vector<std::size_t> order(rows);

  Run run;
  run.shuffle_rng.reseed(detail::derive_seed(options_.seed, 2));
  const std::size_t layers = network_.layers().size();
  run.warned_vanishing.assign(layers, 0);
  run.warned_exploding.assign(layers, 0);
  RunFingerprint fingerprint;
  fingerprint.batch_size = options_.batch_size;
  fingerprint.seed = options_.seed;
  fingerprint.loss = static_cast<std::uint32_t>(loss_);
  fingerprint.shuffle = options_.shuffle ? 1 : 0;
  fingerprint.train_rows = rows;
  fingerprint.train_crc = crc_of(train);
  fingerprint.validation_rows = validation != nullptr ? validation->rows() : 0;
  fingerprint.validation_crc = validation != nullptr ? crc_of(*validation) : 0;

  Schedule* schedule = options_.schedule.get();
  if (!options_.resume.empty()) {
    read_checkpoint(options_.resume, network_, loss_, optimizer_, schedule, fingerprint, steps_,
                    run);
  }
  const bool schedule_per_step = schedule != nullptr &&
                                 options_.schedule_per == SchedulePer::step &&
                                 !schedule->needs_metric();
  if (schedule != nullptr) {
    const std::size_t planned =
        schedule_per_step ? steps_per_epoch * options_.epochs : options_.epochs;
    if (const auto limit = schedule->step_limit(); limit && planned > *limit) {
      throw Error(fmt::format(
          "schedule \"{}\" defines {} steps but this run advances it {} "
          "times (once per {}): raise total_steps or train less",
          schedule->name(), *limit, planned, schedule_per_step ? "optimizer step" : "epoch"));
    }
    optimizer_.set_lr(schedule->rate());
  }

  TrainResult result;
  result.history = run.history;
  result.resumed_epoch = options_.resume.empty() ? 0 : run.epoch;
  result.threads = threads();
  result.isa = active_isa();
  result.loss = loss_;
  const StopCriteria& crit = options_.stop;
  const auto start = Clock::now();
  auto elapsed = [&] { return run.elapsed + seconds_since(start); };
  double train_seconds = 0.0;
  std::size_t samples = 0;
  std::optional<StopReason> stop;
  auto stop_with = [&](StopReason reason, std::string message) {
    if (stop) return;
    stop = reason;
    result.stop_reason = reason;
    result.stop_message = std::move(message);
  };
  auto warn = [&](std::string message) {
    if (callbacks.on_warning) callbacks.on_warning(message);
    result.warnings.push_back(std::move(message));
  };

  for (std::size_t epoch = run.epoch + 1; epoch <= options_.epochs && !stop; ++epoch) {
    // The order is drawn afresh each epoch, so the generator's state is all a checkpoint needs.
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (gather && options_.shuffle) run.shuffle_rng.shuffle(std::span<std::size_t>(order));
    const auto epoch_start = Clock::now();
    double weighted_loss = 0.0;
    std::size_t epoch_rows = 0;
    StepRecord last;
    for (std::size_t first = 0; first < rows && !stop; first += batch) {
      const std::size_t count = std::min(batch, rows - first);
      ConstMatrixView x = train.features.view().rows_range(first, count);
      Targets t = detail::slice(targets.view, first, count);
      if (gather) {
        for (std::size_t i = 0; i < count; ++i) {
          const std::size_t r = order[first + i];
          std::memcpy(s.batch_x.row(i), train.features.row(r), network_.inputs() * sizeof(float));
          if (!t.labels.empty()) s.batch_labels[i] = targets.view.labels[r];
          if (t.values.data != nullptr)
            std::memcpy(s.batch_values.row(i), targets.view.values.row(r),
                        t.values.cols * sizeof(float));
        }
        x = s.batch_x.view().rows_range(0, count);
        if (!t.labels.empty())
          t.labels = std::span<const std::uint32_t>(s.batch_labels).first(count);
        if (t.values.data != nullptr) t.values = s.batch_values.view().rows_range(0, count);
      }
      StepRecord step = compute_gradient(x, t);
      step.epoch = epoch;
      step.step = steps_ + 1;
      // Divergence and convergence are judged before the update. On divergence the update
      // that led to it is undone (below), so the parameters kept are the last ones whose loss
      // and gradient were finite and sound.
      if (!std::isfinite(step.loss) || !std::isfinite(step.grad_norm)) {
        stop_with(
            StopReason::diverged,
            fmt::format("at step {} (epoch {}) the {} is {}; the parameters from before "
                        "the last update were kept -- try a smaller learning rate than {}",
                        step.step, epoch, std::isfinite(step.loss) ? "gradient norm" : "loss",
                        std::isfinite(step.loss) ? step.grad_norm : step.loss, optimizer_.lr()));
        break;
      }
      if (std::isnan(run.initial_loss)) run.initial_loss = step.loss;
      if (crit.divergence_factor > 0.0 && run.initial_loss > 0.0 &&
          step.loss > crit.divergence_factor * run.initial_loss) {
        stop_with(StopReason::diverged,
                  fmt::format("at step {} (epoch {}) the loss {:.6g} is more than {:g} "
                              "times the first step's {:.6g}; the parameters from before the last "
                              "update were kept -- try a smaller learning rate than {}",
                              step.step, epoch, step.loss, crit.divergence_factor, run.initial_loss,
                              optimizer_.lr()));
        break;
      }
      if (crit.grad_tolerance > 0.0 && step.grad_norm <= crit.grad_tolerance) {
        stop_with(StopReason::converged,
                  fmt::format("at step {} (epoch {}) the gradient norm {:.3g} is "
                              "within the tolerance {:g}",
                              step.step, epoch, step.grad_norm, crit.grad_tolerance));
        break;
      }
      clip_gradients(step.grad_norm);
      std::memcpy(last_good.data(), network_.parameters().data(), params * sizeof(float));
      have_last_good = true;
      optimizer_.step(network_.parameters(), network_.gradients());
      ++steps_;
      last = step;
      if (schedule_per_step) {
        schedule->step();
        optimizer_.set_lr(schedule->rate());
      }
      weighted_loss += step.loss * static_cast<double>(count);
      epoch_rows += count;
      samples += count;
      if (callbacks.on_step && !callbacks.on_step(step)) {
        stop_with(StopReason::callback, fmt::format("stopped by a callback at step {}", step.step));
      }
      if (crit.max_steps > 0 && steps_ >= crit.max_steps) {
        stop_with(StopReason::max_steps,
                  fmt::format("took the {} steps asked for", crit.max_steps));
      }
      if (crit.max_seconds > 0.0 && elapsed() >= crit.max_seconds) {
        stop_with(StopReason::time_budget, fmt::format("used the time budget of {:g} s at step {}",
                                                       crit.max_seconds, steps_));
      }
    }
    if (stop == StopReason::diverged && have_last_good) {
      // The latest update produced the non-finite or exploding values: keep the parameters
      // from before it, the last ones whose loss and gradient were sound.
      std::memcpy(network_.parameters().data(), last_good.data(), params * sizeof(float));
    }
    const double epoch_seconds = seconds_since(epoch_start);
    train_seconds += epoch_seconds;

    EpochRecord record;
    record.epoch = epoch;
    record.step = steps_;
    record.train_loss = epoch_rows > 0 ? weighted_loss / static_cast<double>(epoch_rows) : kNaN;
    record.val_loss = kNaN;
    record.val_accuracy = kNaN;
    if (validation != nullptr) {
      const Evaluation eval = evaluate(*validation);
      record.val_loss = eval.loss;
      record.val_accuracy = eval.accuracy;
    }
    record.grad_norm = last.grad_norm;
    record.lr = last.lr;
    record.seconds = elapsed();
    record.samples_per_second =
        epoch_seconds > 0.0 ? static_cast<double>(epoch_rows) / epoch_seconds : 0.0;

    // Per-layer norms, from the gradient of the epoch's last computed step.
    const std::span<const float> g = network_.gradients(), p = network_.parameters();
    for (std::size_t l = 0; l < layers; ++l) {
      const DenseLayer& layer = network_.layers()[l];
      const std::size_t first = layer.weight_offset;
      const std::size_t size = layer.bias_offset + layer.outputs - first;
      const double gn = std::sqrt(k.sum_squares(size, g.data() + first));
      record.layer_grad_norms.push_back(gn);
      record.layer_weight_norms.push_back(std::sqrt(k.sum_squares(size, p.data() + first)));
      if (run.first_grad_norms.size() < layers) run.first_grad_norms.push_back(gn);
      if (gn < kVanishing && run.warned_vanishing[l] == 0) {
        run.warned_vanishing[l] = 1;
        warn(
            fmt::format("{}: gradient norm {:.3g} at epoch {} -- vanishing gradients; try relu, "
                        "another initialisation or a larger learning rate",
                        layer_name(layer, l), gn, epoch));
      }
      if (gn > kExploding * run.first_grad_norms[l] && run.warned_exploding[l] == 0) {
        run.warned_exploding[l] = 1;
        warn(
            fmt::format("{}: gradient norm {:.3g} at epoch {} is {:.0f} times its first "
                        "epoch's -- exploding gradients; try --clip-norm or a smaller learning "
                        "rate",
                        layer_name(layer, l), gn, epoch, gn / run.first_grad_norms[l]));
      }
    }

    if (schedule != nullptr && !schedule_per_step && !stop) {
      schedule->step(std::isnan(record.val_loss) ? record.train_loss : record.val_loss);
      optimizer_.set_lr(schedule->rate());
    }

    // Epoch-end criteria, on the monitored loss.
    const double monitored = validation != nullptr ? record.val_loss : record.train_loss;
    if (!stop && crit.target_loss && monitored <= *crit.target_loss) {
      stop_with(StopReason::target_reached,
                fmt::format("the {} loss reached the target {:g} at epoch {} ({:.6g})",
                            validation != nullptr ? "validation" : "training", *crit.target_loss,
                            epoch, monitored));
    }
    if (!stop && crit.target_accuracy && record.val_accuracy >= *crit.target_accuracy) {
      stop_with(StopReason::target_reached,
                fmt::format("the validation accuracy reached the target {:g} at epoch {} ({:.4f})",
                            *crit.target_accuracy, epoch, record.val_accuracy));
    }
    if (!stop && crit.plateau_tolerance > 0.0 && std::isfinite(monitored)) {
      const double change = std::abs(monitored - run.previous_monitored) /
                            std::max(std::abs(run.previous_monitored), 1e-12);
      run.flat_epochs = change < crit.plateau_tolerance ? run.flat_epochs + 1 : 0;
      run.previous_monitored = monitored;
      if (run.flat_epochs >= crit.plateau_patience) {
        stop_with(StopReason::plateau,
                  fmt::format("the monitored loss changed by less than {:g} (relative) for {} "
                              "epochs, up to epoch {}",
                              crit.plateau_tolerance, crit.plateau_patience, epoch));
      }
    }
    if (crit.early_stopping_patience > 0 && !stop) {
      if (record.val_loss < run.best_loss - crit.early_stopping_min_delta) {
        run.best_loss = record.val_loss;
        run.best_epoch = epoch;
        run.bad_epochs = 0;
        run.best_params.resize(params);
        std::memcpy(run.best_params.data(), network_.parameters().data(), params * sizeof(float));
      } else if (++run.bad_epochs >= crit.early_stopping_patience) {
        std::memcpy(network_.parameters().data(), run.best_params.data(), params * sizeof(float));
        stop_with(StopReason::early_stopped,
                  fmt::format("at epoch {} the validation loss had not improved "
                              "for {} epochs; restored the weights of epoch {} (validation loss "
                              "{:.6g})",
                              epoch, crit.early_stopping_patience, run.best_epoch, run.best_loss));
      }
    }
    if (!stop && crit.max_seconds > 0.0 && elapsed() >= crit.max_seconds) {
      stop_with(StopReason::time_budget,
                fmt::format("used the time budget of {:g} s at epoch {}", crit.max_seconds, epoch));
    }
    if (!stop && epoch == options_.epochs) {
      stop_with(StopReason::max_epochs,
                fmt::format("ran the {} epochs asked for", options_.epochs));
    }
    record.stop_reason = stop;
    // Every epoch is reported, the last one too (with its stop reason).
    if (callbacks.on_epoch && !callbacks.on_epoch(record) && !stop) {
      stop_with(StopReason::callback, fmt::format("stopped by a callback at epoch {}", epoch));
      record.stop_reason = stop;
    }
    result.history.push_back(record);
    run.history.push_back(record);
    run.epoch = epoch;
    if (!options_.checkpoint.empty() && (stop || epoch % options_.checkpoint_every == 0)) {
      Run saved = run;  // elapsed counts this process's time too
      saved.elapsed = elapsed();
      write_checkpoint(options_.checkpoint, network_, loss_, optimizer_, schedule, fingerprint,
                       steps_, saved);
    }
  }
  if (!stop) {
    // Resumed from a checkpoint of a finished run, or with no epochs left.
    result.stop_reason = StopReason::max_epochs;
    result.stop_message = fmt::format("ran the {} epochs asked for", options_.epochs);
  }
  result.epochs = run.epoch;
  result.steps = steps_;
  result.best_epoch = run.best_epoch;
  result.seconds = elapsed();
  result.samples_per_second =
      train_seconds > 0.0 ? static_cast<double>(samples) / train_seconds : 0.0;
  return result;
}

TrainResult train(Network& network, const Dataset& data, Optimizer& optimizer,
                  const TrainOptions& options, const Callbacks& callbacks) {
  const Loss loss = options.loss.value_or(default_loss(data));
  DataSplit split;
  if (options.validation_fraction > 0.0) {
    split = split_train_validation(data, options.validation_fraction,
                                   detail::derive_seed(options.seed, 0));
  } else {
    split.train = data;
  }
  if (options.standardize) {
    Standardization standardization = Standardization::fit(split.train.features.view());
    standardization.apply(split.train.features.view());
    if (split.validation.rows() > 0) standardization.apply(split.validation.features.view());
    network.set_standardization(std::move(standardization));
  } else {
    network.set_standardization({});  // the network now sees raw inputs
  }
  if (options.init) network.initialize(*options.init, detail::derive_seed(options.seed, 1));
  Trainer trainer(network, optimizer, loss, options);
  return trainer.fit(split.train, split.validation.rows() > 0 ? &split.validation : nullptr,
                     callbacks);
}

}  // namespace descent
