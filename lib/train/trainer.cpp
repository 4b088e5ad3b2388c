#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/parallel.hpp"
#include "descent/rng.hpp"
#include "descent/train.hpp"
#include "kernels/kernel_table.hpp"
#include "parallel/parallel.hpp"

namespace descent {
namespace {

// A shard should carry at least this much arithmetic (forward + backward), so that small
// batches and narrow models are not cut into pieces too small to pay for a task.
constexpr double kMinShardFlops = 4.0e6;
// and a batch is cut into at most this many shards (each has its own gradient buffer).
constexpr std::size_t kMaxShards = 16;
// Rows per evaluation chunk.
constexpr std::size_t kEvalRows = 256;
// Floats per piece of the parallel gradient reduction.
constexpr std::size_t kReduceChunk = 16384;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::size_t ceil_div(std::size_t a, std::size_t b) {
  return (a + b - 1) / b;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Independent seeds for the split, the initialisation and the shuffle, from one user seed.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  Rng rng(seed ^ (0x9e3779b97f4a7c15ULL * (stream + 1)));
  return rng.next_u64();
}

// The targets a loss needs for a data set; bce_with_logits on a two-class set turns the
// labels into 0/1 values.
struct PreparedTargets {
  Matrix owned;
  Targets view;
};

void check_data(const Network& network, Loss loss, const Dataset& data, std::string_view role) {
  if (data.feature_count() != network.inputs()) {
    throw Error(fmt::format("{} data \"{}\" has {} features but the network takes {} inputs", role,
                            data.name, data.feature_count(), network.inputs()));
  }
  // A Dataset can be built by hand: its parts must agree before any kernel reads them.
  if (data.task == Task::classification) {
    if (data.labels.size() != data.rows()) {
      throw Error(fmt::format("{} data \"{}\" has {} rows but {} labels", role, data.name,
                              data.rows(), data.labels.size()));
    }
    for (std::size_t i = 0; i < data.labels.size(); ++i) {
      if (data.labels[i] >= data.classes) {
        throw Error(fmt::format("{} data \"{}\": label {} in row {} is not below its {} classes",
                                role, data.name, data.labels[i], i, data.classes));
      }
    }
  } else if (data.values.rows() != data.rows()) {
    throw Error(fmt::format("{} data \"{}\" has {} rows but {} rows of targets", role, data.name,
                            data.rows(), data.values.rows()));
  }
  switch (loss) {
    case Loss::cross_entropy:
      if (data.task != Task::classification) {
        throw Error(fmt::format("cross_entropy needs class labels, but \"{}\" is a regression set",
                                data.name));
      }
      if (data.classes > network.outputs()) {
        throw Error(fmt::format("\"{}\" has {} classes but the network has {} outputs", data.name,
                                data.classes, network.outputs()));
      }
      return;
    case Loss::bce_with_logits:
      if (data.task == Task::classification) {
        if (data.classes != 2 || network.outputs() != 1) {
          throw Error(
              fmt::format("bce_with_logits on class labels needs 2 classes and 1 output; "
                          "\"{}\" has {} classes, the network {} outputs",
                          data.name, data.classes, network.outputs()));
        }
        return;
      }
      [[fallthrough]];
    case Loss::mse:
      if (data.task != Task::regression) {
        throw Error(
            fmt::format("{} needs numeric targets, but \"{}\" has class labels (use "
                        "cross_entropy)",
                        to_string(loss), data.name));
      }
      if (data.values.cols() != network.outputs()) {
        throw Error(fmt::format("\"{}\" has {} target columns but the network has {} outputs",
                                data.name, data.values.cols(), network.outputs()));
      }
      return;
  }
}

PreparedTargets prepare_targets(Loss loss, const Dataset& data) {
  PreparedTargets t;
  if (loss == Loss::bce_with_logits && data.task == Task::classification) {
    t.owned = Matrix(data.rows(), 1);
    for (std::size_t i = 0; i < data.rows(); ++i)
      t.owned(i, 0) = static_cast<float>(data.labels[i]);
    t.view = Targets{{}, t.owned.view()};
  } else {
    t.view = data.targets();
  }
  return t;
}

Targets slice(const Targets& t, std::size_t first, std::size_t count) {
  Targets s;
  if (!t.labels.empty()) s.labels = t.labels.subspan(first, count);
  if (t.values.data != nullptr) s.values = t.values.rows_range(first, count);
  return s;
}

// Correct predictions in a batch: argmax for cross_entropy, the sign of the logit against a
// 0/1 target for bce_with_logits; 0 for mse.
std::size_t count_correct(Loss loss, ConstMatrixView out, const Targets& t) {
  std::size_t correct = 0;
  if (loss == Loss::cross_entropy) {
    for (std::size_t i = 0; i < out.rows; ++i) {
      const float* row = out.row(i);
      const std::size_t best =
          static_cast<std::size_t>(std::max_element(row, row + out.cols) - row);
      correct += best == t.labels[i] ? 1 : 0;
    }
  } else if (loss == Loss::bce_with_logits) {
    for (std::size_t i = 0; i < out.rows; ++i)
      for (std::size_t j = 0; j < out.cols; ++j)
        correct += (out(i, j) > 0.0f) == (t.values(i, j) >= 0.5f) ? 1 : 0;
  }
  return correct;
}

}  // namespace

std::string_view to_string(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::max_epochs:
      return "max_epochs";
    case StopReason::callback:
      return "callback";
  }
  return "unknown";
}

