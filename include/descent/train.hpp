#pragma once
// The training loop: batch (batch_size = rows), stochastic (1) and mini-batch (B) gradient
// descent in one trainer. Each batch is cut into shards by a rule that depends on the batch
// size and the model only; the shards' gradients are summed in a fixed order, so the result
// does not depend on the thread count.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "descent/data.hpp"
#include "descent/distributed.hpp"
#include "descent/kernels.hpp"
#include "descent/loss.hpp"
#include "descent/matrix.hpp"
#include "descent/network.hpp"
#include "descent/optimizer.hpp"
#include "descent/schedule.hpp"

namespace descent {

enum class StopReason {
  max_epochs,      // ran every epoch asked for
  max_steps,       // took the optimizer steps asked for
  time_budget,     // ran out of time
  converged,       // the gradient norm fell to the tolerance: the gradient is about zero
  plateau,         // the monitored loss stopped changing for `patience` epochs
  target_reached,  // the monitored loss, or the validation accuracy, reached its target
  early_stopped,   // the validation loss stopped improving; the best weights were restored
  diverged,        // a non-finite or exploding loss or gradient; the last finite weights kept
  callback,        // a callback returned false
};
std::string_view to_string(StopReason reason) noexcept;

// When to stop besides the epoch count; every criterion is off unless set, and they combine
// (the first one met stops training). "The monitored loss" is the validation loss when there
// is validation data, else the epoch's training loss.
struct StopCriteria {
  std::size_t max_steps = 0;                // optimizer steps; 0: no limit
  double max_seconds = 0.0;                 // wall time of the run; 0: no limit
  double grad_tolerance = 0.0;              // converged: a step's gradient norm <= this
  double plateau_tolerance = 0.0;           // plateau: |relative change| of the monitored
  std::size_t plateau_patience = 5;         //   loss below this for this many epochs in a row
  std::optional<double> target_loss;        // target_reached: the monitored loss <= this
  std::optional<double> target_accuracy;    // target_reached: validation accuracy >= this
  std::size_t early_stopping_patience = 0;  // early_stopped: this many epochs without the
  double early_stopping_min_delta = 0.0;    //   validation loss improving by more than this
  double divergence_factor = 1e3;           // diverged: a step's loss above this times the
                                            //   first step's (0: only non-finite values)
};

// When a schedule advances: once per epoch (as most PyTorch scripts call scheduler.step()) or
// once per optimizer step. plateau always advances per epoch, with the validation loss (the
// training loss without validation data).
enum class SchedulePer { epoch, step };

struct TrainOptions {
  std::size_t batch_size = 32;  // 0 = the whole training set (batch gradient descent)
  std::size_t epochs = 10;
  std::uint64_t seed = 0;            // shuffling; train() also derives the split and init
  double validation_fraction = 0.2;  // train(): held out of the data before training
  std::size_t threads = 0;           // 0 = descent::threads()
  bool shuffle = true;               // reshuffle the training rows every epoch
  bool standardize = true;           // train(): fit on the training split, save in the network
  // train(): this standardisation instead (standardize is then not read): a saved model's, to
  // train it further on inputs scaled as it knows them. One entry per feature, or empty (raw).
  std::optional<Standardization> standardization;
  std::optional<Loss> loss;            // train(): default cross_entropy / mse by task
  std::optional<Init> init;            // train(): initialise the network first (seed-derived)
  std::shared_ptr<Schedule> schedule;  // sets the optimizer's rate; none keeps it fixed
  SchedulePer schedule_per = SchedulePer::epoch;
  StopCriteria stop;
  double clip_norm = 0.0;   // scale the gradient to this global L2 norm when above it (0: off)
  double clip_value = 0.0;  // clamp every gradient element to [-clip_value, clip_value] (0: off)
  // Checkpoints: every `checkpoint_every` epochs, and when training stops, the network, the
  // optimizer's and schedule's state, the shuffling position, the epoch, the step and the
  // history go to `checkpoint` (atomically). `resume` continues from such a file; the run
  // then ends exactly as an uninterrupted one would.
  std::filesystem::path checkpoint;
  std::size_t checkpoint_every = 1;
  std::filesystem::path resume;
  // Time every step's phases into TrainResult::profile (a few clock reads per step).
  bool profile = false;
  // Flush subnormal floats to zero while descent computes a step (forward, backward,
  // reduction, clipping, update), on every thread that works on it. Some CPUs take a slow
  // path for each arithmetic operation on a subnormal: an optimizer whose state decays
  // towards zero (momentum, running averages of a dead unit's gradient) can then make a step
  // several times slower (README). Off by default, as in PyTorch; on, results differ only
  // where a value would have been subnormal (below about 1.2e-38 in magnitude), and stay the
  // same on any thread count. x86-64 only (elsewhere the Trainer throws descent::Error).
  bool flush_denormals = false;
  // Rows per shard; 0: the automatic rule (from the batch size and the model). The shards
  // decide which rows' gradients are summed together, so a fixed size gives the same bits
  // on any thread count and rank count, and a different size (or the automatic rule) other
  // bits. Smaller shards let more ranks share a small batch in exact distributed training;
  // each shard has a gradient buffer of its own (at most 1024 shards per batch).
  std::size_t shard_rows = 0;
  // Data-parallel training across ranks (descent/distributed.hpp); none: this process alone.
  // Every rank calls fit() or train() with the same data and options (they check). The
  // checkpoint is written by rank 0 only; `resume` must be readable by every rank. With
  // ranks, train_step() and evaluate() are collective too: every rank calls them, in the
  // same order, with the same batch.
  DistributedOptions distributed;
};

// Where the training steps' time went, in seconds summed over `steps` steps. Shards run
// forward and backward in parallel: that region's wall time is split between forward and
// backward in the ratio of the shards' own forward and backward times.
struct StepProfile {
  std::size_t steps = 0;
  double data = 0.0;       // gathering the batch's rows in the epoch's order (each shard its own)
  double forward = 0.0;    // forward passes and the loss (with its gradient)
  double backward = 0.0;   // backpropagation into the shards' gradients
  double reduce = 0.0;     // summing the shards' gradients, the gradient norm, clipping
  double optimizer = 0.0;  // the optimizer's update (and the schedule)
  double total() const noexcept { return data + forward + backward + reduce + optimizer; }
};

// One row of the history, written after every epoch.
struct EpochRecord {
  std::size_t epoch = 0;      // 1-based
  std::size_t step = 0;       // optimizer steps so far
  double train_loss = 0.0;    // mean over the epoch's samples of the batch losses
  double val_loss = 0.0;      // NaN without validation data
  double val_accuracy = 0.0;  // NaN without validation data or for regression
  // NaN for an epoch that trained on no rows (it stopped at its first step): samples_per_second,
  // and grad_norm and lr too where that step diverged (a converged one reports its own).
  double grad_norm = 0.0;           // L2 norm of the gradient of the epoch's last step
  double lr = 0.0;                  // learning rate of the epoch's last step
  double seconds = 0.0;             // wall time since training began
  double samples_per_second = 0.0;  // training throughput over this epoch
  // Per layer, at the epoch's last step: the L2 norm of its gradient (weights and bias; as
  // applied, i.e. after clipping, where grad_norm is before) and of its parameters, so
  // vanishing and exploding gradients show.
  std::vector<double> layer_grad_norms;
  std::vector<double> layer_weight_norms;
  std::optional<StopReason> stop_reason;  // on the epoch training stopped in
};

struct StepRecord {
  std::size_t epoch = 0;  // 1-based; 0 for a train_step() outside fit()
  std::size_t step = 0;   // 1-based count of optimizer steps
  std::size_t rows = 0;
  double loss = 0.0;       // mean loss of the batch, before the update
  double lr = 0.0;         // the learning rate of this step
  double grad_norm = 0.0;  // L2 norm of the mean gradient
  // False where train_step() left the parameters as they were: the loss or the gradient was
  // not finite (NaN or overflowing inputs, weights or targets).
  bool updated = true;
};

struct Callbacks {
  std::function<bool(const StepRecord&)> on_step;      // return false to stop
  std::function<bool(const EpochRecord&)> on_epoch;    // return false to stop
  std::function<void(const std::string&)> on_warning;  // vanishing or exploding gradients
};

struct TrainResult {
  std::vector<EpochRecord> history;
  StopReason stop_reason = StopReason::max_epochs;
  std::string stop_message;           // the reason in a sentence, with where and what to do
  std::vector<std::string> warnings;  // what on_warning was told
  std::size_t best_epoch = 0;         // early stopping: the epoch whose weights were kept
  std::size_t resumed_epoch = 0;      // the checkpoint's epoch when resumed, else 0
  std::size_t epochs = 0;
  std::size_t steps = 0;
  double seconds = 0.0;
  double samples_per_second = 0.0;
  std::size_t threads = 0;
  Isa isa = Isa::scalar;
  Loss loss = Loss::mse;
  StepProfile profile;  // this process's steps, when options.profile is set
  // Rows this process ran forward and backward on; with ranks, every rank's (rank order).
  std::size_t rows_computed = 0;
  std::vector<std::size_t> rank_rows;
  std::size_t ranks = 1;
  Reduction reduction = Reduction::exact;
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
  // Where the loss or the gradient is not finite, no update is applied (StepRecord::updated
  // false, step not counted): the parameters stay as they were.
  StepRecord train_step(ConstMatrixView x, const Targets& targets);
  // The same step on the batch of rows x.row(rows[0]), x.row(rows[1]), ... (and their
  // targets), as fit() steps through a shuffled epoch: each shard copies its own rows, in
  // parallel and just before its forward pass reads them, instead of the caller gathering the
  // whole batch first. The result is the same bits as train_step on the gathered batch.
  // Throws descent::Error on an empty selection, a row index past x.rows, or a target of a
  // selected row that does not fit the loss (only those rows' targets are read and checked).
  StepRecord train_step(ConstMatrixView x, const Targets& targets,
                        std::span<const std::size_t> rows);

