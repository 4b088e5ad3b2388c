// descent train: load data, build the MLP, train it, report, save.

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/interrupt.hpp"
#include "cli/options.hpp"
#include "cli/progress.hpp"
#include "cli/setup.hpp"
#include "descent/descent.hpp"

namespace descent::cli {
namespace {

constexpr const char* kDefaultOptimizer = "sgd:lr=0.1";

struct TrainArgs {
  std::string data = "digits";
  std::string task = "auto";
  std::string hidden = "128,64";
  std::string activation = "relu";
  std::string loss = "auto";
  std::string init = "auto";
  std::string optimizer = kDefaultOptimizer;
  std::string lr;
  std::string schedule;
  std::string schedule_per = "epoch";
  std::string batch = "32";
  std::string epochs = "20";
  std::string val_fraction = "0.2";
  std::string seed = "42";
  std::string threads = "0";
  std::string history;
  std::string save;
  // Stop criteria, clipping, checkpoints; empty means off.
  std::string max_steps, time_budget, grad_tol, plateau_tol,
      plateau_patience = "5", target_loss, target_accuracy, early_stopping, min_delta,
      divergence_factor, clip_norm, clip_value;
  std::string checkpoint, checkpoint_every = "1", resume;
  std::string shard_rows;   // empty: the automatic rule
  std::string distributed;  // empty: this process alone; exact or fast under mpirun
  bool json = false;
  bool quiet = false;
  bool profile = false;
  bool flush_denormals = false;
  bool no_standardize = false;
};

// A non-negative number from an option, or `fallback` when the option was not given.
double nonnegative(const std::string& text, std::string_view option, double fallback) {
  if (text.empty()) return fallback;
  const double v = parse_number(text, option);
  if (v < 0.0) throw Error(fmt::format("{} {} is invalid: it must be >= 0", option, text));
  return v;
}

// The optimizer spec with --lr folded in; both at once is an error. Written again from its
// parts, so that spaces around them (" sgd", "sgd: lr = 0.2") are not echoed.
std::string optimizer_spec(const TrainArgs& args, bool optimizer_given) {
  Spec spec = Spec::parse(args.optimizer, "optimizer");
  if (args.lr.empty()) return spec.to_string();
  if (optimizer_given && spec.has("lr")) {
    throw Error(fmt::format("give the learning rate once: --lr {} and lr= in --optimizer {}",
                            args.lr, args.optimizer));
  }
  std::erase_if(spec.options, [](const auto& kv) { return kv.first == "lr"; });
  parse_number(args.lr, "--lr");
  spec.options.emplace_back("lr", args.lr);
  return spec.to_string();
}

// The step phases of a profile, in order.
struct Phase {
  const char* name;
  double StepProfile::*seconds;
};
constexpr Phase kPhases[] = {{"data", &StepProfile::data},
                             {"forward", &StepProfile::forward},
                             {"backward", &StepProfile::backward},
                             {"reduce", &StepProfile::reduce},
                             {"optimizer", &StepProfile::optimizer}};

nlohmann::json profile_json(const StepProfile& p) {
  nlohmann::json out = {{"steps", p.steps}, {"total_seconds", p.total()}};
  for (const Phase& phase : kPhases) out[std::string(phase.name) + "_seconds"] = p.*phase.seconds;
  return out;
}

void print_profile(const StepProfile& p) {
  const double total = p.total();
  fmt::print("  profile    {} steps, {:.3f} s in steps ({:.1f} us per step)\n", p.steps, total,
             p.steps > 0 ? total * 1e6 / static_cast<double>(p.steps) : 0.0);
  for (const Phase& phase : kPhases) {
    const double s = p.*phase.seconds;
    fmt::print("             {:<10} {:9.3f} s {:6.1f} %  {:9.1f} us per step\n", phase.name, s,
               total > 0.0 ? 100.0 * s / total : 0.0,
               p.steps > 0 ? s * 1e6 / static_cast<double>(p.steps) : 0.0);
  }
}

// Options that mean something only with another one, given alone, and options another one
// overrides: they are ignored, and the user is told so (on stderr as the run starts, unless
// --quiet, and with the run's warnings in the summary and in --json).
std::vector<std::string> ignored_options(const CLI::App& cmd, const TrainArgs& args) {
  static constexpr std::pair<const char*, const char*> kNeeds[] = {
      {"--checkpoint-every", "--checkpoint"},
      {"--schedule-per", "--schedule"},
      {"--plateau-patience", "--plateau-tol"},
      {"--min-delta", "--early-stopping"},
  };
  std::vector<std::string> warnings;
  for (const auto& [option, needs] : kNeeds) {
    if (cmd.count(option) > 0 && cmd.count(needs) == 0)
      warnings.push_back(fmt::format("{} has no effect without {}", option, needs));
  }
  if (cmd.count("--activation") > 0 && (args.hidden.empty() || args.hidden == "none"))
    warnings.emplace_back(
        "--activation has no effect with --hidden none: no hidden layer has an activation");
  // (A model file's standardisation still applies: see init_from_file.)
  if (cmd.count("--init") > 0 && !args.resume.empty() && !is_model_file(args.init))
    warnings.emplace_back(
        "--init has no effect with --resume: the run goes on from the checkpoint's weights");
  if (args.schedule_per == "step" && !args.schedule.empty() &&
      Spec::parse(args.schedule, "schedule").name == "plateau")
    warnings.emplace_back(
        "--schedule-per step: plateau steps once per epoch, on the monitored loss");
  return warnings;
}

// "64-128-64-10 relu": the layer sizes and the hidden layers' activation.
// No two outputs may be one file, and no output may overwrite an input (but --checkpoint may
// be the file --resume reads: the run goes on writing it).
void check_distinct_files(const TrainArgs& args) {
  struct File {
    const char* option;
    std::string path;
    bool output;
  };
  std::vector<File> files = {{"--save", args.save, true},
                             {"--history", args.history, true},
                             {"--checkpoint", args.checkpoint, true},
                             {"--resume", args.resume, false},
                             {"--init", args.init, false}};
  // A bundled name ("iris") or an IDX set stands for the files it reads.
  for (const std::filesystem::path& file : dataset_files(args.data))
    files.push_back({"--data", file.string(), false});
  for (std::size_t i = 0; i < files.size(); ++i) {
    for (std::size_t j = i + 1; j < files.size(); ++j) {
      const File& a = files[i];
      const File& b = files[j];
      if (!a.output && !b.output) continue;
      if (a.path.empty() || b.path.empty()) continue;
      // Inputs that are not files (an init scheme) cannot collide.
      std::error_code ec;
      if ((!a.output && !std::filesystem::exists(a.path, ec)) ||
          (!b.output && !std::filesystem::exists(b.path, ec)))
        continue;
      if (std::string_view(a.option) == "--checkpoint" && std::string_view(b.option) == "--resume")
        continue;
      // A device or pipe (/dev/null for two outputs) is no file to overwrite.
      const std::filesystem::file_status status = std::filesystem::status(a.path, ec);
      if (std::filesystem::is_character_file(status) || std::filesystem::is_fifo(status)) continue;
      if (same_file(a.path, b.path)) {
        throw Error(fmt::format("{} and {} name the same file {}: {}", a.option, b.option, a.path,
                                b.output ? "use two files" : "it would be overwritten"));
      }
    }
  }
}

// `world`: the ranks of a distributed run (every rank runs this; rank 0 reports and writes),
// or null for this process alone.
int train_command(const TrainArgs& args, const CLI::App& cmd,
                  const std::shared_ptr<Communicator>& world, Reduction reduction) {
  const bool root = world == nullptr || world->rank() == 0;
  const bool optimizer_given = cmd.count("--optimizer") > 0;
  // Options first: nothing is loaded or trained when one of them is wrong.
  const TaskHint task = parse_task_hint(args.task);
  const std::vector<std::size_t> hidden = parse_sizes(args.hidden, "--hidden");
  const Activation activation = parse_activation(args.activation);
  // --init is a scheme name, or a file of parameters (tools/torch_convert.py writes one).
  const std::optional<Init> init = parse_init_option(args.init);
  const std::string spec = optimizer_spec(args, optimizer_given);
  std::unique_ptr<Optimizer> optimizer = make_optimizer(spec);
  TrainOptions options;
  if (!args.schedule.empty()) options.schedule = make_schedule(args.schedule, optimizer->lr());
  if (args.schedule_per != "epoch" && args.schedule_per != "step") {
    throw Error(fmt::format("--schedule-per {} is invalid: use epoch or step", args.schedule_per));
  }
  options.schedule_per = args.schedule_per == "step" ? SchedulePer::step : SchedulePer::epoch;
  options.batch_size = args.batch == "full" ? 0 : parse_count(args.batch, "--batch");
  if (args.batch != "full" && options.batch_size == 0)
    throw Error("--batch 0 is invalid: use a positive batch size, or full");
  options.epochs = parse_count(args.epochs, "--epochs");
  if (options.epochs == 0) throw Error("--epochs 0 is invalid: train for at least one epoch");
  options.validation_fraction = parse_number(args.val_fraction, "--val-fraction");
  if (!(options.validation_fraction >= 0.0 && options.validation_fraction < 1.0))
    throw Error(
        fmt::format("--val-fraction {} is invalid: it must be in [0, 1)", args.val_fraction));
  options.seed = parse_count(args.seed, "--seed");
  options.threads = parse_count(args.threads, "--threads");
  if (options.threads > kMaxThreads) {
    throw Error(fmt::format("--threads {} is invalid: descent runs on at most {} threads",
                            args.threads, kMaxThreads));
  }
  options.profile = args.profile;
  options.flush_denormals = args.flush_denormals;
  if (!args.shard_rows.empty()) {
    options.shard_rows = parse_count(args.shard_rows, "--shard-rows");
    if (options.shard_rows == 0)
      throw Error("--shard-rows 0 is invalid: use at least 1 row per shard");
  }
  options.distributed.communicator = world;
  options.distributed.reduction = reduction;
  options.init = init;  // nullopt: parameters come from the --init file below
  StopCriteria& stop = options.stop;
  if (!args.max_steps.empty()) {
    stop.max_steps = parse_count(args.max_steps, "--max-steps");
    if (stop.max_steps == 0) throw Error("--max-steps 0 is invalid: take at least one step");
  }
  stop.max_seconds = positive_or_off(args.time_budget, "--time-budget", "time budget");
  stop.grad_tolerance = nonnegative(args.grad_tol, "--grad-tol", 0.0);
  stop.plateau_tolerance = nonnegative(args.plateau_tol, "--plateau-tol", 0.0);
  stop.plateau_patience = parse_count(args.plateau_patience, "--plateau-patience");
  if (stop.plateau_patience == 0) throw Error("--plateau-patience 0 is invalid: use at least 1");
  if (!args.target_loss.empty()) stop.target_loss = parse_target_loss(args.target_loss);
  if (!args.target_accuracy.empty()) {
    stop.target_accuracy = parse_number(args.target_accuracy, "--target-accuracy");
    if (*stop.target_accuracy < 0.0 || *stop.target_accuracy > 1.0) {
      throw Error(fmt::format("--target-accuracy {} is invalid: it must be in [0, 1]",
                              args.target_accuracy));
    }
  }
  if (!args.early_stopping.empty()) {
    stop.early_stopping_patience = parse_count(args.early_stopping, "--early-stopping");
    if (stop.early_stopping_patience == 0) {
      throw Error(
          "--early-stopping 0 is invalid: use at least 1 epoch (leave the option out to "
          "train without early stopping)");
    }
  }
  stop.early_stopping_min_delta = nonnegative(args.min_delta, "--min-delta", 0.0);
  stop.divergence_factor =
      nonnegative(args.divergence_factor, "--divergence-factor", stop.divergence_factor);
  if (stop.divergence_factor > 0.0 && stop.divergence_factor <= 1.0) {
    throw Error(fmt::format(
        "--divergence-factor {} is invalid: use a factor above 1, or 0 to switch the check off",
        args.divergence_factor));
  }
  // The library says the same, but in its own names.
  if (options.validation_fraction == 0.0) {
    if (stop.target_accuracy)
      throw Error("--target-accuracy needs validation data: use --val-fraction > 0");
    if (stop.early_stopping_patience > 0)
      throw Error("--early-stopping watches the validation loss: use --val-fraction > 0");
  }
  options.clip_norm = positive_or_off(args.clip_norm, "--clip-norm", "clipping");
  options.clip_value = positive_or_off(args.clip_value, "--clip-value", "clipping");
  // The clipping is float arithmetic (the library says the same in its own names).
  auto check_float = [](std::string_view option, const std::string& text, double bound) {
    if (bound > 0.0 && bound < std::numeric_limits<float>::min()) {
      throw Error(
          fmt::format("{} {} is invalid: it is below the smallest normal 32-bit float, "
                      "1.2e-38 (every gradient would be clipped to 0)",
                      option, text));
    }
  };
  check_float("--clip-norm", args.clip_norm, options.clip_norm);
  check_float("--clip-value", args.clip_value, options.clip_value);
  // Only rank 0 writes: the other ranks' machines need not have the output directories.
  if (!args.checkpoint.empty()) {
    if (root) check_output_path(args.checkpoint, "--checkpoint");
    // A device or pipe takes a write, but no --resume can read a checkpoint back from it.
    std::error_code ec;
    const std::filesystem::file_status status = std::filesystem::status(args.checkpoint, ec);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
      throw Error(fmt::format(
          "--checkpoint {}: not a regular file (a device or a pipe); a checkpoint is a file "
          "that --resume reads back",
          args.checkpoint));
    }
    options.checkpoint = args.checkpoint;
  }
  options.checkpoint_every = parse_count(args.checkpoint_every, "--checkpoint-every");
  if (options.checkpoint_every == 0) throw Error("--checkpoint-every 0 is invalid: use at least 1");
  if (!args.resume.empty()) {
    if (const std::string why = why_not_a_regular_file(args.resume); !why.empty())
      throw Error(fmt::format("--resume {}: the checkpoint file {}", args.resume, why));
    options.resume = args.resume;
  }
  if (root && !args.history.empty()) check_output_path(args.history, "--history");
  if (root && !args.save.empty()) check_output_path(args.save, "--save");
  // Its summary (or --json) goes to standard output whatever else does.
  const char* summary = args.json ? "the run's JSON" : "the run's summary";
  if (root) {
    for (const auto& [path, option] :
         {std::pair{&args.save, "--save"}, std::pair{&args.history, "--history"},
          std::pair{&args.checkpoint, "--checkpoint"}}) {
      if (!path->empty()) refuse_standard_output(*path, option, summary);
    }
  }
  if (root) check_distinct_files(args);
  const std::vector<std::string> option_warnings = ignored_options(cmd, args);
  if (!args.quiet && root) print_warnings(option_warnings);
  const Isa isa = active_isa();  // reports a bad DESCENT_ISA now