Loss default_loss(const Dataset& data) noexcept {
  return data.task == Task::classification ? Loss::cross_entropy : Loss::mse;
}

struct Trainer::State {
  // Training shards: one workspace and one gradient buffer per shard slot. Shard 0 writes
  // straight into network.gradients().
  std::size_t shard_capacity = 0;
  std::vector<Workspace> workspaces;
  std::vector<AlignedBuffer<float>> shard_gradients;
  std::vector<double> shard_loss;
  std::vector<float*> gradient_pointers;
  // Evaluation chunks.
  std::vector<Workspace> eval_workspaces;
  std::vector<double> chunk_loss;
  std::vector<std::size_t> chunk_correct;
  // The gathered batch.
  Matrix batch_x;
  std::vector<std::uint32_t> batch_labels;
  Matrix batch_values;
};

Trainer::Trainer(Network& network, Optimizer& optimizer, Loss loss, TrainOptions options)
    : network_(network),
      optimizer_(optimizer),
      loss_(loss),
      options_(options),
      state_(std::make_unique<State>()) {
  if (loss == Loss::cross_entropy && network.outputs() < 2) {
    throw Error("cross_entropy needs a network with at least 2 outputs (one per class)");
  }
}

Trainer::~Trainer() = default;

void Trainer::reserve(std::size_t batch_rows) {
  State& s = *state_;
  const std::size_t per_shard = shard_rows(batch_rows);
  const std::size_t shards = ceil_div(batch_rows, per_shard);
  if (s.shard_capacity >= per_shard && s.workspaces.size() >= shards) return;
  // A smaller batch never needs more rows per shard or more shards than a larger one, so
  // sizing for the largest batch serves them all.
  const std::size_t capacity = std::max(s.shard_capacity, per_shard);
  const std::size_t count = std::max(s.workspaces.size(), shards);
  s.workspaces.clear();
  for (std::size_t i = 0; i < count; ++i) s.workspaces.emplace_back(network_, capacity);
  s.shard_gradients.resize(count - 1);
  for (auto& g : s.shard_gradients)
    if (g.size() != network_.parameter_count()) g.resize(network_.parameter_count());
  s.shard_loss.assign(count, 0.0);
  s.gradient_pointers.assign(count, nullptr);
  s.shard_capacity = capacity;
  optimizer_.prepare(network_.parameter_count());
}

std::size_t Trainer::shard_rows(std::size_t batch_rows) const noexcept {
  if (batch_rows == 0) return 1;
  const double flops_per_row = 6.0 * static_cast<double>(network_.parameter_count());
  const auto min_rows = static_cast<std::size_t>(std::ceil(kMinShardFlops / flops_per_row));
  std::size_t rows = std::max({min_rows, ceil_div(batch_rows, kMaxShards), std::size_t{1}});
  rows = ceil_div(rows, 8) * 8;
  return std::min(rows, batch_rows);
}

