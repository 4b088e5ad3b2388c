#pragma once
// The training loop: batch (batch_size = rows), stochastic (1) and mini-batch (B) gradient
// descent in one trainer. Each batch is cut into shards by a rule that depends on the batch
// size and the model only; the shards' gradients are summed in a fixed order, so the result
// does not depend on the thread count.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "descent/data.hpp"
#include "descent/kernels.hpp"
#include "descent/loss.hpp"
#include "descent/matrix.hpp"
#include "descent/network.hpp"
#include "descent/optimizer.hpp"
#include "descent/schedule.hpp"

namespace descent {

enum class StopReason {
  max_epochs,  // ran every epoch asked for
  callback,    // a callback returned false
};
std::string_view to_string(StopReason reason) noexcept;

// When a schedule advances: once per epoch (as most PyTorch scripts call scheduler.step()) or
// once per optimizer step. plateau always advances per epoch, with the validation loss (the
// training loss without validation data).
enum class SchedulePer { epoch, step };

struct TrainOptions {
  std::size_t batch_size = 32;  // 0 = the whole training set (batch gradient descent)
  std::size_t epochs = 10;
  std::uint64_t seed = 0;              // shuffling; train() also derives the split and init
  double validation_fraction = 0.2;    // train(): held out of the data before training
  std::size_t threads = 0;             // 0 = descent::threads()
  bool shuffle = true;                 // reshuffle the training rows every epoch
  bool standardize = true;             // train(): fit on the training split, save in the network
  std::optional<Loss> loss;            // train(): default cross_entropy / mse by task
  std::optional<Init> init;            // train(): initialise the network first (seed-derived)
  std::shared_ptr<Schedule> schedule;  // sets the optimizer's rate; none keeps it fixed
  SchedulePer schedule_per = SchedulePer::epoch;
};

// One row of the history, written after every epoch.
struct EpochRecord {
  std::size_t epoch = 0;            // 1-based
  std::size_t step = 0;             // optimizer steps so far
  double train_loss = 0.0;          // mean over the epoch's samples of the batch losses
  double val_loss = 0.0;            // NaN without validation data
  double val_accuracy = 0.0;        // NaN without validation data or for regression
  double grad_norm = 0.0;           // L2 norm of the gradient of the epoch's last step
  double lr = 0.0;                  // learning rate of the epoch's last step
  double seconds = 0.0;             // wall time since training began
  double samples_per_second = 0.0;  // training throughput over this epoch
};

struct StepRecord {
  std::size_t epoch = 0;  // 1-based; 0 for a train_step() outside fit()
  std::size_t step = 0;   // 1-based count of optimizer steps
  std::size_t rows = 0;
  double loss = 0.0;       // mean loss of the batch, before the update
  double lr = 0.0;         // the learning rate of this step
  double grad_norm = 0.0;  // L2 norm of the mean gradient
};

struct Callbacks {
  std::function<bool(const StepRecord&)> on_step;    // return false to stop
  std::function<bool(const EpochRecord&)> on_epoch;  // return false to stop
};

struct TrainResult {
  std::vector<EpochRecord> history;
  StopReason stop_reason = StopReason::max_epochs;
  std::size_t epochs = 0;
  std::size_t steps = 0;
  double seconds = 0.0;
  double samples_per_second = 0.0;
  std::size_t threads = 0;
  Isa isa = Isa::scalar;
  Loss loss = Loss::mse;
};

struct Evaluation {
  double loss = 0.0;      // mean, as the loss reduces
  double accuracy = 0.0;  // NaN for regression
  std::size_t rows = 0;
};

class Trainer {
 public:
  // The trainer keeps references to network and optimizer; both must outlive it.
  Trainer(Network& network, Optimizer& optimizer, Loss loss, TrainOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // One gradient step on this batch (inputs already standardised): forward, loss, backward,
  // reduction, optimizer update. network.gradients() holds the batch's mean gradient after.
  StepRecord train_step(ConstMatrixView x, const Targets& targets);

  // Mean loss (and accuracy for classification) of the network on data, forward only. The
  // inputs are used as given: after train(), standardise raw data with
  // network.standardization().apply() first (Network::predict does it for you).
  Evaluation evaluate(const Dataset& data);

  // Trains on `train` for options.epochs epochs, evaluating on `validation` (may be null)
  // after each. Inputs are used as given (see train() for standardisation).
  TrainResult fit(const Dataset& train, const Dataset* validation, const Callbacks& callbacks = {});

  // The rule that cuts a batch: rows per shard, from the batch size and the model only.
  std::size_t shard_rows(std::size_t batch_rows) const noexcept;
  // Allocates everything a step on a batch of up to batch_rows rows needs (workspaces, shard
  // gradients, the optimizer's state), so that steps allocate nothing. fit() calls it.
  void reserve(std::size_t batch_rows);
  Loss loss() const noexcept { return loss_; }

 private:
  struct State;
  Network& network_;
  Optimizer& optimizer_;
  Loss loss_;
  TrainOptions options_;
  std::unique_ptr<State> state_;
  std::size_t steps_ = 0;
};

// The loss a data set is trained with unless told otherwise: cross_entropy for
// classification, mse for regression.
Loss default_loss(const Dataset& data) noexcept;

// The whole recipe on one data set: a seeded train/validation split, standardisation fitted
// on the training split only (stored in the network), optional initialisation, then fit().
TrainResult train(Network& network, const Dataset& data, Optimizer& optimizer,
                  const TrainOptions& options, const Callbacks& callbacks = {});

}  // namespace descent
