// Gradient descent you can see:
//   descent trace     optimizers on an analytic function: trajectories, the end, a figure
//   descent lr-demo   the learning-rate lesson on the parabola, in one figure
//   descent lr-find   a learning-rate range test on data
// The figures are drawn by tools/plot_trace.py from the JSON and CSV files written here.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
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

// At most this many numbers go into the trajectory files of one command.
constexpr double kMaxTracedNumbers = 5e7;
// At most this many steps per optimizer, some 12 s of a 1-D function's (8 million a second
// here): an optimizer that never meets --grad-tol would otherwise run on for hours.
constexpr std::size_t kMaxTraceSteps = 100'000'000;

nlohmann::json points_json(const std::vector<std::vector<double>>& points) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : points) out.push_back(p);
  return out;
}

std::vector<double> parse_point(const std::string& text, std::string_view option) {
  std::vector<double> point;
  for (const std::string& item : split_list(text, option))
    point.push_back(parse_number(item, option));
  return point;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  write_file_atomically(path, std::span<const char>(text.data(), text.size()));
}

// step,value,grad_norm,lr,x0,x1,... one row per point of the trajectory.
std::string trajectory_csv(const std::vector<TracePoint>& trajectory, std::size_t dimension) {
  std::string csv = "step,value,grad_norm,lr";
  for (std::size_t i = 0; i < dimension; ++i) csv += fmt::format(",x{}", i);
  csv += '\n';
  for (const TracePoint& p : trajectory) {
    csv += fmt::format("{},{:.9g},{:.9g},{:.9g}", p.step, p.value, p.grad_norm, p.lr);
    for (const float x : p.point) csv += fmt::format(",{:.9g}", x);
    csv += '\n';
  }
  return csv;
}

// A file-name-safe short form of an optimizer spec: its name.
std::string file_stem(std::size_t index, const std::string& spec) {
  std::string name = spec.substr(0, spec.find(':'));
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  return fmt::format("trace_{}_{}", index + 1, name);
}

// The values to draw the function with: a curve in 1-D, a grid in 2-D, over its domain
// widened to hold `extra` points (the start).
void add_picture(nlohmann::json& j, Objective& f, const std::vector<std::vector<double>>& extra) {
  auto box = f.domain();
  for (const auto& p : extra) {
    for (std::size_t i = 0; i < box.size() && i < p.size(); ++i) {
      const double margin = 0.1 * (box[i].second - box[i].first);
      box[i].first = std::min(box[i].first, p[i] - margin);
      box[i].second = std::max(box[i].second, p[i] + margin);
    }
  }
  j["domain"] = nlohmann::json::array();
  for (const auto& [lo, hi] : box) j["domain"].push_back({lo, hi});
  auto at = [](double lo, double hi, std::size_t i, std::size_t n) {
    return lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(n - 1);
  };
  if (f.dimension() == 1) {
    constexpr std::size_t kPoints = 401;
    nlohmann::json xs = nlohmann::json::array(), values = nlohmann::json::array();
    for (std::size_t i = 0; i < kPoints; ++i) {
      const double x = at(box[0].first, box[0].second, i, kPoints);
      xs.push_back(x);
      values.push_back(number_or_null(f.value(std::vector<float>{static_cast<float>(x)})));
    }
    j["curve"] = {{"x", xs}, {"value", values}};
  } else if (f.dimension() == 2) {
    constexpr std::size_t kPoints = 161;
    nlohmann::json xs = nlohmann::json::array(), ys = nlohmann::json::array(),
                   rows = nlohmann::json::array();
    for (std::size_t i = 0; i < kPoints; ++i)
      xs.push_back(at(box[0].first, box[0].second, i, kPoints));
    for (std::size_t r = 0; r < kPoints; ++r) {
      const double y = at(box[1].first, box[1].second, r, kPoints);
      ys.push_back(y);
      nlohmann::json row = nlohmann::json::array();
      for (std::size_t i = 0; i < kPoints; ++i) {
        const std::vector<float> p = {static_cast<float>(xs[i].get<double>()),
                                      static_cast<float>(y)};
        row.push_back(number_or_null(f.value(p)));
      }
      rows.push_back(row);
    }
    j["grid"] = {{"x", xs}, {"y", ys}, {"value", rows}};
  }
}

