// descent sweep: train one model over a grid of batch sizes, thread counts, learning rates and
// optimizers; record each run's history, throughput and time to a target; write results.json
// and the figures (tools/plot_sweep.py) that show convergence against throughput.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/plot.hpp"
#include "cli/setup.hpp"
#include "descent/descent.hpp"

namespace descent::cli {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct SweepArgs {
  std::string data = "digits";
  std::string task = "auto";
  std::string loss = "auto";
  std::string hidden = "128,64";
  std::string activation = "relu";
  std::string batch = "1,32,128,full";
  std::string threads = "1,2";
  std::string lr = "0.001,0.01,0.1";
  std::vector<std::string> optimizers;
  std::string target_loss, target_accuracy;
  std::string max_epochs = "20";
  std::string time_budget;
  std::string val_fraction = "0.2";
  std::string seed = "42";
  std::string out;
  bool no_plots = false;
  bool quiet = false;
  bool lr_given = false;  // --lr on the command line (else a spec's own lr stands)
};

// What tools/plot_sweep.py draws into --out.
constexpr const char* kFigures[] = {"loss_curves.png", "throughput.png", "pareto.png"};

// One point of the grid.
struct Config {
  std::string optimizer;  // as given (with its own lr=, where that is the rate run)
  std::string spec;       // with the sweep's lr
  double lr = 0.0;
  std::string lr_text;
  std::size_t batch = 0;  // 0: full
  std::size_t threads = 1;
};

// The spec with its lr replaced by `lr`.
std::string with_lr(const std::string& optimizer, const std::string& lr) {
  Spec spec = Spec::parse(optimizer, "--optimizer");
  std::erase_if(spec.options, [](const auto& kv) { return kv.first == "lr"; });
  spec.options.emplace_back("lr", lr);
  return spec.to_string();
}

std::filesystem::path plot_script() {
  return tool_script("plot_sweep.py", "DESCENT_PLOT_SWEEP");
}

// "" when drawn, else why not (see run_script).
std::string draw_figures(const std::filesystem::path& out) {
  std::vector<std::filesystem::path> figures;
  for (const char* figure : kFigures) figures.push_back(out / figure);
  return run_script(plot_script(), {(out / "results.json").string(), out.string()}, figures);
}

// Pareto front of the runs that reached the target: no other run both reached it sooner and
// ran more samples per second.
std::vector<bool> pareto_front(const nlohmann::json& runs) {
  std::vector<bool> front(runs.size(), false);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (!runs[i]["reached"].get<bool>()) continue;
    const double t = runs[i]["seconds_to_target"].get<double>();
    const double s = runs[i]["samples_per_second"].get<double>();
    bool dominated = false;
    for (std::size_t j = 0; j < runs.size() && !dominated; ++j) {
      if (j == i || !runs[j]["reached"].get<bool>()) continue;
      const double tj = runs[j]["seconds_to_target"].get<double>();
      const double sj = runs[j]["samples_per_second"].get<double>();
      dominated = tj <= t && sj >= s && (tj < t || sj > s);
    }
    front[i] = !dominated;
  }
  return front;
}

// Throws descent::Error naming the first of `values` that repeats an earlier one, as the user
// spelled it (`names`, one per value).
template <typename T>
void refuse_repeats(const std::vector<T>& values, const std::vector<std::string>& names,
                    std::string_view option) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto first =
        std::find(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(i), values[i]);
    if (first != values.begin() + static_cast<std::ptrdiff_t>(i)) {
      const std::string& earlier = names[static_cast<std::size_t>(first - values.begin())];
      throw Error(fmt::format("{}: {} repeats {}; each configuration would run twice", option,
                              names[i], earlier));
    }
  }
}

