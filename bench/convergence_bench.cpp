// The convergence suite: how long gradient descent takes to reach a target, not only how many
// samples it pushes through per second. Each run trains the default MLP (hidden 128, 64, ReLU,
// softmax cross-entropy; 20% held out, seed 42, standardised inputs) until the validation
// accuracy reaches the target, diverges, or runs out of time:
//
//   convergence/digits/OPT/lr:LR/batch:B/threads:T    bundled digits, to accuracy 0.95
//   convergence/fashion/OPT/lr:LR/batch:B/threads:T   Fashion-MNIST, to accuracy 0.85: Debian's
//       dataset-fashion-mnist (60,000 images) when installed, else the bundled
//       fashion_mnist_test (10,000); the label names which
//
// OPT: sgd, momentum (sgd, momentum 0.9) and adam; LR: 0.001, 0.01, 0.1, 1; B: 1, 32, 128,
// 512 and full (the whole training split). One iteration per run; its time is the time to the
// target (the whole run when the target was not reached). Counters: seconds_to_target,
// epochs_to_target and samples_to_target (NaN when not reached), samples_per_second,
// final_loss (the last validation loss), final_accuracy, diverged (0/1) and capped (0/1: the
// time cap or the epoch limit came first). The cap is 20 s per run; DESCENT_BENCH_CAP_SECONDS
// sets another (CI's smoke pass uses a small one).

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <limits>
#include <string>

#include <fmt/format.h>

#include <descent/descent.hpp>

#include "bench_util.hpp"

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Target {
  const char* name;
  double accuracy;
};

// Loaded once, on the first run that needs it.
const descent::Dataset& data_for(std::string_view name) {
  if (name == "digits") {
    static const descent::Dataset digits = descent::load_dataset("digits");
    return digits;
  }
  static const descent::Dataset fashion = descent::load_dataset(
      descent::system_dataset_available("fashion-mnist") ? "fashion-mnist" : "fashion_mnist_test");
  return fashion;
}

void converge(benchmark::State& state, const Target& target, const char* optimizer, double lr,
              std::size_t batch, std::size_t threads) {
  const descent::Dataset& data = data_for(target.name);
  descent::set_threads(threads);
  for (auto _ : state) {
    descent::Network net = descent::Network::mlp(data.feature_count(), {128, 64}, data.classes,
                                                 descent::Activation::relu);
    const std::string_view spec(optimizer);
    auto opt = descent::make_optimizer(
        fmt::format("{}{}lr={}", spec, spec.find(':') == spec.npos ? ':' : ',', lr));
    descent::TrainOptions options;
    options.batch_size = batch;
    options.epochs = 1000000;
    options.seed = 42;
    options.threads = threads;
    options.init = descent::Init::automatic;
    options.stop.target_accuracy = target.accuracy;
    options.stop.max_seconds = bench::cap_seconds();
    const descent::TrainResult result = descent::train(net, data, *opt, options);

    const bool reached = result.stop_reason == descent::StopReason::target_reached;
    const bool diverged = result.stop_reason == descent::StopReason::diverged;
    const std::size_t train_rows =
        data.rows() - descent::validation_rows(data.rows(), options.validation_fraction);
    double final_loss = kNaN, final_accuracy = kNaN;
    if (!result.history.empty()) {
      final_loss = result.history.back().val_loss;
      final_accuracy = result.history.back().val_accuracy;
    }
    const double epochs = reached ? static_cast<double>(result.epochs) : kNaN;
    state.SetIterationTime(reached ? result.history.back().seconds : result.seconds);
    state.counters["seconds_to_target"] = reached ? result.history.back().seconds : kNaN;
    state.counters["epochs_to_target"] = epochs;
    state.counters["samples_to_target"] = epochs * static_cast<double>(train_rows);
    state.counters["samples_per_second"] = result.samples_per_second;
    state.counters["final_loss"] = final_loss;
    state.counters["final_accuracy"] = final_accuracy;
    state.counters["diverged"] = diverged ? 1.0 : 0.0;
    state.counters["capped"] = !reached && !diverged ? 1.0 : 0.0;
    state.SetLabel(fmt::format("{}, {}", data.name, descent::to_string(result.stop_reason)));
  }
}

void run_convergence(benchmark::State& state, const Target& target, const char* optimizer,
                     double lr, std::size_t batch, std::size_t threads) {
  try {
    converge(state, target, optimizer, lr, batch, threads);
  } catch (const descent::Error& e) {
    state.SkipWithError(e.what());
  }
  descent::set_threads(0);
}

const bool registered = [] {
  static const Target kTargets[] = {{"digits", 0.95}, {"fashion", 0.85}};
  const char* const kOptimizers[][2] = {
      {"sgd", "sgd"}, {"momentum", "sgd:momentum=0.9"}, {"adam", "adam"}};
  for (const Target& target : kTargets) {
    for (const auto& [name, spec] : kOptimizers) {
      for (const char* lr : {"0.001", "0.01", "0.1", "1"}) {
        for (std::size_t batch : {1, 32, 128, 512, 0}) {
          for (std::size_t threads : bench::thread_counts()) {
            const std::string label = batch == 0 ? "full" : std::to_string(batch);
            const std::string bench_name =
                fmt::format("convergence/{}/{}/lr:{}/batch:{}/threads:{}", target.name, name, lr,
                            label, threads);
            const double rate = std::strtod(lr, nullptr);
            const char* optimizer = spec;
            benchmark::RegisterBenchmark(
                bench_name.c_str(),
                [&target, optimizer, rate, batch, threads](benchmark::State& state) {
                  run_convergence(state, target, optimizer, rate, batch, threads);
                })
                ->Iterations(1)
                ->UseManualTime()
                ->Unit(benchmark::kSecond);
          }
        }
      }
    }
  }
  return true;
}();

}  // namespace
