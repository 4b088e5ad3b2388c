// Trainer::fit, the loop: batching and shuffling, the schedule, clipping, stop criteria,
// divergence, diagnostics, history, callbacks and checkpoints. And train(), the recipe.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/bytes.hpp"
#include "core/memory.hpp"
#include "core/user_text.hpp"
#include "descent/error.hpp"
#include "descent/io.hpp"
#include "descent/optim/sgd.hpp"
#include "descent/parallel.hpp"
#include "kernels/kernel_table.hpp"
#include "parallel/parallel.hpp"
#include "train/run.hpp"
#include "train/train_detail.hpp"

namespace descent {

std::string detail::non_finite_at_start(const StepRecord& step) {
  return fmt::format(
      "the {} is {} at the start, before any update: the initial weights or the data overflow "
      "(weights from a file? targets whose square exceeds a float?), not the learning rate",
      std::isfinite(step.loss) ? "gradient norm" : "loss",
      number_text(std::isfinite(step.loss) ? step.grad_norm : step.loss));
}

void detail::check_schedule_lasts(const Schedule& schedule, std::size_t taken,
                                  std::optional<std::size_t> planned, std::string_view per) {
  const auto limit = schedule.step_limit();
  if (!limit || (planned && *planned <= *limit - std::min(taken, *limit))) return;
  throw Error(fmt::format(
      "schedule \"{}\" defines {} steps{} but this run advances it {} (once per {}): raise "
      "total_steps or {}",
      schedule.name(), *limit,
      taken > 0 ? fmt::format(", {} of them taken already,", std::min(taken, *limit)) : "",
      planned ? fmt::format("{} times", *planned) : std::string("with no bound on its steps"), per,
      planned ? "train less" : "bound the run"));
}

void detail::check_stop_criteria(const StopCriteria& s, double clip_norm, double clip_value) {
  auto require = [](bool ok, std::string_view what, double value, std::string_view why) {
    if (!ok) throw Error(fmt::format("{} {} is invalid: {}", what, value, why));
  };
  require(std::isfinite(clip_norm) && clip_norm >= 0.0, "clip_norm", clip_norm, "must be >= 0");
  require(std::isfinite(clip_value) && clip_value >= 0.0, "clip_value", clip_value, "must be >= 0");
  // The clipping is float arithmetic: a bound below the smallest normal float (about 1.2e-38)
  // is 0, or a subnormal that the clipped gradient's products flush to 0.
  for (const auto& [name, bound] : {std::pair{"clip_norm", clip_norm}, {"clip_value", clip_value}})
    require(bound == 0.0 || bound >= std::numeric_limits<float>::min(), name, bound,
            "below the smallest normal 32-bit float, 1.2e-38 (every gradient would be clipped "
            "to 0)");
  require(std::isfinite(s.max_seconds) && s.max_seconds >= 0.0, "max_seconds", s.max_seconds,
          "must be >= 0");
  require(std::isfinite(s.grad_tolerance) && s.grad_tolerance >= 0.0, "grad_tolerance",
          s.grad_tolerance, "must be >= 0");
  require(std::isfinite(s.plateau_tolerance) && s.plateau_tolerance >= 0.0, "plateau_tolerance",
          s.plateau_tolerance, "must be >= 0");
  require(std::isfinite(s.early_stopping_min_delta) && s.early_stopping_min_delta >= 0.0,
          "early_stopping_min_delta", s.early_stopping_min_delta, "must be >= 0");
  // A factor of 1 or less would call the first steps' own loss a divergence.
  require(s.divergence_factor == 0.0 ||
              (std::isfinite(s.divergence_factor) && s.divergence_factor > 1.0),
          "divergence_factor", s.divergence_factor, "must be 0 (off) or above 1");
  if (s.plateau_tolerance > 0.0 && s.plateau_patience == 0)
    throw Error("plateau_patience must be at least 1");
  if (s.target_loss && !std::isfinite(*s.target_loss))
    throw Error(fmt::format("target_loss {} is invalid: must be finite", *s.target_loss));
  // (Every loss descent trains with, MSE and the cross-entropies, is 0 or more.)
  if (s.target_loss && *s.target_loss < 0.0) {
    throw Error(
        fmt::format("target_loss {} is invalid: a loss is never below 0, so the run could "
                    "never reach it",
                    *s.target_loss));
  }
}

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
  if (o.schedule_per != SchedulePer::epoch && o.schedule_per != SchedulePer::step)
    throw Error(
        fmt::format("schedule_per {} is not epoch or step", static_cast<int>(o.schedule_per)));
  if (o.distributed.reduction != Reduction::exact && o.distributed.reduction != Reduction::fast) {
    throw Error(fmt::format("distributed reduction {} is not exact or fast",
                            static_cast<int>(o.distributed.reduction)));
  }
  detail::check_stop_criteria(o.stop, o.clip_norm, o.clip_value);
  const StopCriteria& s = o.stop;
  auto require = [](bool ok, std::string_view what, double value, std::string_view why) {
    if (!ok) throw Error(fmt::format("{} {} is invalid: {}", what, value, why));
  };
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

// Limits stop a run that may be resumed with the limit raised; the other reasons end it.
bool is_limit(StopReason reason) {
  return reason == StopReason::max_epochs || reason == StopReason::max_steps ||
         reason == StopReason::time_budget || reason == StopReason::callback;
}

// a * b, or nothing when it overflows.
std::optional<std::size_t> checked_product(std::size_t a, std::size_t b) {
  if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) return std::nullopt;
  return a * b;
}