int run_sweep(const SweepArgs& args) {
  // Every option is checked before anything is trained.
  if (args.out.empty())
    throw Error("--out is required: the directory for results.json and the figures");
  if (args.target_loss.empty() == args.target_accuracy.empty())
    throw Error("give one target: --target-loss X or --target-accuracy X");
  std::optional<double> target_loss, target_accuracy;
  if (!args.target_loss.empty()) target_loss = parse_target_loss(args.target_loss);
  if (!args.target_accuracy.empty()) {
    target_accuracy = parse_number(args.target_accuracy, "--target-accuracy");
    if (*target_accuracy < 0.0 || *target_accuracy > 1.0) {
      throw Error(fmt::format("--target-accuracy {} is invalid: it must be in [0, 1]",
                              args.target_accuracy));
    }
  }
  const TaskHint task = parse_task_hint(args.task);
  if (args.loss != "auto") parse_loss(args.loss);
  const std::vector<std::size_t> hidden = parse_sizes(args.hidden, "--hidden");
  const Activation activation = parse_activation(args.activation);
  std::vector<std::size_t> batches;
  for (const std::string& b : split_list(args.batch, "--batch")) {
    if (b == "full") {
      batches.push_back(0);
      continue;
    }
    const std::size_t n = parse_count(b, "--batch");
    if (n == 0) throw Error("--batch 0 is invalid: use a positive batch size, or full");
    batches.push_back(n);
  }
  std::vector<std::size_t> thread_counts;
  for (const std::string& t : split_list(args.threads, "--threads")) {
    const std::size_t n = parse_count(t, "--threads");
    if (n > kMaxThreads) {
      throw Error(fmt::format("--threads {} is invalid: use 0 (every hardware thread) to {}", t,
                              kMaxThreads));
    }
    // 0 is every hardware thread, as train's --threads 0: the count itself goes in the results.
    thread_counts.push_back(n == 0 ? hardware_threads() : n);
  }
  std::vector<std::string> lrs = split_list(args.lr, "--lr");
  for (const std::string& lr : lrs) {
    const double v = parse_number(lr, "--lr");
    if (!(v > 0.0)) throw Error(fmt::format("--lr {} is invalid: a rate must be > 0", lr));
  }
  // Each spec written again from its parts: spaces around them are not echoed.
  std::vector<std::string> optimizers;
  for (const std::string& given : args.optimizers)
    optimizers.push_back(Spec::parse(given, "optimizer").to_string());
  if (optimizers.empty()) optimizers.push_back("sgd");
  // A value given twice would train the same configurations twice (a typo, most likely).
  std::vector<double> lr_values;
  for (const std::string& lr : lrs) lr_values.push_back(parse_number(lr, "--lr"));
  refuse_repeats(batches, split_list(args.batch, "--batch"), "--batch");
  refuse_repeats(thread_counts, split_list(args.threads, "--threads"), "--threads");
  refuse_repeats(lr_values, lrs, "--lr");
  // A spec's own rate stands, unless --lr is given: then --lr replaces it. A spec is checked
  // as given first: lr=abc is a mistake even where it is overridden.
  std::vector<std::vector<std::string>> rates;
  for (const std::string& optimizer : optimizers) {
    make_optimizer(optimizer);
    const Spec spec = Spec::parse(optimizer, "--optimizer");
    const auto own = std::find_if(spec.options.begin(), spec.options.end(),
                                  [](const auto& kv) { return kv.first == "lr"; });
    rates.push_back(
        own != spec.options.end() && !args.lr_given ? std::vector<std::string>{own->second} : lrs);
  }
  // Two spellings of one optimizer at one rate (adam and adam:lr=0.5 where --lr replaces the
  // rate; sgd and sgd:momentum=0; sgd at the default rates and sgd:lr=0.01) are a repeat too:
  // every (optimizer, rate) compared by its canonical spec, every key given.
  // An alias counts as what it stands for (momentum as sgd:momentum=0.9): the optimizer's own
  // name, then the spec's every key.
  auto canonical_of = [](const std::string& spec) {
    const std::unique_ptr<Optimizer> optimizer = make_optimizer(spec);
    const std::string& keys = optimizer->spec();
    const std::size_t colon = keys.find(':');
    return std::string(optimizer->name()) +
           (colon == std::string::npos ? std::string() : keys.substr(colon));
  };
  // Whole optimizers first, named as given; then each rate.
  std::vector<std::string> canonical, spelled;
  for (std::size_t i = 0; i < optimizers.size(); ++i)
    canonical.push_back(canonical_of(with_lr(optimizers[i], rates[i].front())));
  refuse_repeats(canonical, optimizers, "--optimizer");
  canonical.clear();
  for (std::size_t i = 0; i < optimizers.size(); ++i) {
    for (const std::string& lr : rates[i]) {
      // (make_optimizer refuses a bad spec or rate now, naming it.)
      canonical.push_back(canonical_of(with_lr(optimizers[i], lr)));
      spelled.push_back(rates[i].size() > 1 ? fmt::format("{} (at lr {})", optimizers[i], lr)
                                            : optimizers[i]);
    }
  }
  refuse_repeats(canonical, spelled, "--optimizer");
  std::vector<Config> grid;
  for (std::size_t i = 0; i < optimizers.size(); ++i) {
    const std::string& optimizer = optimizers[i];
    for (const std::string& lr : rates[i]) {
      const std::string spec = with_lr(optimizer, lr);
      for (std::size_t batch : batches) {
        for (std::size_t threads : thread_counts) {
          grid.push_back({optimizer, spec, parse_number(lr, "--lr"), lr, batch, threads});
        }
      }
    }
  }
  const std::size_t max_epochs = parse_count(args.max_epochs, "--max-epochs");
  if (max_epochs == 0) throw Error("--max-epochs 0 is invalid: train for at least one epoch");
  const double time_budget = positive_or_off(args.time_budget, "--time-budget", "time budget");
  const double val_fraction = parse_number(args.val_fraction, "--val-fraction");
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    throw Error(
        fmt::format("--val-fraction {} is invalid: it must be in [0, 1)", args.val_fraction));
  if (target_accuracy && val_fraction == 0.0)
    throw Error("--target-accuracy needs validation data: use --val-fraction > 0");
  const std::uint64_t seed = parse_count(args.seed, "--seed");
  check_output_dir(args.out, "--out");

  const Dataset data = load_dataset(args.data, task);
  const LossChoice loss = choose_loss(data, args.loss);
  if (!args.quiet) print_warnings(data_warnings(data, task));
  if (data.task != Task::classification && target_accuracy)
    throw Error(fmt::format("--target-accuracy: {} is {}; use --target-loss", data.name,
                            task == TaskHint::regression
                                ? "read as a regression set (--task regression)"
                                : "a regression set"));
  const std::size_t train_rows = data.rows() - validation_rows(data.rows(), val_fraction);
  // A batch of all the training rows or more is the full batch: of several such (the default
  // 128 and full on a small set), only the first is run.
  {
    auto whole = [&](std::size_t b) { return b == 0 || b >= train_rows; };
    const auto first_whole = std::find_if(batches.begin(), batches.end(), whole);
    std::vector<std::string> dropped;
    const std::vector<std::string> batch_names = split_list(args.batch, "--batch");
    for (auto b = batches.begin(); first_whole != batches.end() && b != batches.end(); ++b) {
      if (b != first_whole && whole(*b))
        dropped.push_back(batch_names[static_cast<std::size_t>(b - batches.begin())]);
    }
    if (!dropped.empty()) {
      std::erase_if(grid,
                    [&](const Config& c) { return whole(c.batch) && c.batch != *first_whole; });
      if (!args.quiet) {
        fmt::print(
            "sweep: --batch {} would repeat batch {}: all {} training rows of {}; run "
            "once\n",
            fmt::join(dropped, ","),
            batch_names[static_cast<std::size_t>(first_whole - batches.begin())], train_rows,
            data.name);
      }
    }
  }
  const std::size_t outputs = loss.outputs;
  const Network first = Network::mlp(data.feature_count(), hidden, outputs, activation);
  check_training_data(first, data, loss.loss);  // before --out is made
  const std::string shape = shape_of(first);
  // The output directory only once everything it will hold can be made.
  std::vector<std::string> files = {"results.json"};
  if (!args.no_plots) files.insert(files.end(), std::begin(kFigures), std::end(kFigures));
  std::vector<NamedFile> inputs;
  for (const std::filesystem::path& file : dataset_files(args.data))
    inputs.push_back({"--data", file.string()});
  const std::filesystem::path out = create_output_dir(args.out, "--out", files, inputs);

  nlohmann::json results = {
      {"descent", "0.1.0"},
      {"data", data.name},
      {"rows", data.rows()},
      {"train_rows", train_rows},
      {"features", data.feature_count()},
      {"task", std::string(to_string(data.task))},
      {"model", shape},
      {"activation", std::string(to_string(activation))},
      {"loss", std::string(to_string(loss.loss))},
      {"target", target_loss ? nlohmann::json{{"loss", *target_loss}}
                             : nlohmann::json{{"accuracy", *target_accuracy}}},
      {"max_epochs", max_epochs},
      {"time_budget", time_budget},
      {"seed", seed},
      {"isa", std::string(to_string(active_isa()))},
      {"hardware_threads", hardware_threads()},
      {"runs", nlohmann::json::array()},
  };
  const std::filesystem::path results_path = out / "results.json";
  auto save = [&] {
    const std::string text = json_text(results, 1);
    write_file_atomically(results_path, std::span<const char>(text.data(), text.size()));
  };
  if (!args.quiet) {
    fmt::print("sweep: {} runs of {} on {} ({} training rows), target {} {}\n", grid.size(), shape,
               data.name, train_rows, target_loss ? "loss <=" : "accuracy >=",
               target_loss ? *target_loss : *target_accuracy);
  }
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const Config& c = grid[i];
    Network net = Network::mlp(data.feature_count(), hidden, outputs, activation);
    std::unique_ptr<Optimizer> optimizer = make_optimizer(c.spec);
    TrainOptions options;
    options.batch_size = c.batch;
    options.epochs = max_epochs;
    options.seed = seed;
    options.validation_fraction = val_fraction;
    options.threads = c.threads;
    options.init = Init::automatic;
    options.loss = loss.loss;
    options.stop.target_loss = target_loss;
    options.stop.target_accuracy = target_accuracy;
    options.stop.max_seconds = time_budget;
    set_threads(c.threads);
    const std::string batch_text = c.batch == 0 ? "full" : std::to_string(c.batch);
    if (!args.quiet) {
      fmt::print("[{:>{}}/{}] {} lr={} batch={} threads={} ... ", i + 1,
                 fmt::format("{}", grid.size()).size(), grid.size(), c.optimizer, c.lr_text,
                 batch_text, c.threads);
      std::fflush(stdout);
    }
    const TrainResult r = train(net, data, *optimizer, options);
    set_threads(0);
    const bool reached = r.stop_reason == StopReason::target_reached;
    const bool diverged = r.stop_reason == StopReason::diverged;
    const EpochRecord* last = r.history.empty() ? nullptr : &r.history.back();
    nlohmann::json history = nlohmann::json::array();
    for (const EpochRecord& e : r.history) {
      history.push_back({{"epoch", e.epoch},
                         {"step", e.step},
                         {"train_loss", number_or_null(e.train_loss)},
                         {"val_loss", number_or_null(e.val_loss)},
                         {"val_accuracy", number_or_null(e.val_accuracy)},
                         {"grad_norm", number_or_null(e.grad_norm)},
                         {"lr", number_or_null(e.lr)},
                         {"seconds", e.seconds},
                         {"samples_per_second", number_or_null(e.samples_per_second)}});
    }
    const double to_target = reached && last ? last->seconds : kNaN;
    const double epochs_to_target = reached && last ? static_cast<double>(last->epoch) : kNaN;
    results["runs"].push_back({
        {"optimizer", c.optimizer},
        {"spec", c.spec},
        {"lr", c.lr},
        {"batch", batch_text},
        {"batch_size", c.batch == 0 ? train_rows : std::min(c.batch, train_rows)},
        {"threads", c.threads},
        {"stop_reason", std::string(to_string(r.stop_reason))},
        {"stop_message", r.stop_message},
        {"reached", reached},
        {"diverged", diverged},
        {"epochs", r.epochs},
        {"steps", r.steps},
        {"seconds", r.seconds},
        {"samples_per_second", number_or_null(r.samples_per_second)},
        {"seconds_to_target", number_or_null(to_target)},
        {"epochs_to_target", number_or_null(epochs_to_target)},
        {"samples_to_target", number_or_null(epochs_to_target * static_cast<double>(train_rows))},
        {"final_train_loss", number_or_null(last ? last->train_loss : kNaN)},
        {"final_val_loss", number_or_null(last ? last->val_loss : kNaN)},
        {"final_val_accuracy", number_or_null(last ? last->val_accuracy : kNaN)},
        {"history", std::move(history)},
    });
    save();  // after every run: an interrupted sweep keeps what it measured
    if (!args.quiet) {
      if (reached) {
        fmt::print("target at epoch {} in {:.4g} s, {:.0f} samples/s\n", last->epoch, to_target,
                   r.samples_per_second);
      } else {
        fmt::print("{} after {} epochs in {:.4g} s, {:.0f} samples/s\n", to_string(r.stop_reason),
                   r.epochs, r.seconds, r.samples_per_second);
      }
    }
  }

  // The table: every run, the Pareto front marked.
  const nlohmann::json& runs = results["runs"];
  const std::vector<bool> front = pareto_front(runs);
  fmt::print("\n{:<24} {:>8} {:>6} {:>7} {:<14} {:>6} {:>12} {:>12}\n", "optimizer", "lr", "batch",
             "threads", "stop", "epochs", "s to target", "samples/s");
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const nlohmann::json& run = runs[i];
    const std::string to_target =
        run["reached"].get<bool>() ? fmt::format("{:.4g}", run["seconds_to_target"].get<double>())
                                   : "-";
    const double rate =
        run["samples_per_second"].is_null() ? 0.0 : run["samples_per_second"].get<double>();
    fmt::print("{:<24} {:>8} {:>6} {:>7} {:<14} {:>6} {:>12} {:>12.0f}{}\n",
               run["optimizer"].get<std::string>(), grid[i].lr_text,
               run["batch"].get<std::string>(), run["threads"].get<std::size_t>(),
               run["stop_reason"].get<std::string>(), run["epochs"].get<std::size_t>(), to_target,
               rate, front[i] ? "  * pareto" : "");
  }
  fmt::print("\nresults    {}\n", results_path.string());
  if (args.no_plots) return 0;
  if (const std::string why = draw_figures(out); !why.empty()) {
    fmt::print(stderr,
               "descent: error: the figures were not drawn: {}. results.json is complete; draw "
               "them later with: {} {} {} {}\n",
               why, shell_word(python()), shell_word(plot_script().string()),
               shell_word(results_path.string()), shell_word(out.string()));
    return 1;
  }
  for (const char* figure : kFigures) fmt::print("figure     {}\n", (out / figure).string());
  return 0;
}

}  // namespace