  // Mean loss (and accuracy for classification) of the network on data, forward only. The
  // inputs are used as given: after train(), standardise raw data with
  // network.standardization().apply() first (Network::predict does it for you). Throws
  // descent::Error on data that does not fit the model or has no rows.
  Evaluation evaluate(const Dataset& data);

  // Trains on `train` for options.epochs epochs, evaluating on `validation` (may be null)
  // after each, until a stop criterion is met. Inputs are used as given (see train() for
  // standardisation).
  TrainResult fit(const Dataset& train, const Dataset* validation, const Callbacks& callbacks = {});

  // The rule that cuts a batch: rows per shard, from the batch size and the model only (or
  // TrainOptions::shard_rows when set).
  std::size_t shard_rows(std::size_t batch_rows) const noexcept;
  // Rows per forward/backward pass within a shard (from the model only): a larger shard
  // runs in several passes, its gradient accumulated.
  std::size_t pass_rows() const noexcept;
  // Whether a step on a batch of batch_rows rows runs on the calling thread alone: one shard
  // (of this rank's), a model under 2^20 parameters and too few FLOPs forward and backward to
  // pay for moving the parameters between cores (8 x 10^7 with AVX-512, 3 x 10^7 otherwise). It
  // changes no result, only the speed.
  bool runs_serially(std::size_t batch_rows) const noexcept;
  // Rows this trainer has run forward and backward on, over all its steps (with ranks, only
  // this rank's part of each batch).
  std::size_t rows_computed() const noexcept;
  // Allocates everything a step on a batch of up to batch_rows rows needs (workspaces, shard
  // gradients, the optimizer's state), so that steps allocate nothing. fit() calls it.
  void reserve(std::size_t batch_rows);
  // Throws descent::Error, naming the sizes, where what reserve(batch_rows) and fit() would
  // still allocate (shard gradients, workspaces, packed weights, fit's copies of the
  // parameters; not the optimizer's state), with extra_floats more, would leave under 128 MiB
  // of the memory the kernel can give: such a run is refused before it starts, not ended by
  // the OOM killer. fit() calls it, and train() before it initialises the network.
  void check_memory(std::size_t batch_rows, std::size_t extra_floats = 0) const;
  Loss loss() const noexcept { return loss_; }