// A checksum of the parameters' bits and of `context`, for comparing the ranks' replicas.
std::uint64_t checksum(std::span<const float> parameters, std::string_view context = {}) {
  const std::span<const char> bits(reinterpret_cast<const char*>(parameters.data()),
                                   parameters.size_bytes());
  return std::uint64_t{bytes::crc32(std::span<const char>(context.data(), context.size()))} << 32 |
         bytes::crc32(bits);
}

// The ranks whose `value` differs from rank 0's, as "1, 3"; empty when all agree.
std::string ranks_differing(Communicator& comm, std::uint64_t value) {
  std::vector<std::uint64_t> values(comm.size());
  comm.allgather(value, values);
  std::string differ;
  for (std::size_t r = 1; r < values.size(); ++r)
    if (values[r] != values[0]) differ += fmt::format("{}{}", differ.empty() ? "" : ", ", r);
  return differ;
}

// Before the first step: every rank must train the same network on the same data with the
// same options, or the collectives would not match (and could wait forever).
void check_same_run(Communicator& comm, const RunFingerprint& f, const TrainOptions& o,
                    std::span<const float> parameters, std::size_t steps) {
  // Everything that decides what a rank computes, when it stops and which collectives it
  // calls (the clock and callbacks are agreed on at every step instead).
  const StopCriteria& stop = o.stop;
  const std::string text = fmt::format(
      "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
      f.optimizer, f.schedule, f.schedule_per, f.clip_norm, f.clip_value, f.batch_size, f.seed,
      f.loss, f.shuffle, f.train_rows, f.train_crc, f.validation_rows, f.validation_crc, o.epochs,
      o.shard_rows, static_cast<int>(o.distributed.reduction), o.distributed.check_replicas,
      parameters.size(), steps, o.checkpoint_every, stop.max_steps, stop.grad_tolerance,
      stop.plateau_tolerance, stop.plateau_patience, stop.target_loss.value_or(-1.0),
      stop.target_accuracy.value_or(-1.0), stop.early_stopping_patience,
      stop.early_stopping_min_delta, stop.divergence_factor,
      stop.target_loss.has_value() * 2 + stop.target_accuracy.has_value());
  if (const std::string differ = ranks_differing(comm, checksum(parameters, text));
      !differ.empty()) {
    throw Error(fmt::format(
        "rank(s) {} train something else than rank 0: every rank must be given the same data, "
        "model, initial parameters and options (batch, seed, optimizer, epochs, ...)",
        differ));
  }
}

// Throws descent::Error naming the ranks whose parameters differ from rank 0's.
void check_replicas(Communicator& comm, std::span<const float> parameters, std::size_t epoch) {
  if (const std::string differ = ranks_differing(comm, checksum(parameters)); !differ.empty()) {
    throw Error(fmt::format(
        "after epoch {} the parameters of rank(s) {} differ from rank 0's: the ranks' "
        "replicas went out of step (do all ranks read the same data with the same options?)",
        epoch, differ));
  }
}

std::string layer_name(const DenseLayer& layer, std::size_t index) {
  return fmt::format("layer {} ({} -> {})", index + 1, layer.inputs, layer.outputs);
}