nlohmann::json run_json(const std::string& spec, const MinimizeResult& r) {
  return {{"optimizer", spec},
          {"stop_reason", std::string(to_string(r.stop_reason))},
          {"stop_message", r.stop_message},
          {"steps", r.steps},
          {"final_point", std::vector<double>(r.point.begin(), r.point.end())},
          {"final_value", number_or_null(r.value)},
          {"grad_norm", number_or_null(r.grad_norm)},
          {"seconds", r.seconds}};
}

std::string point_text(const std::vector<float>& p) {
  std::string s;
  const std::size_t shown = std::min<std::size_t>(p.size(), 4);
  for (std::size_t i = 0; i < shown; ++i) s += fmt::format("{}{:.6g}", i > 0 ? ", " : "", p[i]);
  if (p.size() > shown) s += fmt::format(", ... ({} coordinates)", p.size());
  return "(" + s + ")";
}

// Draws INPUT.json into OUT.png; on failure says how to draw it later. True when drawn.
bool draw(const std::filesystem::path& json, const std::filesystem::path& png) {
  const std::filesystem::path script = tool_script("plot_trace.py", "DESCENT_PLOT_TRACE");
  const std::string why = run_script(script, {json.string(), png.string()}, {png});
  if (why.empty()) return true;
  fmt::print(stderr,
             "descent: error: the figure was not drawn: {}. {} is complete; draw it later "
             "with: {} {} {} {}\n",
             why, json.string(), shell_word(python()), shell_word(script.string()),
             shell_word(json.string()), shell_word(png.string()));
  return false;
}

// ---------------------------------------------------------------------------------------
// descent trace

struct TraceArgs {
  std::string function;
  std::vector<std::string> optimizers;
  std::string start;
  std::string steps = "1000";
  std::string grad_tol = "1e-4";
  std::string out;
  bool json = false;
  bool no_plots = false;
};