StepRecord Trainer::train_step(ConstMatrixView x, const Targets& targets) {
  const std::size_t rows = x.rows;
  if (rows == 0) throw Error("train_step: the batch is empty");
  if (x.cols != network_.inputs()) {
    throw Error(fmt::format("train_step: the batch has {} columns, the network takes {} inputs",
                            x.cols, network_.inputs()));
  }
  check_targets(loss_, ConstMatrixView{nullptr, rows, network_.outputs(), network_.outputs()},
                targets);

  reserve(rows);
  State& s = *state_;
  const std::size_t per_shard = shard_rows(rows);
  const std::size_t shards = ceil_div(rows, per_shard);
  s.gradient_pointers[0] = network_.gradients().data();
  for (std::size_t i = 1; i < shards; ++i) s.gradient_pointers[i] = s.shard_gradients[i - 1].data();

  const auto scale =
      static_cast<float>(1.0 / static_cast<double>(loss_divisor(loss_, rows, network_.outputs())));
  const std::size_t params = network_.parameter_count();

  parallel::for_each_index(shards, [&](std::size_t shard) {
    const std::size_t first = shard * per_shard;
    const std::size_t count = std::min(per_shard, rows - first);
    const ConstMatrixView xs = x.rows_range(first, count);
    Workspace& ws = s.workspaces[shard];
    const ConstMatrixView out = network_.forward(xs, ws);
    const MatrixView grad = ws.output_gradient(count);
    s.shard_loss[shard] = loss_sum(loss_, out, slice(targets, first, count), scale, &grad);
    network_.backward(xs, ws, std::span<float>(s.gradient_pointers[shard], params));
  });

  // Pairwise tree over the shards in a fixed order, run in parallel over fixed pieces of the
  // parameter vector: every element sees the same additions whatever the thread count.
  const auto& k = kernels::active();
  if (shards > 1) {
    parallel::for_each_index(ceil_div(params, kReduceChunk), [&](std::size_t chunk) {
      const std::size_t first = chunk * kReduceChunk;
      const std::size_t count = std::min(kReduceChunk, params - first);
      for (std::size_t stride = 1; stride < shards; stride *= 2) {
        for (std::size_t i = 0; i + stride < shards; i += 2 * stride) {
          k.axpy(count, 1.0f, s.gradient_pointers[i + stride] + first,
                 s.gradient_pointers[i] + first);
        }
      }
    });
  }
  double loss_total = 0.0;
  for (std::size_t i = 0; i < shards; ++i) loss_total += s.shard_loss[i];

  StepRecord record;
  record.step = ++steps_;
  record.rows = rows;
  record.loss = loss_total / static_cast<double>(loss_divisor(loss_, rows, network_.outputs()));
  record.grad_norm = std::sqrt(k.sum_squares(params, network_.gradients().data()));
  record.lr = optimizer_.lr();
  optimizer_.step(network_.parameters(), network_.gradients());
  return record;
}

Evaluation Trainer::evaluate(const Dataset& data) {
  check_data(network_, loss_, data, "evaluation");
  Evaluation result;
  result.rows = data.rows();
  if (data.rows() == 0) {
    result.loss = kNaN;
    result.accuracy = kNaN;
    return result;
  }
  const PreparedTargets targets = prepare_targets(loss_, data);
  State& s = *state_;
  const std::size_t chunks = ceil_div(data.rows(), kEvalRows);
  const std::size_t workers = std::min(chunks, kMaxShards);
  while (s.eval_workspaces.size() < workers) s.eval_workspaces.emplace_back(network_, kEvalRows);
  s.chunk_loss.assign(chunks, 0.0);
  s.chunk_correct.assign(chunks, 0);
  const ConstMatrixView x = data.features.view();
  parallel::for_each_index(workers, [&](std::size_t worker) {
    for (std::size_t chunk = worker; chunk < chunks; chunk += workers) {
      const std::size_t first = chunk * kEvalRows;
      const std::size_t count = std::min(kEvalRows, data.rows() - first);
      const ConstMatrixView out =
          network_.forward(x.rows_range(first, count), s.eval_workspaces[worker]);
      const Targets t = slice(targets.view, first, count);
      s.chunk_loss[chunk] = loss_sum(loss_, out, t, 0.0f, nullptr);
      s.chunk_correct[chunk] = count_correct(loss_, out, t);
    }
  });
  double loss_total = 0.0;
  std::size_t correct = 0;
  for (std::size_t c = 0; c < chunks; ++c) {
    loss_total += s.chunk_loss[c];
    correct += s.chunk_correct[c];
  }
  result.loss =
      loss_total / static_cast<double>(loss_divisor(loss_, data.rows(), network_.outputs()));
  if (loss_ == Loss::mse) {
    result.accuracy = kNaN;
  } else {
    const std::size_t judged =
        loss_ == Loss::cross_entropy ? data.rows() : data.rows() * network_.outputs();
    result.accuracy = static_cast<double>(correct) / static_cast<double>(judged);
  }
  return result;
}