  const Dataset data = load_dataset(args.data, task);
  const LossChoice choice = choose_loss(data, args.loss);
  const std::vector<std::string> read_warnings = data_warnings(data, task);
  if (!args.quiet && root) print_warnings(read_warnings);
  const Loss loss = choice.loss;
  const std::size_t outputs = choice.outputs;
  options.loss = loss;
  if (stop.target_accuracy && loss == Loss::mse && data.task == Task::regression) {
    throw Error(fmt::format(
        "--target-accuracy needs class labels, and \"{}\" is {}: use --target-loss", data.name,
        task == TaskHint::regression ? "read as a regression set (--task regression)"
                                     : "a regression set"));
  }
  Network network = Network::mlp(data.feature_count(), hidden, outputs, activation);
  if (!init) init_from_file(args.init, !args.resume.empty(), args.no_standardize, network, options);
  options.standardize = !args.no_standardize;

  std::FILE* progress_out = args.json ? stderr : stdout;
  const std::size_t train_rows =
      data.rows() - validation_rows(data.rows(), options.validation_fraction);
  const std::size_t batch =
      options.batch_size == 0 ? train_rows : std::min(options.batch_size, train_rows);
  Progress progress(progress_out, options.epochs, (train_rows + batch - 1) / batch,
                    !args.quiet && root);
  Callbacks callbacks;
  // Ctrl-C or SIGTERM stops the run after the step under way (a callback's stop, which a
  // --resume goes on from), and what it trained is written below.
  callbacks.on_step = [&](const StepRecord& r) {
    progress.step(r);
    return stop_signal() == 0;
  };
  callbacks.on_epoch = [&](const EpochRecord& r) {
    progress.epoch(r);
    return stop_signal() == 0;
  };
  callbacks.on_warning = [&](const std::string& message) {
    if (!args.quiet && root) print_warnings({message});
  };
  // For the crash test: die at this step as if killed, mid-epoch, without any clean-up.
  if (const char* crash = std::getenv("DESCENT_TEST_CRASH_AT_STEP")) {
    const std::size_t at = parse_count(crash, "DESCENT_TEST_CRASH_AT_STEP");
    callbacks.on_step = [&progress, at](const StepRecord& r) {
      progress.step(r);
      if (r.step == at) std::raise(SIGKILL);
      return true;
    };
  }
  TrainResult result;
  {
    const GracefulStop graceful;
    result = train(network, data, *optimizer, options, callbacks);
  }
  const int signal = result.stop_reason == StopReason::callback ? stop_signal() : 0;
  if (signal != 0) {
    result.stop_message = fmt::format(
        "{} at step {}{}", signal == SIGINT ? "SIGINT (Ctrl-C)" : "SIGTERM", result.steps,
        args.checkpoint.empty() ? std::string()
                                : fmt::format("; --resume {} goes on from there", args.checkpoint));
  }
  const int status = signal != 0 ? 128 + signal : 0;
  // (The library's name for it is "callback", as in the history file.)
  const std::string stop_name(signal != 0 ? "interrupted" : to_string(result.stop_reason));
  if (!root) return status;  // rank 0 reports and writes for all
  // The model first: it is the costlier thing to lose. A file that cannot be written does not
  // keep the other from being written; the error names the option.
  std::vector<std::string> unwritten;
  auto write = [&unwritten](std::string_view option, auto&& write_file) {
    try {
      write_file();
    } catch (const Error& e) {
      unwritten.push_back(fmt::format("{}: {}", option, e.what()));
    }
  };
  if (!args.save.empty()) write("--save", [&] { save_network(args.save, network, loss); });
  if (!args.history.empty())
    write("--history", [&] { write_history_csv(args.history, result.history); });
  if (!unwritten.empty()) throw Error(fmt::format("{}", fmt::join(unwritten, "; ")));