int run_trace(const TraceArgs& args) {
  const std::unique_ptr<Objective> f = make_objective(args.function);
  const std::size_t n = f->dimension();
  std::vector<double> start = f->initial_point();
  if (!args.start.empty()) {
    start = parse_point(args.start, "--start");
    if (start.size() != n) {
      throw Error(fmt::format("--start {}: {} takes {} coordinate{}, got {}", args.start, f->name(),
                              n, n == 1 ? "" : "s", start.size()));
    }
    // The point is traced in 32-bit floats.
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(static_cast<float>(start[i]))) {
        throw Error(fmt::format(
            "--start {}: coordinate {} ({}) is beyond the 32-bit floats' range (at most 3.4e38)",
            args.start, i, start[i]));
      }
    }
  }
  const std::size_t steps = parse_count(args.steps, "--steps");
  if (steps == 0) throw Error("--steps 0 is invalid: take at least one step");
  if (steps > kMaxTraceSteps) {
    throw Error(fmt::format("--steps {} is invalid: at most {} steps per optimizer", args.steps,
                            kMaxTraceSteps));
  }
  const double grad_tol = parse_number(args.grad_tol, "--grad-tol");
  if (grad_tol < 0.0)
    throw Error(fmt::format("--grad-tol {} is invalid: it must be >= 0", args.grad_tol));
  const std::vector<std::string> specs =
      args.optimizers.empty() ? std::vector<std::string>{"sgd:lr=0.01"} : args.optimizers;
  std::vector<std::unique_ptr<Optimizer>> optimizers;
  for (const std::string& spec : specs) optimizers.push_back(make_optimizer(spec));
  const bool record = !args.out.empty();
  if (record && static_cast<double>(steps + 1) * static_cast<double>(n + 4) *
                        static_cast<double>(specs.size()) >
                    kMaxTracedNumbers) {
    throw Error(
        fmt::format("--steps {} on {} coordinates with {} optimizer(s) would write more "
                    "than {:.0e} numbers; take fewer steps",
                    steps, n, specs.size(), kMaxTracedNumbers));
  }
  if (record) check_output_dir(args.out, "--out");

  const std::vector<float> x0(start.begin(), start.end());
  nlohmann::json j = {{"kind", "trace"},
                      {"function", f->name()},
                      {"dimension", n},
                      {"start", start},
                      {"minimizers", points_json(f->minimizers())},
                      {"local_minimizers", points_json(f->local_minimizers())},
                      {"minimum", f->minimum() ? nlohmann::json(*f->minimum()) : nullptr},
                      {"steps", steps},
                      {"runs", nlohmann::json::array()}};
  std::vector<MinimizeResult> results;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    MinimizeOptions options;
    options.stop.max_steps = steps;
    options.stop.grad_tolerance = grad_tol;
    options.record_trajectory = record;
    results.push_back(minimize(*f, *optimizers[i], x0, options));
    j["runs"].push_back(run_json(specs[i], results.back()));
  }

  // Every run finished (a start that fails fails them all): only now is anything written.
  std::optional<std::filesystem::path> out;
  if (record) {
    std::vector<std::string> files = {"trace.json"};
    for (std::size_t i = 0; i < specs.size(); ++i) files.push_back(file_stem(i, specs[i]) + ".csv");
    if (!args.no_plots) files.push_back("trace.png");
    out = create_output_dir(args.out, "--out", files);
  }
  bool drawn = true;
  if (out) {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const std::string csv = file_stem(i, specs[i]) + ".csv";
      write_text(*out / csv, trajectory_csv(results[i].trajectory, n));
      j["runs"][i]["csv"] = csv;
    }
    add_picture(j, *f, {start});
    write_text(*out / "trace.json", json_text(j, 1));
    if (!args.no_plots) drawn = draw(*out / "trace.json", *out / "trace.png");
  }
  if (args.json) {
    j.erase("curve");
    j.erase("grid");
    fmt::print("{}\n", json_text(j));
  } else {
    fmt::print("{} from {}, at most {} steps\n", f->name(),
               point_text(std::vector<float>(x0.begin(), x0.end())), steps);
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const MinimizeResult& r = results[i];
      fmt::print("  {:<32} {:<10} after {:>6} steps: f{} = {:.6g}, |grad| = {:.3g}\n", specs[i],
                 to_string(r.stop_reason), r.steps, point_text(r.point), r.value, r.grad_norm);
    }
    if (const auto m = f->minimizers(); !m.empty()) {
      std::string list;
      for (const auto& p : m)
        list += (list.empty() ? "" : ", ") + point_text(std::vector<float>(p.begin(), p.end()));
      fmt::print("  minimum {:.6g} at {}\n", f->minimum().value_or(0.0), list);
    }
    if (out) {
      fmt::print("  wrote      {}{}\n", (*out / "trace.json").string(),
                 drawn && !args.no_plots ? ", " + (*out / "trace.png").string() : "");
    }
  }
  return drawn ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// descent lr-demo

struct LrDemoArgs {
  std::string out = "lr-demo";
  std::string steps = "30";
  bool json = false;
  bool no_plots = false;
};

