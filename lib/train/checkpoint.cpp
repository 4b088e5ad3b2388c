// Checkpoint files. Little-endian:
//   "DSNTCKP1"  u32 version
//   section model       (u64 length, the model file's bytes: shape, standardisation, weights)
//   section optimizer   (its save_state() bytes)
//   string schedule name ("" for none), section schedule state
//   the fingerprint, u64 steps, the Run (see write_run)
//   u32 CRC-32 of every byte before it

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/bytes.hpp"
#include "descent/error.hpp"
#include "descent/io.hpp"
#include "train/run.hpp"

namespace descent {
namespace {

constexpr char kMagic[8] = {'D', 'S', 'N', 'T', 'C', 'K', 'P', '1'};
constexpr std::uint32_t kVersion = 2;
constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 32;  // any list in a checkpoint

void write_fingerprint(bytes::Writer& w, const RunFingerprint& f) {
  w.put_string(f.optimizer);
  w.put_string(f.schedule);
  w.put<std::uint32_t>(f.schedule_per);
  w.put<double>(f.clip_norm);
  w.put<double>(f.clip_value);
  w.put<std::uint64_t>(f.batch_size);
  w.put<std::uint64_t>(f.seed);
  w.put<std::uint32_t>(f.loss);
  w.put<std::uint32_t>(f.shuffle);
  w.put<std::uint64_t>(f.train_rows);
  w.put<std::uint32_t>(f.train_crc);
  w.put<std::uint64_t>(f.validation_rows);
  w.put<std::uint32_t>(f.validation_crc);
}

RunFingerprint read_fingerprint(bytes::Reader& r) {
  RunFingerprint f;
  // Specs as long as make_optimizer and make_schedule take (a multistep's milestones).
  f.optimizer = r.string("the optimizer", std::size_t{1} << 20);
  f.schedule = r.string("the schedule", std::size_t{1} << 20);
  f.schedule_per = r.get<std::uint32_t>("when the schedule steps");
  if (f.schedule_per > 1) throw Error("checkpoint: damaged schedule stepping");
  f.clip_norm = r.get<double>("clip_norm");
  f.clip_value = r.get<double>("clip_value");
  f.batch_size = r.get<std::uint64_t>("the batch size");
  f.seed = r.get<std::uint64_t>("the seed");
  f.loss = r.get<std::uint32_t>("the loss");
  f.shuffle = r.get<std::uint32_t>("the shuffle setting");
  if (f.shuffle > 1) throw Error("checkpoint: damaged shuffle setting");
  f.train_rows = r.get<std::uint64_t>("the training rows");
  f.train_crc = r.get<std::uint32_t>("the training data checksum");
  f.validation_rows = r.get<std::uint64_t>("the validation rows");
  f.validation_crc = r.get<std::uint32_t>("the validation data checksum");
  return f;
}

void write_record(bytes::Writer& w, const EpochRecord& e) {
  w.put<std::uint64_t>(e.epoch);
  w.put<std::uint64_t>(e.step);
  for (double v : {e.train_loss, e.val_loss, e.val_accuracy, e.grad_norm, e.lr, e.seconds,
                   e.samples_per_second}) {
    w.put<double>(v);
  }
  w.put<std::uint64_t>(e.layer_grad_norms.size());
  for (double v : e.layer_grad_norms) w.put<double>(v);
  for (double v : e.layer_weight_norms) w.put<double>(v);
  w.put<std::uint8_t>(e.stop_reason ? static_cast<std::uint8_t>(*e.stop_reason) + 1 : 0);
}

std::optional<StopReason> read_stop_reason(bytes::Reader& r) {
  const auto stop = r.get<std::uint8_t>("a stop reason");
  if (stop > static_cast<std::uint8_t>(StopReason::callback) + 1)
    throw Error("checkpoint: damaged stop reason");
  if (stop == 0) return std::nullopt;
  return static_cast<StopReason>(stop - 1);
}

EpochRecord read_record(bytes::Reader& r) {
  EpochRecord e;
  e.epoch = r.get<std::uint64_t>("an epoch number");
  e.step = r.get<std::uint64_t>("a step number");
  for (double* v : {&e.train_loss, &e.val_loss, &e.val_accuracy, &e.grad_norm, &e.lr, &e.seconds,
                    &e.samples_per_second}) {
    *v = r.get<double>("a history value");
  }
  const auto layers = r.get<std::uint64_t>("the layer count");
  if (layers > r.remaining() / 16) r.truncated("the layer norms");
  for (std::uint64_t l = 0; l < layers; ++l) e.layer_grad_norms.push_back(r.get<double>("a norm"));
  for (std::uint64_t l = 0; l < layers; ++l)
    e.layer_weight_norms.push_back(r.get<double>("a norm"));
  e.stop_reason = read_stop_reason(r);
  return e;
}

void write_run(bytes::Writer& w, const Trainer::Run& run) {
  w.put<std::uint64_t>(run.epoch);
  for (std::uint64_t word : run.shuffle_rng.state()) w.put<std::uint64_t>(word);
  w.put<std::uint8_t>(run.stopped ? static_cast<std::uint8_t>(*run.stopped) + 1 : 0);
  w.put_string(run.stop_message);
  w.put<std::uint8_t>(run.partial ? 1 : 0);
  for (std::uint64_t word : run.epoch_rng) w.put<std::uint64_t>(word);
  w.put<std::uint64_t>(run.epoch_first);
  for (double v : {run.epoch_loss_sum, run.epoch_grad_norm, run.epoch_lr}) w.put<double>(v);
  const std::size_t good = run.have_last_good ? run.last_good.size() : 0;
  w.put<std::uint64_t>(good);
  w.put_floats(run.last_good.span().first(good));
  for (double v : {run.elapsed, run.initial_loss, run.previous_monitored}) w.put<double>(v);
  w.put<std::uint64_t>(run.flat_epochs);
  w.put<double>(run.best_loss);
  w.put<std::uint64_t>(run.best_epoch);
  w.put<std::uint64_t>(run.bad_epochs);
  w.put<std::uint64_t>(run.best_params.size());
  w.put_floats(run.best_params.span());
  w.put<std::uint64_t>(run.first_grad_norms.size());
  for (double v : run.first_grad_norms) w.put<double>(v);
  w.put<std::uint64_t>(run.warned_vanishing.size());
  for (std::size_t i = 0; i < run.warned_vanishing.size(); ++i) {
    w.put<std::uint8_t>(run.warned_vanishing[i]);
    w.put<std::uint8_t>(run.warned_exploding[i]);
  }
  w.put<std::uint64_t>(run.warnings.size());
  for (const std::string& warning : run.warnings) w.put_string(warning);
  w.put<std::uint64_t>(run.history.size());
  for (const EpochRecord& e : run.history) write_record(w, e);
}

Rng::State read_rng(bytes::Reader& r) {
  Rng::State state{};
  for (auto& word : state) word = r.get<std::uint64_t>("the shuffling state");
  if (state == Rng::State{}) throw Error("checkpoint: damaged shuffling state (all zero)");
  return state;
}

Trainer::Run read_run(bytes::Reader& r, std::size_t parameters, std::size_t layers) {
  Trainer::Run run;
  run.epoch = r.get<std::uint64_t>("the epoch");
  run.shuffle_rng.set_state(read_rng(r));
  run.stopped = read_stop_reason(r);
  run.stop_message = r.string("the stop message");
  const auto partial = r.get<std::uint8_t>("the partial-epoch flag");
  if (partial > 1) throw Error("checkpoint: damaged partial-epoch flag");
  run.partial = partial == 1;
  for (auto& word : run.epoch_rng) word = r.get<std::uint64_t>("the epoch's shuffling state");
  if (run.partial && run.epoch_rng == Rng::State{})
    throw Error("checkpoint: damaged epoch shuffling state (all zero)");
  run.epoch_first = r.get<std::uint64_t>("the position in the epoch");
  run.epoch_loss_sum = r.get<double>("the epoch's loss so far");
  run.epoch_grad_norm = r.get<double>("the epoch's last gradient norm");
  run.epoch_lr = r.get<double>("the epoch's last rate");
  const auto good = r.get<std::uint64_t>("the last sound weights' size");
  if (good != 0 && good != parameters)
    throw Error(fmt::format("checkpoint: damaged: last sound weights of {} values", good));
  run.last_good.resize(good);
  r.floats(run.last_good.data(), good, "the last sound weights");
  run.have_last_good = good != 0;
  run.elapsed = r.get<double>("the elapsed time");
  run.initial_loss = r.get<double>("the first loss");
  run.previous_monitored = r.get<double>("the last monitored loss");
  run.flat_epochs = r.get<std::uint64_t>("the plateau count");
  run.best_loss = r.get<double>("the best loss");
  run.best_epoch = r.get<std::uint64_t>("the best epoch");
  run.bad_epochs = r.get<std::uint64_t>("the epochs without improvement");
  const auto best = r.get<std::uint64_t>("the best weights' size");
  if (best != 0 && best != parameters)
    throw Error(fmt::format("checkpoint: damaged: best weights of {} values", best));
  run.best_params.resize(best);
  r.floats(run.best_params.data(), best, "the best weights");
  const auto norms = r.get<std::uint64_t>("the first epoch's norms");
  if (norms > layers) throw Error("checkpoint: damaged: too many layer norms");
  for (std::uint64_t i = 0; i < norms; ++i) run.first_grad_norms.push_back(r.get<double>("a norm"));
  const auto flags = r.get<std::uint64_t>("the warning flags");
  if (flags != layers) throw Error("checkpoint: damaged: warning flags for another network");
  for (std::uint64_t i = 0; i < flags; ++i) {
    run.warned_vanishing.push_back(r.get<std::uint8_t>("a warning flag"));
    run.warned_exploding.push_back(r.get<std::uint8_t>("a warning flag"));
    if (run.warned_vanishing.back() > 1 || run.warned_exploding.back() > 1)
      throw Error("checkpoint: damaged warning flag");
  }
  const auto warnings = r.get<std::uint64_t>("the warning count");
  if (warnings > 2 * layers) throw Error("checkpoint: damaged: too many warnings");
  for (std::uint64_t i = 0; i < warnings; ++i) run.warnings.push_back(r.string("a warning"));
  const auto history = r.get<std::uint64_t>("the history length");
  if (history > kMaxCount || history > r.remaining()) r.truncated("the history");
  for (std::uint64_t i = 0; i < history; ++i) run.history.push_back(read_record(r));

  // The pieces must agree with each other.
  auto damaged = [](std::string_view what) {
    throw Error(fmt::format("checkpoint: damaged: {}", what));
  };
  if (run.history.size() != run.epoch + (run.partial ? 1 : 0))
    damaged("the history does not match the epoch count");
  for (std::size_t i = 0; i < run.history.size(); ++i) {
    const EpochRecord& e = run.history[i];
    if (e.epoch != i + 1) damaged("the history's epochs are not consecutive");
    if (e.layer_grad_norms.size() != layers) damaged("a history record is for another network");
    if (i > 0 && e.step < run.history[i - 1].step) damaged("the history's steps go backwards");
    if (e.stop_reason && i + 1 != run.history.size())
      damaged("a stop reason before the last epoch");
  }
  if (run.stopped && (run.history.empty() || run.history.back().stop_reason != run.stopped))
    damaged("the stop reason does not match the history");
  if (run.partial && !run.stopped) damaged("a partial epoch without a stop reason");
  if (run.best_epoch > run.epoch) damaged("the best epoch lies after the last one");
  if (run.best_epoch > 0 && run.best_params.empty()) damaged("the best epoch has no weights");
  if (!std::isfinite(run.elapsed) || run.elapsed < 0.0) damaged("the elapsed time");
  return run;
}

std::string describe(const Network& net) {
  std::string s = fmt::format("{}", net.inputs());
  for (const DenseLayer& layer : net.layers())
    s += fmt::format("-{}{}", layer.outputs,
                     layer.activation == Activation::identity
                         ? ""
                         : fmt::format(" {}", to_string(layer.activation)));
  return s;
}

// A reader past the magic and the version of an intact checkpoint (its checksum checked).
bytes::Reader open_checkpoint(std::span<const char> file, const std::string& name) {
  if (file.size() < sizeof kMagic + 8 || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    throw Error(fmt::format("{}: not a descent checkpoint (bad magic)", name));
  }
  const std::span<const char> body = file.first(file.size() - 4);
  std::uint32_t stored = 0;
  std::memcpy(&stored, file.data() + body.size(), 4);
  if (!bytes::checksum_matches(stored, body)) {
    throw Error(
        fmt::format("{}: the checkpoint is damaged or truncated (checksum mismatch)", name));
  }
  bytes::Reader r(body, fmt::format("{}: checkpoint", name));
  r.skip(sizeof kMagic, "the magic");
  const auto version = r.get<std::uint32_t>("the version");
  if (version != kVersion) {
    throw Error(
        fmt::format("{}: checkpoint format version {} is not supported (this build reads {})", name,
                    version, kVersion));
  }
  return r;
}

}  // namespace

void write_checkpoint(const std::filesystem::path& path, const Network& network, Loss loss,
                      const Optimizer& optimizer, const Schedule* schedule,
                      const RunFingerprint& fingerprint, std::size_t steps,
                      const Trainer::Run& run) {
  bytes::Writer w;
  w.put_bytes(kMagic);
  w.put<std::uint32_t>(kVersion);
  w.put_section(model_bytes(network, loss));
  w.put_section(optimizer.save_state());
  w.put_string(schedule != nullptr ? schedule->name() : "");
  w.put_section(schedule != nullptr ? schedule->save_state() : std::vector<char>{});
  write_fingerprint(w, fingerprint);
  w.put<std::uint64_t>(steps);
  write_run(w, run);
  w.put<std::uint32_t>(bytes::crc32(w.out));
  write_file_atomically(path, w.out);
}

void read_checkpoint(const std::filesystem::path& path, Network& network, Loss loss,
                     Optimizer& optimizer, Schedule* schedule, const RunFingerprint& fingerprint,
                     std::size_t& steps, Trainer::Run& run) {
  const std::string name = path.string();
  parse_checkpoint(bytes::read_file(name, "checkpoint"), name, network, loss, optimizer, schedule,
                   fingerprint, steps, run);
}

bool is_checkpoint(std::span<const char> head) noexcept {
  return head.size() >= sizeof kMagic && std::memcmp(head.data(), kMagic, sizeof kMagic) == 0;
}

LoadedModel load_checkpoint_model(const std::filesystem::path& path) {
  const std::string name = path.string();
  const std::vector<char> file = bytes::read_file(name, "checkpoint");
  bytes::Reader r = open_checkpoint(file, name);
  return parse_model(r.section("the model"), name + " (model)");
}

void parse_checkpoint(std::span<const char> file, const std::string& name, Network& network,
                      Loss loss, Optimizer& optimizer, Schedule* schedule,
                      const RunFingerprint& fingerprint, std::size_t& steps, Trainer::Run& run) {
  bytes::Reader r = open_checkpoint(file, name);
  LoadedModel model = parse_model(r.section("the model"), name + " (model)");
  const std::span<const char> optimizer_state = r.section("the optimizer state");
  const std::string schedule_name = r.string("the schedule name");
  const std::span<const char> schedule_state = r.section("the schedule state");
  // What the readers below find damaged, they say as "checkpoint: ..."; said with the file.
  auto named = [&name](auto read) {
    try {
      return read();
    } catch (const Error& e) {
      const std::string_view what = e.what();
      if (!what.starts_with("checkpoint: ")) throw;
      throw Error(fmt::format("{}: {}", name, what));
    }
  };
  const RunFingerprint saved = named([&] { return read_fingerprint(r); });
  const auto saved_steps = r.get<std::uint64_t>("the step count");
  Trainer::Run saved_run = named(
      [&] { return read_run(r, model.network.parameter_count(), model.network.layers().size()); });
  if (!r.done()) throw Error(fmt::format("{}: the checkpoint has bytes after its end", name));

  // Does it belong to this run?
  if (describe(model.network) != describe(network)) {
    throw Error(fmt::format("{}: the checkpoint is for a {} network; this run trains {}", name,
                            describe(model.network), describe(network)));
  }
  if (model.loss != loss) {
    throw Error(fmt::format("{}: the checkpoint was trained with another loss; this run uses {}",
                            name, to_string(loss)));
  }
  auto mismatch = [&](bool differs, std::string_view what, auto was, auto is) {
    if (differs) {
      throw Error(fmt::format("{}: the checkpoint was written with {} {}; this run has {}", name,
                              what, was, is));
    }
  };
  mismatch(saved.optimizer != fingerprint.optimizer, "optimizer", saved.optimizer,
           fingerprint.optimizer);
  mismatch(saved.schedule != fingerprint.schedule, "schedule",
           saved.schedule.empty() ? "none" : saved.schedule,
           fingerprint.schedule.empty() ? "none" : fingerprint.schedule);
  mismatch(saved.schedule_per != fingerprint.schedule_per, "the schedule stepping per",
           saved.schedule_per == 0 ? "epoch" : "step",
           fingerprint.schedule_per == 0 ? "epoch" : "step");
  mismatch(saved.clip_norm != fingerprint.clip_norm, "clip_norm", saved.clip_norm,
           fingerprint.clip_norm);
  mismatch(saved.clip_value != fingerprint.clip_value, "clip_value", saved.clip_value,
           fingerprint.clip_value);
  mismatch(saved.batch_size != fingerprint.batch_size, "batch size", saved.batch_size,
           fingerprint.batch_size);
  mismatch(saved.seed != fingerprint.seed, "seed", saved.seed, fingerprint.seed);
  mismatch(saved.shuffle != fingerprint.shuffle, "shuffle", saved.shuffle != 0,
           fingerprint.shuffle != 0);
  // The data's checksums are of the standardised features: where the standardisations differ
  // too, that (or the data) is what changed, and the message says how.
  const Standardization &saved_scaling = model.network.standardization(),
                        &this_scaling = network.standardization();
  std::string why;
  if (saved.train_rows == fingerprint.train_rows) {
    if (saved_scaling.empty() != this_scaling.empty()) {
      why = fmt::format(
          ": the checkpoint's run trained on {} features, this run {} them (resume with the same "
          "--init MODEL or --no-standardize, TrainOptions::standardization or standardize, as the "
          "run that wrote it)",
          saved_scaling.empty() ? "raw" : "standardised",
          this_scaling.empty() ? "does not standardise" : "standardises");
    } else if (saved_scaling.mean != this_scaling.mean ||
               saved_scaling.stddev != this_scaling.stddev) {
      why =
          ", standardised otherwise (other data, --val-fraction or --seed, or a model's "
          "standardisation given with --init MODEL: resume with the same ones as the run that "
          "wrote it)";
    }
  }
  mismatch(saved.train_rows != fingerprint.train_rows || saved.train_crc != fingerprint.train_crc,
           "training data of",
           fmt::format("{} rows (checksum {:08x})", saved.train_rows, saved.train_crc),
           fmt::format("{} rows (checksum {:08x}){}", fingerprint.train_rows, fingerprint.train_crc,
                       why));
  mismatch(saved.validation_rows != fingerprint.validation_rows ||
               saved.validation_crc != fingerprint.validation_crc,
           "validation data of", fmt::format("{} rows", saved.validation_rows),
           fmt::format("{} rows (or other values)", fingerprint.validation_rows));
  const std::string schedule_here = schedule != nullptr ? std::string(schedule->name()) : "";
  mismatch(schedule_name != schedule_here, "schedule",
           schedule_name.empty() ? "none" : schedule_name,
           schedule_here.empty() ? "none" : schedule_here);
  if ((saved_run.history.empty() ? 0 : saved_run.history.back().step) != saved_steps) {
    throw Error(fmt::format("{}: the checkpoint is damaged: its step count", name));
  }
  if (saved_run.partial && saved_run.epoch_first >= fingerprint.train_rows) {
    throw Error(fmt::format("{}: the checkpoint is damaged: its position in the epoch", name));
  }

  // Restore: the schedule, then the optimizer (each checks everything before it changes
  // anything, and the schedule is put back if the optimizer refuses).
  std::vector<char> schedule_backup;
  if (schedule != nullptr) {
    schedule_backup = schedule->save_state();
    schedule->load_state(schedule_state);
  }
  try {
    optimizer.load_state(optimizer_state);
  } catch (const Error& e) {
    if (schedule != nullptr) schedule->load_state(schedule_backup);
    throw Error(fmt::format("{}: {}", name, e.what()));
  }
  network.set_parameters(model.network.parameters());
  network.set_standardization(model.network.standardization());
  steps = saved_steps;
  run = std::move(saved_run);
}

}  // namespace descent