  // The figures of the weights saved: the last epoch's, the best epoch's after early stopping
  // restored its weights, or NaNs when nothing was trained.
  EpochRecord last;
  last.train_loss = last.val_loss = last.val_accuracy = std::numeric_limits<double>::quiet_NaN();
  if (!result.history.empty()) last = result.history.back();
  const bool restored = result.stop_reason == StopReason::early_stopped && result.best_epoch > 0;
  if (restored) {
    for (const EpochRecord& r : result.history)
      if (r.epoch == result.best_epoch) last = r;
  }
  std::vector<std::string> warnings = option_warnings;
  warnings.insert(warnings.end(), read_warnings.begin(), read_warnings.end());
  warnings.insert(warnings.end(), result.warnings.begin(), result.warnings.end());
  if (args.json) {
    nlohmann::json out = {
        {"stop_reason", stop_name},
        {"stop_message", result.stop_message},
        {"warnings", warnings},
        {"epochs", result.epochs},
        {"steps", result.steps},
        {"final_train_loss", number_or_null(last.train_loss)},
        {"final_val_loss", number_or_null(last.val_loss)},
        {"samples_per_second", number_or_null(result.samples_per_second)},
        {"seconds", number_or_null(result.seconds)},
        {"threads", result.threads},
        {"isa", std::string(to_string(isa))},
        {"data", data.name},
        {"task", std::string(to_string(data.task))},
        {"model", shape_of(network)},
        {"loss", std::string(to_string(loss))},
        {"optimizer", spec},
        {"schedule",
         args.schedule.empty() ? nlohmann::json(nullptr) : nlohmann::json(args.schedule)},
        {"batch_size", batch},
    };
    if (options.stop.early_stopping_patience > 0) out["best_epoch"] = result.best_epoch;
    out["final_epoch"] =
        result.history.empty() ? nlohmann::json(nullptr) : nlohmann::json(last.epoch);
    if (!args.resume.empty()) out["resumed_epoch"] = result.resumed_epoch;
    if (data.task == Task::classification) out["val_accuracy"] = number_or_null(last.val_accuracy);
    if (args.profile) out["profile"] = profile_json(result.profile);
    out["rows_computed"] = result.rows_computed;
    if (world != nullptr) {
      out["ranks"] = result.ranks;
      out["reduction"] = std::string(to_string(result.reduction));
      out["rank_rows"] = result.rank_rows;
    }
    fmt::print("{}\n", json_text(out));
    return status;
  }
  auto count = [](std::size_t n, std::string_view what) {
    return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s");
  };
  fmt::print("\ntrained {} ({}, {}{})\n", data.name, count(data.rows(), "row"),
             count(data.feature_count(), "feature"),
             data.task == Task::classification ? fmt::format(", {} classes", data.classes) : "");
  // (No activation for a model without hidden layers; plateau always steps per epoch.)
  fmt::print("  model      {}{}, {}, {}{}, batch {}\n", shape_of(network),
             hidden.empty() ? std::string() : fmt::format(" {}", to_string(activation)),
             to_string(loss), spec,
             args.schedule.empty()
                 ? std::string()
                 : fmt::format(", schedule {} per {}", args.schedule,
                               options.schedule->needs_metric() ? "epoch" : args.schedule_per),
             batch);
  if (!args.resume.empty())
    fmt::print("  resumed    from {} after epoch {}\n", args.resume, result.resumed_epoch);
  fmt::print("  stopped    {}: {}\n", stop_name, result.stop_message);
  auto s = [](std::size_t n) { return n == 1 ? "" : "s"; };
  // (A resumed run that had finished trains nothing: no rate to show.)
  const std::string rate = result.samples_per_second > 0.0
                               ? fmt::format("{:.0f} samples/s, ", result.samples_per_second)
                               : std::string();
  fmt::print("  ran        {} epoch{}, {} step{} in {:.2f} s ({}{} thread{}, {})\n", result.epochs,
             s(result.epochs), result.steps, s(result.steps), result.seconds, rate, result.threads,
             s(result.threads), to_string(isa));
  if (world != nullptr) {
    fmt::print("  ranks      {} ({} reduction), rows computed per rank: {}\n", result.ranks,
               to_string(result.reduction), fmt::join(result.rank_rows, ", "));
  }
  for (const std::string& w : warnings) fmt::print("  warning    {}\n", w);
  std::string final_line = fmt::format("  final      {}train_loss {:.4f}",
                                       restored && last.epoch == result.best_epoch
                                           ? fmt::format("(epoch {}, kept) ", last.epoch)
                                           : std::string(),
                                       last.train_loss);
  if (!std::isnan(last.val_loss)) final_line += fmt::format("  val_loss {:.4f}", last.val_loss);
  if (!std::isnan(last.val_accuracy))
    final_line += fmt::format("  val_accuracy {:.4f}", last.val_accuracy);
  fmt::print("{}\n", final_line);
  if (args.profile) print_profile(result.profile);
  if (!args.history.empty()) fmt::print("  history    {}\n", args.history);
  if (!args.save.empty()) fmt::print("  model file {}\n", args.save);
  if (!args.checkpoint.empty()) fmt::print("  checkpoint {}\n", args.checkpoint);
  return status;
}

int run_train(const TrainArgs& args, const CLI::App& cmd) {
  if (args.distributed.empty()) return train_command(args, cmd, nullptr, Reduction::exact);
  Reduction reduction = Reduction::exact;
  try {
    reduction = parse_reduction(args.distributed);
  } catch (const Error&) {
    throw Error(fmt::format("--distributed {} is invalid: use exact or fast", args.distributed));
  }
  const mpi::Session session;
  const std::shared_ptr<Communicator> world = session.world();
  try {
    return train_command(args, cmd, world, reduction);
  } catch (const std::exception& e) {
    if (world->size() == 1) throw;
    // The other ranks may be waiting for this one in a collective: end the whole job.
    const bool bad_input = dynamic_cast<const Error*>(&e) != nullptr;
    fmt::print(stderr, "descent: {}: rank {} of {}: {}\n", bad_input ? "error" : "internal error",
               world->rank(), world->size(), e.what());
    std::fflush(stdout);
    mpi::abort(bad_input ? 2 : 1);
  }
}

}  // namespace