  // Timing of each step's phases (TrainOptions::profile sets it at construction). profile()
  // holds the sums since profiling was turned on or the profile reset.
  void set_profiling(bool on) noexcept;
  const StepProfile& profile() const noexcept;
  void reset_profile() noexcept;
  // Adds time spent gathering a batch (by the caller, outside train_step) to the profile.
  void add_data_time(double seconds) noexcept;

  // What a run carries from epoch to epoch and into checkpoints (defined internally).
  struct Run;

 private:
  // train() asks whether fit() got past its checks (State::started), to put the network back
  // when it did not.
  friend TrainResult train(Network& network, const Dataset& data, Optimizer& optimizer,
                           const TrainOptions& options, const Callbacks& callbacks);
  struct State;
  struct StepPlan;
  // evaluate() on data check_data has passed (fit's validation set, checked once, not every
  // epoch: the check reads every value).
  Evaluation evaluate_checked(const Dataset& data);
  // fit(), with the data's values scanned for NaN and inf only when scan_values is true
  // (train() has scanned them while preparing them).
  TrainResult fit(const Dataset& train, const Dataset* validation, const Callbacks& callbacks,
                  bool scan_values);
  // How a batch of `rows` rows is cut and which shards this process computes.
  StepPlan plan_step(std::size_t rows) const noexcept;
  // The most shards this process computes of a batch of batch_rows rows, and the most rows in
  // one of them. Throws descent::Error for a batch cut into more shards than a trainer holds.
  std::pair<std::size_t, std::size_t> shard_layout(std::size_t batch_rows) const;