int run_lr_demo(const LrDemoArgs& args) {
  const std::size_t steps = parse_count(args.steps, "--steps");
  if (steps == 0) throw Error("--steps 0 is invalid: take at least one step");
  if (steps > 100000) throw Error(fmt::format("--steps {} is invalid: at most 100000", steps));
  const std::unique_ptr<Objective> f = make_objective("parabola");
  // J(w) = (w - 3)^2 has curvature L = J'' = 2: gradient descent is stable for lr < 2/L = 1.
  constexpr double kCurvature = 2.0;
  const double bound = 2.0 / kCurvature;
  struct Rate {
    const char* label;
    double lr;
    const char* why;
  };
  const Rate rates[] = {
      {"crawls", 0.02, "each step removes 4% of the distance to w = 3"},
      {"right", 0.3, "each step removes 60% of the distance"},
      {"oscillates", 0.9, "overshoots to the other side, 80% of the distance left each step"},
      {"diverges", 1.1, "overshoots further each step: lr > 2/L"},
  };
  std::vector<std::string> files = {"lr_demo.json"};
  for (const Rate& rate : rates) files.push_back(fmt::format("lr_{}.csv", rate.label));
  if (!args.no_plots) files.push_back("lr_demo.png");
  const std::filesystem::path out = create_output_dir(args.out, "--out", files);
  const std::vector<float> w0 = {0.0f};
  nlohmann::json j = {{"kind", "lr_demo"},
                      {"function", "parabola"},
                      {"formula", "J(w) = (w - 3)^2"},
                      {"dimension", 1},
                      {"curvature", kCurvature},
                      {"bound", bound},
                      {"start", {0.0}},
                      {"minimizers", points_json(f->minimizers())},
                      {"minimum", 0.0},
                      {"steps", steps},
                      {"runs", nlohmann::json::array()}};
  if (!args.json) {
    fmt::print("J(w) = (w - 3)^2 from w = 0, {} steps of w <- w - lr * 2 (w - 3)\n", steps);
    fmt::print("curvature L = J''(w) = 2: gradient descent converges for lr < 2/L = {:g}\n\n",
               bound);
  }
  for (const Rate& rate : rates) {
    const std::string spec = fmt::format("sgd:lr={}", rate.lr);
    const auto sgd = make_optimizer(spec);
    MinimizeOptions options;
    options.stop.max_steps = steps;
    const MinimizeResult r = minimize(*f, *sgd, w0, options);
    const std::string csv = fmt::format("lr_{}.csv", rate.label);
    write_text(out / csv, trajectory_csv(r.trajectory, 1));
    nlohmann::json run = run_json(spec, r);
    run["label"] = rate.label;
    run["lr"] = rate.lr;
    run["csv"] = csv;
    run["factor"] = 1.0 - rate.lr * kCurvature;  // w - 3 is multiplied by this each step
    j["runs"].push_back(run);
    if (!args.json) {
      fmt::print(
          "  lr = {:<5g} {:<11} {:<10} after {:>3} steps w = {:<12.6g} |w - 3| = {:.3g}\n"
          "  {:<17} ({})\n",
          rate.lr, rate.label, to_string(r.stop_reason), r.steps, r.point[0],
          std::abs(r.point[0] - 3.0f), "", rate.why);
    }
  }
  add_picture(j, *f, {});
  write_text(out / "lr_demo.json", json_text(j, 1));
  const bool drawn = args.no_plots || draw(out / "lr_demo.json", out / "lr_demo.png");
  if (args.json) {
    j.erase("curve");
    fmt::print("{}\n", json_text(j));
  } else {
    fmt::print("\n  wrote      {}{}\n", (out / "lr_demo.json").string(),
               drawn && !args.no_plots ? ", " + (out / "lr_demo.png").string() : "");
  }
  return drawn ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// descent lr-find

struct LrFindArgs {
  std::string data = "digits";
  std::string task = "auto";
  std::string hidden = "128,64";
  std::string activation = "relu";
  std::string loss = "auto";
  std::string init = "auto";
  std::string optimizer = "sgd:momentum=0.9";
  std::string batch = "32";
  std::string start_lr = "1e-7";
  std::string end_lr = "10";
  std::string steps = "100";
  std::string val_fraction = "0.2";
  std::string seed = "42";
  std::string threads = "0";
  std::string out;
  bool json = false;
  bool no_plots = false;
  bool no_standardize = false;
};

int run_lr_find(const LrFindArgs& args) {
  const TaskHint hint = parse_task_hint(args.task);
  const std::vector<std::size_t> hidden = parse_sizes(args.hidden, "--hidden");
  const Activation activation = parse_activation(args.activation);
  const std::optional<Init> init = parse_init_option(args.init);
  const auto optimizer = make_optimizer(args.optimizer);
  if (Spec::parse(args.optimizer, "optimizer").has("lr")) {
    throw Error(
        fmt::format("--optimizer {}: lr= has no effect here, the test sets the rate from "
                    "--start-lr to --end-lr: leave it out",
                    args.optimizer));
  }
  LrFindOptions o;
  o.batch_size = args.batch == "full" ? 0 : parse_count(args.batch, "--batch");
  if (args.batch != "full" && o.batch_size == 0)
    throw Error("--batch 0 is invalid: use a positive batch size, or full");
  o.start_lr = parse_number(args.start_lr, "--start-lr");
  o.end_lr = parse_number(args.end_lr, "--end-lr");
  // Each rate goes to the optimizer as a 32-bit float.
  if (!(static_cast<float>(o.start_lr) > 0.0f)) {
    throw Error(fmt::format(
        "--start-lr {} is invalid: a rate must be > 0, and at least 1.4e-45 (below, it is 0 as "
        "a 32-bit float)",
        args.start_lr));
  }
  if (!(o.end_lr > o.start_lr)) {
    throw Error(fmt::format("--end-lr {} is invalid: it must be above --start-lr {}", args.end_lr,
                            args.start_lr));
  }
  if (!std::isfinite(static_cast<float>(o.end_lr))) {
    throw Error(fmt::format("--end-lr {} is invalid: at most 3.4e38 (the largest 32-bit float)",
                            args.end_lr));
  }
  o.steps = parse_count(args.steps, "--steps");
  if (o.steps < 2 || o.steps > 1000000)
    throw Error(fmt::format("--steps {} is invalid: use 2 to 1000000", args.steps));
  const double val_fraction = parse_number(args.val_fraction, "--val-fraction");
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    throw Error(
        fmt::format("--val-fraction {} is invalid: it must be in [0, 1)", args.val_fraction));
  o.seed = parse_count(args.seed, "--seed");
  o.threads = parse_count(args.threads, "--threads");
  if (o.threads > kMaxThreads)
    throw Error(fmt::format("--threads {} is invalid: at most {}", args.threads, kMaxThreads));

  const Dataset data = load_dataset(args.data, hint);
  const LossChoice choice = choose_loss(data, args.loss);
  print_warnings(data_warnings(data, hint));
  const Loss loss = choice.loss;
  Network net = Network::mlp(data.feature_count(), hidden, choice.outputs, activation);
  // The same rows, scaling and initial weights as `descent train` with these options.
  TrainOptions recipe;
  recipe.validation_fraction = val_fraction;
  recipe.seed = o.seed;
  recipe.loss = loss;
  recipe.init = init;  // nullopt: the weights (and a model's standardisation) of the file
  recipe.standardize = !args.no_standardize;
  recipe.batch_size = o.batch_size;  // for the memory check before initialising
  recipe.threads = o.threads;
  if (!init) init_from_file(args.init, false, args.no_standardize, net, recipe);
  const DataSplit split = prepare_training(net, data, recipe);
  check_training_data(net, split.train, loss);  // before --out is made
  std::optional<std::filesystem::path> out;
  if (!args.out.empty()) {
    std::vector<std::string> files = {"lr_find.csv", "lr_find.json"};
    if (!args.no_plots) files.push_back("lr_find.png");
    std::vector<NamedFile> inputs = {{"--init", args.init}};
    for (const std::filesystem::path& file : dataset_files(args.data))
      inputs.push_back({"--data", file.string()});
    out = create_output_dir(args.out, "--out", files, inputs);
  }

  const LrFindResult r = lr_find(net, split.train, *optimizer, loss, o);
  nlohmann::json j = {{"kind", "lr_find"},
                      {"data", data.name},
                      {"optimizer", args.optimizer},
                      {"batch", o.batch_size == 0 ? split.train.rows()
                                                  : std::min(o.batch_size, split.train.rows())},
                      {"start_lr", o.start_lr},
                      {"end_lr", o.end_lr},
                      {"steps", r.points.size()},
                      {"stop", r.exploded ? "exploded" : "end"},
                      // null where the loss never fell: no rate to suggest
                      {"suggested_lr", r.fell ? nlohmann::json(r.suggested_lr) : nlohmann::json()},
                      {"min_loss_lr", r.min_loss_lr}};
  bool drawn = true;
  if (out) {
    std::string csv = "step,lr,loss,smoothed_loss\n";
    for (const LrFindPoint& p : r.points)
      csv += fmt::format("{},{:.9g},{:.9g},{:.9g}\n", p.step, p.lr, p.loss, p.smoothed_loss);
    write_text(*out / "lr_find.csv", csv);
    j["csv"] = "lr_find.csv";
    write_text(*out / "lr_find.json", json_text(j, 1));
    if (!args.no_plots) drawn = draw(*out / "lr_find.json", *out / "lr_find.png");
  }
  if (args.json) {
    fmt::print("{}\n", json_text(j));
  } else {
    fmt::print("learning-rate range test on {} ({} training rows), {}, batch {}\n", data.name,
               split.train.rows(), args.optimizer, j["batch"].get<std::size_t>());
    fmt::print("  rates {:g} to {:g} over {} steps; {}\n", o.start_lr, o.end_lr, o.steps,
               r.exploded ? fmt::format("the loss exploded at step {} (lr {:.3g})",
                                        r.points.back().step, r.points.back().lr)
                          : std::string("the loss never exploded"));
    const std::size_t every = std::max<std::size_t>(1, r.points.size() / 12);
    fmt::print("  {:>10}  {:>12}  {:>12}\n", "lr", "loss", "smoothed");
    for (std::size_t i = 0; i < r.points.size(); i += every)
      fmt::print("  {:>10.3g}  {:>12.5g}  {:>12.5g}\n", r.points[i].lr, r.points[i].loss,
                 r.points[i].smoothed_loss);
    if (!r.fell) {
      fmt::print(
          "  no suggestion: the smoothed loss never fell, it was lowest at lr {:.3g} (a model "
          "already trained? rates that start too high? try a lower --start-lr or more "
          "--steps)\n",
          r.min_loss_lr);
    } else {
      fmt::print("  suggested lr {:.3g} (the loss falls fastest there); lowest loss at lr {:.3g}\n",
                 r.suggested_lr, r.min_loss_lr);
      // The rate is for this optimizer (train's default is plain sgd, not lr-find's), model and
      // batch: the train options that repeat them (lr-find's other defaults are train's).
      const LrFindArgs defaults;
      std::string same = fmt::format("--data {}", args.data);
      for (const auto& [option, value, fallback] :
           {std::tuple{"--task", &args.task, &defaults.task},
            {"--hidden", &args.hidden, &defaults.hidden},
            {"--activation", &args.activation, &defaults.activation},
            {"--loss", &args.loss, &defaults.loss},
            {"--init", &args.init, &defaults.init},
            {"--batch", &args.batch, &defaults.batch},
            {"--val-fraction", &args.val_fraction, &defaults.val_fraction},
            {"--seed", &args.seed, &defaults.seed}}) {
        if (*value != *fallback) same += fmt::format(" {} {}", option, *value);
      }
      if (args.no_standardize) same += " --no-standardize";
      fmt::print("  train with {} --optimizer {} --lr {:.3g}\n", same, args.optimizer,
                 r.suggested_lr);
    }
    if (out) {
      fmt::print("  wrote      {}{}\n", (*out / "lr_find.csv").string(),
                 drawn && !args.no_plots ? ", " + (*out / "lr_find.png").string() : "");
    }
  }
  return drawn ? 0 : 1;
}

}  // namespace