Command add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train an MLP on a data set");
  cmd->add_option("--data", args->data,
                  "Bundled data set name, fashion-mnist (Debian's dataset-fashion-mnist), CSV "
                  "file (.csv or .csv.gz), IDX images file (*-images-idx3-ubyte[.gz]), or "
                  "generated MNIST-shaped data: synthetic:rows=N,features=F,classes=C[,seed=S]")
      ->capture_default_str();
  cmd->add_option("--task", args->task, "auto, classification or regression")
      ->capture_default_str();
  cmd->add_option("--hidden", args->hidden,
                  "Hidden layer sizes, comma-separated (none for no hidden layer)")
      ->capture_default_str();
  cmd->add_option("--activation", args->activation, "relu, tanh, sigmoid or identity")
      ->capture_default_str();
  cmd->add_option("--loss", args->loss, "auto, mse, cross_entropy or bce_with_logits")
      ->capture_default_str();
  cmd->add_option("--init", args->init,
                  "auto, kaiming_normal, kaiming_uniform, xavier_normal, xavier_uniform, pytorch, "
                  "a model file (descent train --save: its weights and standardisation), or a "
                  "file of float32 parameters in nn.Linear order (tools/torch_convert.py)")
      ->capture_default_str();
  cmd->add_flag("--no-standardize", args->no_standardize,
                "Train on the raw features (as weights from torch trained on raw inputs expect) "
                "instead of standardising them on the training split");
  cmd->add_option("--optimizer", args->optimizer, "Optimizer spec, e.g. sgd:lr=0.05")
      ->capture_default_str();
  cmd->add_option("--lr", args->lr, "Learning rate (shorthand for lr= in the optimizer spec)");
  cmd->add_option(
      "--schedule", args->schedule,
      "Learning-rate schedule spec, e.g. cosine:T_max=20 or step:step_size=10,gamma=0.5");
  cmd->add_option("--schedule-per", args->schedule_per,
                  "Advance the schedule once per epoch or once per optimizer step (plateau: per "
                  "epoch always)")
      ->capture_default_str();
  cmd->add_option("--batch", args->batch, "Batch size N, or full for batch gradient descent")
      ->capture_default_str();
  cmd->add_option("--epochs", args->epochs, "Epochs")->capture_default_str();
  cmd->add_option("--val-fraction", args->val_fraction, "Fraction held out for validation")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed for the split, initialisation and shuffling")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Threads (0 = every hardware thread)")
      ->capture_default_str();
  cmd->add_option("--history", args->history, "Write the per-epoch history to this CSV file");
  cmd->add_option("--save", args->save, "Save the trained model to this file");
  cmd->add_option("--max-steps", args->max_steps, "Stop after this many optimizer steps");
  cmd->add_option("--time-budget", args->time_budget, "Stop after this many seconds");
  cmd->add_option("--grad-tol", args->grad_tol,
                  "Stop (converged) when a step's gradient norm is at most this");
  cmd->add_option("--plateau-tol", args->plateau_tol,
                  "Stop (plateau) when the monitored loss changes by less than this, relatively, "
                  "for --plateau-patience epochs");
  cmd->add_option("--plateau-patience", args->plateau_patience, "Epochs for --plateau-tol")
      ->capture_default_str();
  cmd->add_option("--target-loss", args->target_loss,
                  "Stop when the monitored loss (validation, else training) is at most this");
  cmd->add_option("--target-accuracy", args->target_accuracy,
                  "Stop when the validation accuracy is at least this");
  cmd->add_option("--early-stopping", args->early_stopping,
                  "Stop after this many epochs without a validation-loss improvement, and "
                  "restore the best weights");
  cmd->add_option("--min-delta", args->min_delta, "The improvement --early-stopping counts");
  cmd->add_option("--divergence-factor", args->divergence_factor,
                  "Stop (diverged) when a step's loss exceeds this times the first step's "
                  "(default 1000; 0: only non-finite losses)");
  cmd->add_option("--clip-norm", args->clip_norm, "Clip the gradient's global L2 norm to this");
  cmd->add_option("--clip-value", args->clip_value,
                  "Clamp every gradient element to [-value, value]");
  cmd->add_option("--checkpoint", args->checkpoint,
                  "Write a checkpoint to this file (atomically) every --checkpoint-every epochs "
                  "and when training stops");
  cmd->add_option("--checkpoint-every", args->checkpoint_every, "Epochs between checkpoints")
      ->capture_default_str();
  cmd->add_option("--resume", args->resume,
                  "Continue from this checkpoint (give the same data and options)");
  cmd->add_option("--shard-rows", args->shard_rows,
                  "Rows per shard (default: automatic, from the batch size and the model); the "
                  "same value gives the same bits on any thread or rank count");
  cmd->add_option("--distributed", args->distributed,
                  "Under mpirun: train data-parallel across the ranks; exact (bit-identical to "
                  "one process) or fast (MPI_Allreduce, not bit-reproducible)");
  cmd->add_flag("--json", args->json,
                "Print one JSON object with the result (progress goes to stderr)");
  cmd->add_flag("--quiet", args->quiet, "No progress display");
  cmd->add_flag("--profile", args->profile,
                "Time each step's phases (data, forward, backward, reduce, optimizer) and "
                "report where the time went");
  cmd->add_flag("--flush-denormals", args->flush_denormals,
                "Flush subnormal floats to zero during the steps: faster on CPUs that slow down "
                "on them, different from PyTorch only below 1.2e-38 (x86-64)");
  return Command{cmd, [args, cmd] { return run_train(*args, *cmd); }};
}

}  // namespace descent::cli