TrainResult Trainer::fit(const Dataset& train, const Dataset* validation,
                         const Callbacks& callbacks) {
  check_data(network_, loss_, train, "training");
  if (validation != nullptr && validation->rows() > 0)
    check_data(network_, loss_, *validation, "validation");
  if (train.rows() == 0) throw Error(fmt::format("training data \"{}\" has no rows", train.name));
  if (options_.epochs == 0) throw Error("epochs must be at least 1");
  (void)active_isa();  // an invalid DESCENT_ISA is reported here, before any work

  const ThreadScope thread_scope(options_.threads);
  const std::size_t rows = train.rows();
  const std::size_t batch = options_.batch_size == 0 ? rows : std::min(options_.batch_size, rows);
  // Full batch: every step sees every row, in the data's order; nothing to gather.
  const bool gather = batch < rows;
  const PreparedTargets targets = prepare_targets(loss_, train);

  State& s = *state_;
  if (gather) {
    s.batch_x = Matrix(batch, network_.inputs());
    if (!targets.view.labels.empty()) s.batch_labels.assign(batch, 0);
    if (targets.view.values.data != nullptr)
      s.batch_values = Matrix(batch, targets.view.values.cols);
  }
  reserve(batch);  // every allocation a step needs, before the first step
  Schedule* schedule = options_.schedule.get();
  const bool schedule_per_step = schedule != nullptr &&
                                 options_.schedule_per == SchedulePer::step &&
                                 !schedule->needs_metric();
  if (schedule != nullptr) {
    const std::size_t steps_per_epoch = ceil_div(rows, batch);
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
  std::vector<std::size_t> order(rows);
  std::iota(order.begin(), order.end(), std::size_t{0});
  Rng shuffle_rng(derive_seed(options_.seed, 2));

  TrainResult result;
  result.threads = threads();
  result.isa = active_isa();
  result.loss = loss_;
  const auto start = Clock::now();
  double train_seconds = 0.0;
  std::size_t samples = 0;
  bool stop = false;

  for (std::size_t epoch = 1; epoch <= options_.epochs && !stop; ++epoch) {
    if (gather && options_.shuffle) shuffle_rng.shuffle(std::span<std::size_t>(order));
    const auto epoch_start = Clock::now();
    double weighted_loss = 0.0;
    StepRecord last;
    for (std::size_t first = 0; first < rows && !stop; first += batch) {
      const std::size_t count = std::min(batch, rows - first);
      ConstMatrixView x = train.features.view().rows_range(first, count);
      Targets t = slice(targets.view, first, count);
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
      last = train_step(x, t);
      last.epoch = epoch;
      if (schedule_per_step) {
        schedule->step();
        optimizer_.set_lr(schedule->rate());
      }
      weighted_loss += last.loss * static_cast<double>(count);
      samples += count;
      if (callbacks.on_step && !callbacks.on_step(last)) {
        stop = true;
        result.stop_reason = StopReason::callback;
      }
    }
    const double epoch_seconds = seconds_since(epoch_start);
    train_seconds += epoch_seconds;

    EpochRecord record;
    record.epoch = epoch;
    record.step = steps_;
    record.train_loss = weighted_loss / static_cast<double>(rows);
    record.val_loss = kNaN;
    record.val_accuracy = kNaN;
    if (validation != nullptr && validation->rows() > 0) {
      const Evaluation eval = evaluate(*validation);
      record.val_loss = eval.loss;
      record.val_accuracy = eval.accuracy;
    }
    record.grad_norm = last.grad_norm;
    record.lr = last.lr;
    if (schedule != nullptr && !schedule_per_step) {
      schedule->step(std::isnan(record.val_loss) ? record.train_loss : record.val_loss);
      optimizer_.set_lr(schedule->rate());
    }
    record.seconds = seconds_since(start);
    record.samples_per_second =
        epoch_seconds > 0.0 ? static_cast<double>(rows) / epoch_seconds : 0.0;
    result.history.push_back(record);
    result.epochs = epoch;
    if (!stop && callbacks.on_epoch && !callbacks.on_epoch(record)) {
      stop = true;
      result.stop_reason = StopReason::callback;
    }
  }
  result.steps = steps_;
  result.seconds = seconds_since(start);
  result.samples_per_second =
      train_seconds > 0.0 ? static_cast<double>(samples) / train_seconds : 0.0;
  return result;
}

TrainResult train(Network& network, const Dataset& data, Optimizer& optimizer,
                  const TrainOptions& options, const Callbacks& callbacks) {
  const Loss loss = options.loss.value_or(default_loss(data));
  DataSplit split;
  if (options.validation_fraction > 0.0) {
    split = split_train_validation(data, options.validation_fraction, derive_seed(options.seed, 0));
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
  if (options.init) network.initialize(*options.init, derive_seed(options.seed, 1));
  Trainer trainer(network, optimizer, loss, options);
  return trainer.fit(split.train, split.validation.rows() > 0 ? &split.validation : nullptr,
                     callbacks);
}

}  // namespace descent