Command add_sweep_command(CLI::App& app) {
  auto args = std::make_shared<SweepArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Train over a grid of batch sizes, thread counts, learning rates and optimizers; write "
      "results.json and figures of convergence against throughput");
  cmd->add_option("--data", args->data,
                  "Bundled data set, fashion-mnist, CSV or IDX file, or synthetic:...")
      ->capture_default_str();
  cmd->add_option("--task", args->task, "auto, classification or regression")
      ->capture_default_str();
  cmd->add_option("--loss", args->loss, "auto, mse, cross_entropy or bce_with_logits")
      ->capture_default_str();
  cmd->add_option("--hidden", args->hidden, "Hidden layer sizes, comma-separated")
      ->capture_default_str();
  cmd->add_option("--activation", args->activation, "relu, tanh, sigmoid or identity")
      ->capture_default_str();
  cmd->add_option("--batch", args->batch, "Batch sizes, comma-separated (full: the whole set)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads,
                  "Thread counts, comma-separated (0: every hardware thread)")
      ->capture_default_str();
  cmd->add_option("--lr", args->lr,
                  "Learning rates, comma-separated (given, they replace a spec's own lr; by "
                  "default, a spec with its own lr runs at that rate)")
      ->capture_default_str();
  cmd->add_option("--optimizer", args->optimizers,
                  "Optimizer spec; repeat for several (default sgd), e.g. --optimizer adam "
                  "--optimizer sgd:momentum=0.9")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--target-loss", args->target_loss,
                  "Target: the monitored loss (validation, else training) at most this");
  cmd->add_option("--target-accuracy", args->target_accuracy,
                  "Target: the validation accuracy at least this");
  cmd->add_option("--max-epochs,--epochs", args->max_epochs, "Epochs per run at most")
      ->capture_default_str();
  cmd->add_option("--time-budget", args->time_budget,
                  "Seconds per run at most (default: no limit)");
  cmd->add_option("--val-fraction", args->val_fraction, "Fraction held out for validation")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed for the split, initialisation and shuffling")
      ->capture_default_str();
  cmd->add_option("--out", args->out, "Directory for results.json and the figures");
  cmd->add_flag("--no-plots", args->no_plots, "Write results.json only");
  cmd->add_flag("--quiet", args->quiet, "No progress lines (the table is still printed)");
  return {cmd, [args, cmd] {
            args->lr_given = cmd->count("--lr") > 0;
            return run_sweep(*args);
          }};
}

}  // namespace descent::cli