// What to say where standardising `data` overflowed a float: its first such row in the data's
// own order (the split is shuffled), standardised again one row at a time.
std::string standardization_overflow(const Dataset& data, const Standardization& standardization) {
  const std::string advice =
      "a far outlier against a tiny spread, or values near the largest float? Train without "
      "standardisation: standardize = false, --no-standardize";
  Matrix row(1, data.feature_count());
  for (std::size_t i = 0; i < data.rows(); ++i) {
    std::memcpy(row.data(), data.features.row(i), data.feature_count() * sizeof(float));
    standardization.apply(row.view());
    for (std::size_t j = 0; j < data.feature_count(); ++j) {
      if (std::isfinite(row(0, j))) continue;
      return fmt::format(
          "standardising the features of \"{}\" overflowed a float: feature {} of row {} is "
          "{:g}, and its mean {:g} and standard deviation {:g} make that {} (rows and columns "
          "count from 0; {})",
          data.name, j, i, data.features(i, j), standardization.mean[j], standardization.stddev[j],
          row(0, j), advice);
    }
  }
  return fmt::format("standardising the features of \"{}\" overflowed a float ({})", data.name,
                     advice);
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

void check_training_data(const Network& network, const Dataset& data, Loss loss) {
  detail::check_data(network, loss, data, "training");
}

TrainResult Trainer::fit(const Dataset& train, const Dataset* validation,
                         const Callbacks& callbacks) {
  return fit(train, validation, callbacks, true);
}

TrainResult Trainer::fit(const Dataset& train, const Dataset* validation,
                         const Callbacks& callbacks, bool scan) {
  // A rank that refuses the run tells the others, from the first check on: they would wait
  // in a collective for it forever.
  const detail::FailOnThrow fail_on_throw(options_.distributed.communicator.get());
  state_->started = false;
  if (validation != nullptr && validation->rows() == 0) validation = nullptr;
  detail::check_data(network_, loss_, train, "training", scan);
  if (validation != nullptr) detail::check_data(network_, loss_, *validation, "validation", scan);
  if (train.rows() == 0) throw Error(fmt::format("training data \"{}\" has no rows", train.name));
  detail::check_classes(loss_, train, "training data");
  check_options(options_, validation != nullptr, loss_);
  (void)active_isa();  // an invalid DESCENT_ISA is reported here, before any work

  const ThreadScope thread_scope(options_.threads);
  // With ranks: every decision that depends on this process alone (a clock, a callback) is
  // agreed on by all of them, and only rank 0 writes files.
  Communicator* comm = options_.distributed.communicator.get();
  const bool distributed = comm != nullptr && comm->size() > 1;
  const bool writes_files = !distributed || comm->rank() == 0;
  if (writes_files && !options_.checkpoint.empty()) {
    // Found now, not at the first checkpoint an epoch or hours later.
    try {
      check_output_file(options_.checkpoint);
    } catch (const Error& e) {
      throw Error(fmt::format("checkpoint {}: {}",
                              detail::printable(options_.checkpoint.string(), std::string::npos),
                              e.what()));
    }
  }
  auto agree = [&](std::uint64_t flags) { return distributed ? comm->allreduce_or(flags) : flags; };
  const std::size_t rows_before = rows_computed();
  const std::size_t rows = train.rows();
  const std::size_t batch = options_.batch_size == 0 ? rows : std::min(options_.batch_size, rows);
  const std::size_t steps_per_epoch = (rows + batch - 1) / batch;
  // Full batch, or no shuffling: every step sees a run of rows in the data's order, read in
  // place; otherwise the shards gather the batch's rows.
  const bool gather = batch < rows && options_.shuffle;
  const detail::PreparedTargets targets = detail::prepare_targets(loss_, train);
  const std::size_t params = network_.parameter_count();
  const auto& k = kernels::active();

  State& s = *state_;
  s.profile = StepProfile{};  // the result's profile counts this run's steps
  // Every allocation a step needs, before the first step (see reserve for threads beyond
  // max(cores, 16)); all of it, and the copies of the parameters below, checked against the
  // memory left first.
  check_memory(batch, options_.resume.empty() ? 0 : params);
  reserve(batch);
  std::vector<std::size_t> order(rows);

  Run run;
  run.shuffle_rng.reseed(detail::derive_seed(options_.seed, 2));
  const std::size_t layers = network_.layers().size();
  run.warned_vanishing.assign(layers, 0);
  run.warned_exploding.assign(layers, 0);
  Schedule* schedule = options_.schedule.get();
  RunFingerprint fingerprint;
  fingerprint.optimizer =
      optimizer_.spec().empty() ? std::string(optimizer_.name()) : optimizer_.spec();
  if (schedule != nullptr)
    fingerprint.schedule =
        schedule->spec().empty() ? std::string(schedule->name()) : schedule->spec();
  fingerprint.schedule_per = options_.schedule_per == SchedulePer::step ? 1 : 0;
  fingerprint.clip_norm = options_.clip_norm;
  fingerprint.clip_value = options_.clip_value;
  fingerprint.batch_size = options_.batch_size;
  fingerprint.seed = options_.seed;
  fingerprint.loss = static_cast<std::uint32_t>(loss_);
  fingerprint.shuffle = options_.shuffle ? 1 : 0;
  fingerprint.train_rows = rows;
  fingerprint.validation_rows = validation != nullptr ? validation->rows() : 0;
  // The data's checksums only where a checkpoint or another rank compares them: for 60,000 x
  // 784 floats, 6% of the profile of a 3 s `descent train` that took one step.
  if (!options_.checkpoint.empty() || !options_.resume.empty() || distributed) {
    fingerprint.train_crc = crc_of(train);
    fingerprint.validation_crc = validation != nullptr ? crc_of(*validation) : 0;
  }

  // Everything that can refuse the run is checked before a checkpoint changes anything.
  const bool schedule_per_step = schedule != nullptr &&
                                 options_.schedule_per == SchedulePer::step &&
                                 !schedule->needs_metric();
  if (schedule != nullptr) {
    auto planned = checked_product(schedule_per_step ? steps_per_epoch : 1, options_.epochs);
    // A step limit ends the run sooner: per step, after max_steps advances; per epoch, after
    // the epochs those steps complete (rounded up, to never allow too few).
    if (const std::size_t max_steps = options_.stop.max_steps; max_steps > 0) {
      // max_steps counts the Trainer's steps since it was made (or since the checkpoint's
      // run began): a Trainer that trained before has only the rest of them in this run.
      const std::size_t left =
          options_.resume.empty() ? max_steps - std::min(steps_, max_steps) : max_steps;
      const std::size_t most =
          schedule_per_step ? left : (left + steps_per_epoch - 1) / steps_per_epoch;
      if (!planned || *planned > most) planned = most;
    }
    // A schedule that has advanced already (an earlier run's) has only the rest to give; a
    // resumed run takes the checkpoint's position instead, and plans from the start.
    const std::size_t taken = options_.resume.empty() ? schedule->steps_taken() : 0;
    detail::check_schedule_lasts(*schedule, taken, planned,
                                 schedule_per_step ? "optimizer step" : "epoch");
  }
  // The schedule's rate into the optimizer, or what is wrong with a rate it cannot take (a
  // gamma that overflowed), named with the schedule and the point of the run; "" when taken.
  // (`after` names the point, "step" or "epoch", with its number; formatted only then: this
  // runs every step.)
  auto apply_schedule = [&](std::string_view after, std::size_t number) -> std::string {
    const double rate = schedule->rate();
    if (!std::isfinite(rate) || rate < 0.0 || rate > std::numeric_limits<float>::max()) {
      return fmt::format(
          "schedule \"{}\" gave the learning rate {} {}: it must be >= 0 and at most 3.4e38 "
          "(the largest 32-bit float)",
          schedule->name(), number_text(rate),
          after.empty() ? std::string("at the start") : fmt::format("after {} {}", after, number));
    }
    optimizer_.set_lr(rate);
    return {};
  };
  // What reading a checkpoint and starting the schedule change, put back if the run is then
  // refused (a rank that disagrees, a rate the schedule cannot start at): the network's
  // parameters and standardisation, the optimizer's and schedule's state, the step count.
  struct Before {
    AlignedBuffer<float> parameters;  // (an AlignedBuffer: its size is checked against memory)
    Standardization standardization;
    std::vector<char> optimizer, schedule;
  };
  std::optional<Before> before;
  const std::size_t steps_before = steps_;
  const double lr_before = optimizer_.lr();
  if (!options_.resume.empty()) {
    before.emplace();
    before->parameters = detail::copy_of(network_.parameters());
    before->standardization = network_.standardization();
    before->optimizer = optimizer_.save_state();
    if (schedule != nullptr) before->schedule = schedule->save_state();
  }
  try {
    if (before) {
      read_checkpoint(options_.resume, network_, loss_, optimizer_, schedule, fingerprint, steps_,
                      run);
    }
    // A NaN or infinite parameter (set by hand) would make every step's loss NaN, or, behind
    // a ReLU that zeroes it, never change while the loss looks fine.
    if (const std::string bad = describe_non_finite_parameter(network_); !bad.empty())
      throw Error(fmt::format("the network's {} before training: initialise it first", bad));
    if (schedule != nullptr) {
      if (std::string bad = apply_schedule({}, 0); !bad.empty()) throw Error(std::move(bad));
    }
    if (distributed) check_same_run(*comm, fingerprint, options_, network_.parameters(), steps_);
  } catch (...) {
    // (Their own states, which they take back; should one not, the refusal is still what
    // the caller hears.)
    try {
      steps_ = steps_before;
      optimizer_.set_lr(lr_before);
      if (before) {
        network_.set_parameters(before->parameters.span());
        network_.set_standardization(std::move(before->standardization));
        optimizer_.load_state(before->optimizer);
        if (schedule != nullptr) schedule->load_state(before->schedule);
      }
    } catch (...) {
    }
    throw;
  }
  s.started = true;  // nothing refuses the run past this point
  if (!run.have_last_good) run.last_good.resize(params);

  TrainResult result;
  result.resumed_epoch = options_.resume.empty() ? 0 : run.epoch;
  result.threads = threads();
  result.isa = active_isa();
  result.loss = loss_;
  const StopCriteria& crit = options_.stop;
  const auto start = Clock::now();
  auto elapsed = [&] { return run.elapsed + seconds_since(start); };
  auto finish = [&] {
    result.history = run.history;
    result.warnings = run.warnings;
    result.epochs = run.history.empty() ? 0 : run.history.back().epoch;
    result.steps = steps_;
    result.best_epoch = run.best_epoch;
    result.seconds = elapsed();
    result.profile = s.profile;
    result.rows_computed = rows_computed() - rows_before;
    result.ranks = distributed ? comm->size() : 1;
    result.reduction = options_.distributed.reduction;
    if (distributed) {
      std::vector<std::uint64_t> per_rank(comm->size());
      comm->allgather(result.rows_computed, per_rank);
      result.rank_rows.assign(per_rank.begin(), per_rank.end());
    } else {
      result.rank_rows = {result.rows_computed};
    }
    return result;
  };

  // A run that had stopped goes on only when the limit that stopped it was raised; one that
  // had finished (converged, diverged, ...) is returned as it was.
  if (run.stopped) {
    bool raised = false;
    switch (*run.stopped) {
      case StopReason::max_epochs:
        raised = options_.epochs > run.epoch;
        break;
      case StopReason::max_steps:
        raised = crit.max_steps == 0 || steps_ < crit.max_steps;
        break;
      case StopReason::time_budget:
        raised = crit.max_seconds == 0.0 || run.elapsed < crit.max_seconds;
        break;
      case StopReason::callback:
        raised = true;
        break;
      default:
        break;
    }
    if (!raised) {
      result.stop_reason = *run.stopped;
      result.stop_message =
          fmt::format("the checkpoint's run had already stopped: {}{}", run.stop_message,
                      is_limit(*run.stopped) ? " (raise the limit to go on)" : "");
      return finish();
    }
    run.stopped.reset();
    run.stop_message.clear();
    if (run.partial) {
      run.history.pop_back();  // the partial epoch is trained to its end and recorded again
    } else {
      run.history.back().stop_reason.reset();
    }
  }

  double train_seconds = 0.0;
  std::size_t samples = 0;
  std::optional<StopReason> stop;
  bool rate_out_of_range = false;  // the schedule's rate left a float's range: stopped there
  // The first reason met stops training; `final` ones (diverged, early stopping, ...) also
  // replace a limit met at the same point, since a resumed run must not go on past them.
  auto stop_with = [&](StopReason reason, std::string message) {
    if (stop && !(is_limit(*stop) && !is_limit(reason))) return;
    stop = reason;
    result.stop_reason = reason;
    result.stop_message = std::move(message);
  };
  auto warn = [&](std::string message) {
    if (callbacks.on_warning) callbacks.on_warning(message);
    run.warnings.push_back(std::move(message));
  };
  if (distributed && options_.distributed.reduction == Reduction::exact && callbacks.on_warning) {
    const std::size_t shards = (batch + shard_rows(batch) - 1) / shard_rows(batch);
    if (shards < comm->size()) {
      callbacks.on_warning(fmt::format(
          "a batch of {} rows is {} shard(s): only {} of the {} ranks compute in exact mode "
          "(smaller --shard-rows / TrainOptions::shard_rows spread it wider)",
          batch, shards, shards, comm->size()));
    }
  }
  auto restore = [&](const AlignedBuffer<float>& from) {
    if (from.size() == params)
      std::memcpy(network_.parameters().data(), from.data(), params * sizeof(float));
  };

  for (std::size_t epoch = run.epoch + 1; epoch <= options_.epochs && !stop; ++epoch) {
    std::size_t first = 0;       // the next row of the epoch's order
    double weighted_loss = 0.0;  // the epoch's losses, weighted by rows
    // A converged step's loss, measured but not trained on: the record counts it, the
    // checkpoint's running sum (rows first) does not.
    double converged_loss = 0.0;
    std::size_t converged_rows = 0;
    StepRecord last;  // the epoch's latest step; none yet: NaN (an empty cell in the history)
    last.grad_norm = kNaN;
    last.lr = kNaN;
    if (run.partial) {
      // Resumed inside this epoch: draw the same order, and go on from where it stopped.
      run.shuffle_rng.set_state(run.epoch_rng);
      first = run.epoch_first;
      weighted_loss = run.epoch_loss_sum;
      last.grad_norm = run.epoch_grad_norm;
      last.lr = run.epoch_lr;
      run.partial = false;
    }
    // The order is drawn afresh each epoch, so the generator's state is all a checkpoint needs.
    const Rng::State epoch_rng = run.shuffle_rng.state();
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (gather && options_.shuffle) run.shuffle_rng.shuffle(std::span<std::size_t>(order));
    const auto epoch_start = Clock::now();
    std::size_t process_rows = 0;  // trained on in this process
    while (first < rows && !stop) {
      const std::size_t count = std::min(batch, rows - first);
      const parallel::SerialScope serial(runs_serially(count));
      // A shuffled epoch's batch is gathered by the shards themselves, each its own rows.
      StepRecord step =
          gather ? compute_gradient(train.features.view(), targets.view,
                                    std::span<const std::size_t>(order).subspan(first, count))
                 : compute_gradient(train.features.view().rows_range(first, count),
                                    detail::slice(targets.view, first, count));
      step.epoch = epoch;
      step.step = steps_ + 1;
      // Divergence and convergence are judged before the update. On divergence the update
      // that led to it is undone (below), so the parameters kept are the last ones whose loss
      // and gradient were finite and sound.
      if ((!std::isfinite(step.loss) || !std::isfinite(step.grad_norm)) && steps_ == 0) {
        // Before any update the rate has no part in it: the weights or the data do.
        stop_with(StopReason::diverged, detail::non_finite_at_start(step));
        break;
      }
      if (!std::isfinite(step.loss) || !std::isfinite(step.grad_norm)) {
        stop_with(StopReason::diverged,
                  fmt::format("at step {} (epoch {}) the {} is {}; the parameters from before "
                              "the last update were kept -- try a smaller learning rate than {}",
                              step.step, epoch, std::isfinite(step.loss) ? "gradient norm" : "loss",
                              number_text(std::isfinite(step.loss) ? step.grad_norm : step.loss),
                              optimizer_.lr()));
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
        // No update follows, but the step's loss, gradient norm and rate were measured on the
        // parameters kept: the epoch's record reports them (its per-layer norms are this
        // gradient's too).
        last = step;
        converged_loss = step.loss * static_cast<double>(count);
        converged_rows = count;
        stop_with(StopReason::converged,
                  fmt::format("at step {} (epoch {}) the gradient norm {:.3g} is "
                              "within the tolerance {:g}",
                              step.step, epoch, step.grad_norm, crit.grad_tolerance));
        break;
      }
      clip_gradients(step.grad_norm);
      copy_parameters(run.last_good.data());
      run.have_last_good = true;
      update_parameters();
      ++steps_;
      last = step;
      if (schedule_per_step) {
        schedule->step();
        // A rate out of range mid-run ends the run as diverged, with what it trained so far
        // (its history, checkpoint and model); this step's update was sound and is kept.
        if (std::string bad = apply_schedule("step", steps_); !bad.empty()) {
          stop_with(StopReason::diverged, std::move(bad) + "; the run stopped there");
          rate_out_of_range = true;
        }
      }
      weighted_loss += step.loss * static_cast<double>(count);
      first += count;
      process_rows += count;
      samples += count;
      // A callback or the clock of any rank stops every rank at the same step.
      const std::uint64_t flags =
          agree((callbacks.on_step && !callbacks.on_step(step) ? 1u : 0u) |
                (crit.max_seconds > 0.0 && elapsed() >= crit.max_seconds ? 2u : 0u));
      if (flags & 1u) {
        stop_with(StopReason::callback, fmt::format("stopped by a callback at step {}", step.step));
      }
      if (crit.max_steps > 0 && steps_ >= crit.max_steps) {
        stop_with(StopReason::max_steps,
                  fmt::format("took the {} steps asked for", crit.max_steps));
      }
      if (flags & 2u) {
        stop_with(StopReason::time_budget, fmt::format("used the time budget of {:g} s at step {}",
                                                       crit.max_seconds, steps_));
      }
    }
    // Every row of the epoch trained on: its end-of-epoch bookkeeping runs (even when a limit
    // was met at its last step, as it would in a run that went on).
    const bool complete = first == rows;
    // The checks above see each update's result only at the next step: an epoch's (or the
    // run's) last update that overflowed a parameter is caught here, before the parameters
    // are evaluated, checkpointed or saved. Every rank holds the same parameters.
    bool overflowed = false;
    if (stop != StopReason::diverged && run.have_last_good) {
      if (const std::string bad = describe_non_finite_parameter(network_); !bad.empty()) {
        overflowed = true;
        stop_with(StopReason::diverged,
                  fmt::format("at step {} (epoch {}) the update made {}; the parameters from "
                              "before it were kept -- try a smaller learning rate than {}",
                              steps_, epoch, bad, optimizer_.lr()));
      }
    }
    if ((stop == StopReason::diverged || overflowed) && !rate_out_of_range && run.have_last_good) {
      // The latest update produced the non-finite or exploding values: keep the parameters
      // from before it, the last ones whose loss and gradient were sound.
      restore(run.last_good);
    }
    const double epoch_seconds = seconds_since(epoch_start);
    train_seconds += epoch_seconds;

    EpochRecord record;
    record.epoch = epoch;
    record.step = steps_;
    const std::size_t loss_rows = first + converged_rows;
    record.train_loss =
        loss_rows > 0 ? (weighted_loss + converged_loss) / static_cast<double>(loss_rows) : kNaN;
    record.val_loss = kNaN;
    record.val_accuracy = kNaN;
    if (validation != nullptr) {
      const Evaluation eval = evaluate_checked(*validation);  // checked before the first epoch
      record.val_loss = eval.loss;
      record.val_accuracy = eval.accuracy;
      if (!std::isfinite(eval.loss) && stop != StopReason::diverged) {
        stop_with(StopReason::diverged,
                  fmt::format("at epoch {} (step {}) the validation loss is {}; the parameters "
                              "from before the last update were kept -- try a smaller learning "
                              "rate than {}",
                              epoch, steps_, number_text(eval.loss), optimizer_.lr()));
        if (run.have_last_good) restore(run.last_good);
      }
    }
    record.grad_norm = last.grad_norm;
    record.lr = last.lr;
    record.seconds = elapsed();
    record.samples_per_second = process_rows == 0 ? kNaN  // no step of its own
                                : epoch_seconds > 0.0
                                    ? static_cast<double>(process_rows) / epoch_seconds
                                    : 0.0;

    // Per-layer norms, from the gradient of the epoch's last computed step; the warnings
    // compare whole epochs only.
    const std::span<const float> g = network_.gradients(), p = network_.parameters();
    for (std::size_t l = 0; l < layers; ++l) {
      const DenseLayer& layer = network_.layers()[l];
      const std::size_t offset = layer.weight_offset;
      const std::size_t size = layer.bias_offset + layer.outputs - offset;
      const double gn = std::sqrt(k.sum_squares(size, g.data() + offset));
      record.layer_grad_norms.push_back(gn);
      record.layer_weight_norms.push_back(std::sqrt(k.sum_squares(size, p.data() + offset)));
      if (!complete) continue;
      if (run.first_grad_norms.size() < layers) run.first_grad_norms.push_back(gn);
      if (gn < kVanishing && run.warned_vanishing[l] == 0) {
        run.warned_vanishing[l] = 1;
        // (relu is advice only where a saturating activation could be the cause.)
        const auto layers_used = network_.layers();
        const bool saturating =
            std::any_of(layers_used.begin(), layers_used.end(), [](const DenseLayer& d) {
              return d.activation == Activation::sigmoid || d.activation == Activation::tanh;
            });
        warn(
            fmt::format("{}: gradient norm {:.3g} at epoch {} -- vanishing gradients; try {}"
                        "another initialisation or a larger learning rate",
                        layer_name(layer, l), gn, epoch, saturating ? "relu, " : ""));
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

    if (complete && (!stop || is_limit(*stop))) {
      if (schedule != nullptr && !schedule_per_step) {
        schedule->step(std::isnan(record.val_loss) ? record.train_loss : record.val_loss);
        if (std::string bad = apply_schedule("epoch", epoch); !bad.empty()) {
          stop_with(StopReason::diverged, std::move(bad) + "; the run stopped there");
          rate_out_of_range = true;
        }
      }
      // Epoch-end criteria, on the monitored loss.
      const double monitored = validation != nullptr ? record.val_loss : record.train_loss;
      if (crit.target_loss && monitored <= *crit.target_loss) {
        stop_with(StopReason::target_reached,
                  fmt::format("the {} loss reached the target {:g} at epoch {} ({:.6g})",
                              validation != nullptr ? "validation" : "training", *crit.target_loss,
                              epoch, monitored));
      }
      if (crit.target_accuracy && record.val_accuracy >= *crit.target_accuracy) {
        stop_with(
            StopReason::target_reached,
            fmt::format("the validation accuracy reached the target {:g} at epoch {} ({:.4f})",
                        *crit.target_accuracy, epoch, record.val_accuracy));
      }
      if (crit.plateau_tolerance > 0.0 && std::isfinite(monitored)) {
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
      if (crit.early_stopping_patience > 0) {
        if (record.val_loss < run.best_loss - crit.early_stopping_min_delta) {
          run.best_loss = record.val_loss;
          run.best_epoch = epoch;
          run.bad_epochs = 0;
          if (run.best_params.size() != params) run.best_params.resize(params);
          std::memcpy(run.best_params.data(), network_.parameters().data(), params * sizeof(float));
        } else if (++run.bad_epochs >= crit.early_stopping_patience && !run.best_params.empty()) {
          restore(run.best_params);
          stop_with(StopReason::early_stopped,
                    fmt::format("at epoch {} the validation loss had not improved for {} epoch{}; "
                                "restored the weights of epoch {} (validation loss {:.6g})",
                                epoch, crit.early_stopping_patience,
                                crit.early_stopping_patience == 1 ? "" : "s", run.best_epoch,
                                run.best_loss));
        }
      }
      if (agree(crit.max_seconds > 0.0 && elapsed() >= crit.max_seconds ? 1u : 0u) != 0) {
        stop_with(StopReason::time_budget, fmt::format("used the time budget of {:g} s at epoch {}",
                                                       crit.max_seconds, epoch));
      }
      if (epoch == options_.epochs) {
        stop_with(StopReason::max_epochs,
                  fmt::format("ran the {} epoch{} asked for", options_.epochs,
                              options_.epochs == 1 ? "" : "s"));
      }
    }
    record.stop_reason = stop;
    // Every epoch is reported, the last one too (with its stop reason).
    if (distributed && options_.distributed.check_replicas)
      check_replicas(*comm, network_.parameters(), epoch);
    if (agree(callbacks.on_epoch && !callbacks.on_epoch(record) ? 1u : 0u) != 0 && !stop) {
      stop_with(StopReason::callback, fmt::format("stopped by a callback at epoch {}", epoch));
      record.stop_reason = stop;
    }
    run.history.push_back(record);
    if (complete) {
      run.epoch = epoch;
    } else {
      run.partial = true;
      run.epoch_rng = epoch_rng;
      run.epoch_first = first;
      run.epoch_loss_sum = weighted_loss;
      run.epoch_grad_norm = last.grad_norm;
      run.epoch_lr = last.lr;
    }
    if (stop) {
      run.stopped = stop;
      run.stop_message = result.stop_message;
    }
    if (writes_files && !options_.checkpoint.empty() &&
        (stop || epoch % options_.checkpoint_every == 0)) {
      Run saved = run;  // elapsed counts this process's time too
      saved.elapsed = elapsed();
      try {
        write_checkpoint(options_.checkpoint, network_, loss_, optimizer_, schedule, fingerprint,
                         steps_, saved);
      } catch (const Error& e) {
        throw Error(fmt::format("the checkpoint after epoch {}: {}", epoch, e.what()));
      }
    }
  }
  if (!stop) {
    // Resumed from a checkpoint with no epochs left to train.
    result.stop_reason = StopReason::max_epochs;
    result.stop_message = fmt::format("ran the {} epoch{} asked for", options_.epochs,
                                      options_.epochs == 1 ? "" : "s");
  }
  result.samples_per_second =
      train_seconds > 0.0 ? static_cast<double>(samples) / train_seconds : 0.0;
  return finish();
}

namespace {
// trainer.check_memory for a run of `options` on `rows` training rows, on the run's threads
// (how many copies of the packed weights a step makes depends on them).
void check_run_memory(const Trainer& trainer, const TrainOptions& options, std::size_t rows,
                      std::size_t extra_floats) {
  if (rows == 0) return;  // (fit() refuses it)
  const ThreadScope thread_scope(options.threads);
  trainer.check_memory(options.batch_size == 0 ? rows : std::min(options.batch_size, rows),
                       extra_floats);
}
}  // namespace

DataSplit prepare_training(Network& network, const Dataset& data, const TrainOptions& options) {
  // The split's Dataset::subset checks the parts before it copies rows; without a split,
  // fit() checks them.
  // Standardising would spread a NaN over its column; name it first.
  data.check_parts("training data");
  detail::check_values(data, "training");
  // The loss against the targets on the whole set, so that a message names a row of the data
  // as given, not of the shuffled split it fell into. (Without options.loss, the caller's loss
  // is not known here: fit() checks each split with it.)
  if (options.loss) detail::check_data(network, *options.loss, data, "training", false);
  // The split, or the training set alone, is a copy of the rows: refused with the data's name
  // where it would not fit, not as a bare "out of memory" from the first block.
  const std::size_t copy_bytes =
      (data.features.rows() * data.features.cols() + data.values.rows() * data.values.cols()) *
          sizeof(float) +
      data.labels.size() * sizeof(std::uint32_t);
  if (!detail::memory_left_for(copy_bytes)) {
    throw Error(fmt::format(
        "\"{}\": out of memory for the copy of its {} rows that training "
        "makes ({:.1f} GiB; it would leave under {} MiB free)",
        data.name, data.rows(), static_cast<double>(copy_bytes) / (1 << 30), detail::kKeepFreeMiB));
  }
  DataSplit split;
  // Any fraction but 0 goes through the split, which refuses NaN and values outside [0, 1).
  if (options.validation_fraction != 0.0) {
    split = split_train_validation(data, options.validation_fraction,
                                   detail::derive_seed(options.seed, 0));
  } else {
    split.train = data;
  }
  Standardization standardization;
  if (options.standardization) {
    standardization = *options.standardization;
    if (!standardization.empty()) {
      standardization.check();
      if (standardization.features() != data.feature_count()) {
        throw Error(fmt::format("the given standardisation is for {} features, \"{}\" has {}",
                                standardization.features(), data.name, data.feature_count()));
      }
    }
  } else if (options.standardize) {
    standardization = Standardization::fit(split.train.features.view());
  }
  if (!standardization.empty()) {
    standardization.apply(split.train.features.view());
    if (split.validation.rows() > 0) standardization.apply(split.validation.features.view());
    // Finite data can overflow here: a far outlier over a feature's tiny spread, or x - mean
    // past the largest float.
    try {
      detail::check_values(split.train, "standardised training");
      detail::check_values(split.validation, "standardised validation");
    } catch (const Error&) {
      throw Error(standardization_overflow(data, standardization));
    }
  }
  if (options.init) {
    // A network too large to train is refused before anything changes in it, and before it
    // is initialised (minutes, for a few GB of parameters). (The optimizer is not known here,
    // nor needed for the check; where the Trainer would refuse the loss, fit() says so later.)
    const Loss loss = options.loss.value_or(default_loss(data));
    if (loss == Loss::mse || loss == Loss::bce_with_logits ||
        (loss == Loss::cross_entropy && network.outputs() > 1)) {
      const detail::FailOnThrow fail_on_throw(options.distributed.communicator.get());
      Sgd optimizer;
      TrainOptions checked = options;
      checked.flush_denormals = false;  // (not this check's to refuse)
      const Trainer trainer(network, optimizer, loss, checked);
      check_run_memory(trainer, options, split.train.rows(), 0);
    }
  }
  network.set_standardization(std::move(standardization));  // empty: the network sees raw inputs
  if (options.init) network.initialize(*options.init, detail::derive_seed(options.seed, 1));
  return split;
}

TrainResult train(Network& network, const Dataset& data, Optimizer& optimizer,
                  const TrainOptions& options, const Callbacks& callbacks) {
  const Loss loss = options.loss.value_or(default_loss(data));
  // What preparing changes in the network (its standardisation; its parameters, when it is
  // initialised), put back when the run is refused before its first step (bad options or
  // data, a checkpoint of another run), so that such a refusal leaves the network as it was.
  // (fit() puts back what reading a checkpoint changed.)
  Standardization standardization = network.standardization();
  AlignedBuffer<float> parameters;  // (checked against the memory left, as a std::vector is not)
  std::optional<Trainer> trainer;
  try {
    DataSplit split;
    {
      const detail::FailOnThrow fail_on_throw(options.distributed.communicator.get());
      TrainOptions prepared = options;
      prepared.loss = loss;
      prepared.init.reset();  // below, once the memory the run needs is known to be there
      split = prepare_training(network, data, prepared);
      trainer.emplace(network, optimizer, loss, options);
      // A network too large to train is refused now, not after initialising it (minutes,
      // for a few GB of parameters): its copy to put back, and what fit() allocates. Bad
      // options are named first, as fit() would.
      check_options(options, split.validation.rows() > 0, loss);
      check_run_memory(*trainer, options, split.train.rows(),
                       options.init ? network.parameter_count() : 0);
      if (options.init) {
        parameters = detail::copy_of(network.parameters());
        network.initialize(*options.init, detail::derive_seed(options.seed, 1));
      }
    }
    // prepare_training scanned the values (60,000 x 784 floats take about 8 ms a scan).
    return trainer->fit(split.train, split.validation.rows() > 0 ? &split.validation : nullptr,
                        callbacks, false);
  } catch (...) {
    if (!trainer || !trainer->state_->started) {
      network.set_standardization(std::move(standardization));
      if (!parameters.empty())
        std::copy_n(parameters.data(), parameters.size(), network.parameters().begin());
    }
    throw;
  }
}

}  // namespace descent