Command add_trace_command(CLI::App& app) {
  auto args = std::make_shared<TraceArgs>();
  CLI::App* sub = app.add_subcommand(
      "trace", "Minimise an analytic function with one or more optimizers and trace their steps");
  std::string names;
  for (const std::string& name : objective_names()) names += (names.empty() ? "" : ", ") + name;
  sub->add_option("--function", args->function,
                  "The function: " + names +
                      " (quadratic, rosenbrock, rastrigin and ackley "
                      "take :dim=N; quadratic :condition=K,scale=S)")
      ->required();
  sub->add_option("--optimizer", args->optimizers,
                  "An optimizer spec (repeat for several; default sgd:lr=0.01)");
  sub->add_option("--start", args->start,
                  "The start point, x or x,y,... (default: the function's)");
  sub->add_option("--steps", args->steps, "At most this many steps (default 1000)");
  sub->add_option("--grad-tol", args->grad_tol,
                  "Converged when the gradient norm is at most this (default 1e-4; float32 points "
                  "rarely get closer)");
  sub->add_option("--out", args->out,
                  "Write a trajectory CSV per optimizer, trace.json and trace.png here");
  sub->add_flag("--json", args->json, "Print the results as JSON");
  sub->add_flag("--no-plots", args->no_plots, "Write the files but draw no figure");
  return {sub, [args] { return run_trace(*args); }};
}

