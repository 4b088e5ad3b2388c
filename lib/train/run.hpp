#pragma once
// Internal: everything about a training run that must survive a checkpoint for the resumed
// run to end exactly as an uninterrupted one, and the checkpoint file that holds it.

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "descent/rng.hpp"
#include "descent/train.hpp"

namespace descent {

struct Trainer::Run {
  std::size_t epoch = 0;  // epochs completed
  Rng shuffle_rng;
  // Why the run stopped, once it has: a checkpoint of a stopped run resumes only when the
  // limit that stopped it (epochs, steps, time, a callback) has been raised.
  std::optional<StopReason> stopped;
  std::string stop_message;
  // A run stopped inside an epoch (steps, time, a callback): where in it, so that a resumed
  // run finishes the same epoch with the same order. The last history record is then the
  // partial epoch's, replaced when the epoch completes.
  bool partial = false;
  Rng::State epoch_rng{};        // the shuffling state at the start of the partial epoch
  std::size_t epoch_first = 0;   // the rows of it already trained on
  double epoch_loss_sum = 0.0;   // their losses, weighted by rows
  double epoch_grad_norm = 0.0;  // its last step's gradient norm and rate
  double epoch_lr = 0.0;
  // Divergence: the parameters before the latest update, kept when the next step diverges.
  AlignedBuffer<float> last_good;
  bool have_last_good = false;
  double elapsed = 0.0;  // wall time of earlier processes, seconds
  // Divergence: the loss of the run's first step.
  double initial_loss = std::numeric_limits<double>::quiet_NaN();
  // Plateau: the monitored loss of the last epoch, and how many epochs in a row it barely moved.
  double previous_monitored = std::numeric_limits<double>::quiet_NaN();
  std::size_t flat_epochs = 0;
  // Early stopping: the best validation loss so far, its epoch and weights, and the epochs since.
  double best_loss = std::numeric_limits<double>::infinity();
  std::size_t best_epoch = 0;
  std::size_t bad_epochs = 0;
  AlignedBuffer<float> best_params;
  // Diagnostics: each layer's gradient norm after the first epoch, and the warnings given.
  std::vector<double> first_grad_norms;
  std::vector<std::uint8_t> warned_vanishing;
  std::vector<std::uint8_t> warned_exploding;
  std::vector<std::string> warnings;
  std::vector<EpochRecord> history;
};

// What a checkpoint must match to be resumed: the run's settings and its data.
struct RunFingerprint {
  std::string optimizer;  // its canonical spec, or its name
  std::string schedule;   // its canonical spec, or its name, or ""
  std::uint32_t schedule_per = 0;
  double clip_norm = 0.0;
  double clip_value = 0.0;
  std::uint64_t batch_size = 0;
  std::uint64_t seed = 0;
  std::uint32_t loss = 0;
  std::uint32_t shuffle = 0;
  std::uint64_t train_rows = 0;
  std::uint32_t train_crc = 0;
  std::uint64_t validation_rows = 0;
  std::uint32_t validation_crc = 0;
};

// The checkpoint file: magic "DSNTCKP1", format version, the model file, the optimizer's
// state, the schedule's (name and state, or nothing), the fingerprint, the trainer's step
// count and Run, and a CRC-32 of all of it.
void write_checkpoint(const std::filesystem::path& path, const Network& network, Loss loss,
                      const Optimizer& optimizer, const Schedule* schedule,
                      const RunFingerprint& fingerprint, std::size_t steps,
                      const Trainer::Run& run);

// Reads a checkpoint into network, optimizer, schedule, steps and run, after checking that
// it is whole and matches them and the fingerprint; throws descent::Error otherwise and then
// changes nothing.
void read_checkpoint(const std::filesystem::path& path, Network& network, Loss loss,
                     Optimizer& optimizer, Schedule* schedule, const RunFingerprint& fingerprint,
                     std::size_t& steps, Trainer::Run& run);
// The same from bytes in memory; `name` stands for the file in messages.
void parse_checkpoint(std::span<const char> bytes, const std::string& name, Network& network,
                      Loss loss, Optimizer& optimizer, Schedule* schedule,
                      const RunFingerprint& fingerprint, std::size_t& steps, Trainer::Run& run);

}  // namespace descent