  // The ranks' partial gradients and losses combined into network.gradients() (after this
  // rank's shards ran); returns the loss sum and the squared norm.
  void combine_ranks(const StepPlan& plan, double& loss_total, double& squares);
  // Whether a step of this plan runs its shards in pairs, the second adding its gradient into
  // the first's buffer.
  bool fuses_pairs(const StepPlan& plan) const noexcept;
  // How many copies of the layers' packed weights a step of this plan makes: 0 (each product
  // packs its own), 1 (packed once for all the shards) or one per task (each thread packs the
  // copy its pair of shards reads).
  std::size_t packed_copies(const StepPlan& plan) const noexcept;
  // Packs every layer's weights for the forward products of a step into copy `copy`, across
  // the threads or not; returns the seconds it took when profiling.
  double pack_weights(std::size_t copy, bool parallel);
  // Throws when the buffers of earlier steps were made for other layer sizes (the network was
  // replaced): a step would read and write them out of bounds.
  void check_buffers_fit() const;
  // The mean gradient of the batch into network.gradients(), and its loss and norm; no update.
  // With `rows` non-empty, the batch is those rows of x and targets (gathered by the shards).
  StepRecord compute_gradient(ConstMatrixView x, const Targets& targets,
                              std::span<const std::size_t> rows = {});
  // Clips network.gradients() as the options ask; grad_norm is its norm before clipping.
  void clip_gradients(double grad_norm);
  void clip(double grad_norm);
  // The optimizer's update of the parameters with network.gradients() (timed when profiling).
  // Whether train_step applies its update (StepRecord::updated), which it records.
  bool finish_step(StepRecord& record) const noexcept;
  void update_parameters();
  // Copies the parameters to `to` (parameter_count() floats) in the pieces, and on the threads,
  // of the built-in optimizers' update (optim::for_each_piece), so that each thread's update
  // then finds its parameters in its own cache. (A custom optimizer may split differently.)
  void copy_parameters(float* to);
  // The sum of squares of values, in fixed pieces summed in order (thread-count independent).
  double squared_norm(std::span<const float> values);
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

// Throws descent::Error, in train()'s words, where `data` cannot train `network` with `loss`:
// a feature count other than the network's inputs, parts that disagree, a value that is not
// finite, class labels with mse, numeric targets with cross_entropy, bce_with_logits on more
// than 2 classes or on targets outside [0, 1]. For a tool that checks before it writes
// anything; train() and lr_find() check the same themselves.
void check_training_data(const Network& network, const Dataset& data, Loss loss);

// The first half of train()'s recipe: the seeded train/validation split, standardisation
// fitted on the training split and applied to both (stored in the network), and the
// initialisation when options.init is set. What train() then fits on; lr_find can use it too.
// With options.init, a network too large to train with these options (its batch_size,
// threads, early stopping) is refused first, as Trainer::check_memory, the network unchanged.
// Where options.loss is set, throws descent::Error when `data` cannot train `network` with it,
// as check_training_data, naming rows of `data` as given.
DataSplit prepare_training(Network& network, const Dataset& data, const TrainOptions& options);

// The model in a checkpoint file (TrainOptions::checkpoint): the network, its
// standardisation and the weights it had when the checkpoint was written, and its loss. For
// predicting with, evaluating or starting a new run from a run that is still going or was cut
// short. Throws descent::Error for a file that is not an intact checkpoint.
struct LoadedModel;  // descent/io.hpp
LoadedModel load_checkpoint_model(const std::filesystem::path& path);
// Whether a file that starts with `head` is a checkpoint (by its magic bytes).
bool is_checkpoint(std::span<const char> head) noexcept;

// The whole recipe on one data set: a seeded train/validation split, standardisation fitted
// on the training split only (stored in the network), optional initialisation, then fit().
TrainResult train(Network& network, const Dataset& data, Optimizer& optimizer,
                  const TrainOptions& options, const Callbacks& callbacks = {});

}  // namespace descent