Command add_lr_demo_command(CLI::App& app) {
  auto args = std::make_shared<LrDemoArgs>();
  CLI::App* sub = app.add_subcommand(
      "lr-demo",
      "The learning-rate lesson: gradient descent on (w - 3)^2 with a rate that crawls, one "
      "that is right, one that oscillates and one that diverges");
  sub->add_option("--out", args->out, "Directory for the figure and its data (default lr-demo)");
  sub->add_option("--steps", args->steps, "Steps per rate (default 30)");
  sub->add_flag("--json", args->json, "Print the results as JSON");
  sub->add_flag("--no-plots", args->no_plots, "Write the files but draw no figure");
  return {sub, [args] { return run_lr_demo(*args); }};
}

Command add_lr_find_command(CLI::App& app) {
  auto args = std::make_shared<LrFindArgs>();
  CLI::App* sub = app.add_subcommand(
      "lr-find",
      "A learning-rate range test: the rate grows exponentially over mini-batches; suggests "
      "the rate where the loss falls fastest");
  sub->add_option(
      "--data", args->data,
      "Bundled data set, fashion-mnist, CSV or IDX file, or synthetic:... (default digits)");
  sub->add_option("--task", args->task, "auto, classification or regression");
  sub->add_option("--hidden", args->hidden, "Hidden layer sizes (default 128,64)");
  sub->add_option("--activation", args->activation, "relu, tanh, sigmoid or identity");
  sub->add_option("--loss", args->loss, "auto, mse, cross_entropy or bce_with_logits");
  sub->add_option("--init", args->init,
                  "auto, kaiming_normal, kaiming_uniform, xavier_normal, xavier_uniform, pytorch, "
                  "a model file (descent train --save: its weights and standardisation), or a "
                  "file of float32 parameters in nn.Linear order: the weights the test starts "
                  "from (default auto)");
  sub->add_flag("--no-standardize", args->no_standardize,
                "Test on the raw features instead of standardising them on the training rows");
  sub->add_option("--optimizer", args->optimizer,
                  "The optimizer spec; its lr is replaced by the test's rates "
                  "(default sgd:momentum=0.9)");
  sub->add_option("--batch", args->batch, "Batch size, or full (default 32)");
  sub->add_option("--start-lr", args->start_lr, "The first rate (default 1e-7)");
  sub->add_option("--end-lr", args->end_lr, "The last rate (default 10)");
  sub->add_option("--steps", args->steps, "Mini-batches, one rate each (default 100)");
  sub->add_option("--val-fraction", args->val_fraction,
                  "Held out as descent train holds it out, unused here (default 0.2)");
  sub->add_option("--seed", args->seed,
                  "Seed of the split, the initial weights and the order (default 42)");
  sub->add_option("--threads", args->threads, "Threads (default 0: every hardware thread)");
  sub->add_option("--out", args->out, "Write lr_find.csv, lr_find.json and lr_find.png here");
  sub->add_flag("--json", args->json, "Print the results as JSON");
  sub->add_flag("--no-plots", args->no_plots, "Write the files but draw no figure");
  return {sub, [args] { return run_lr_find(*args); }};
}

}  // namespace descent::cli
