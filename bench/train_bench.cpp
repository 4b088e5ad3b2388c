// The training-step suite: one step (forward, softmax cross-entropy, backward, the reduction
// of the shard gradients, the gradient norm and the optimizer update) of the 784-256-256-10
// ReLU MLP on MNIST-shaped synthetic data (descent::make_synthetic, 60,000 rows).
//
//   train_step/OPT/batch:B/threads:T
//
// OPT is sgd_momentum (sgd:lr=0.01,momentum=0.9) or adam (adam:lr=0.001). Step i trains on
// rows [i*B, i*B + B) of a shuffled order, wrapping around, gathered by the step's shards as
// in an epoch of fit() (the full batch trains on the data in place).
// Counters: samples_per_second, GFLOPS (1.2114 MFLOP per sample: the forward products, the
// weight gradients and the input gradients of every layer but the first) and peak_fraction
// (of the FMA loop's rate on T threads, measured in this binary). bench/train_vs_torch.py
// runs this beside bench/peers/torch_mlp.py and prints the ratios. data_us, forward_us,
// backward_us, reduce_us and optimizer_us split a step's time (descent::StepProfile).

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <descent/descent.hpp>

#include "bench_util.hpp"

namespace {

constexpr std::size_t kRows = 60000;

const descent::Dataset& mnist_shaped() {
  static const descent::Dataset data =
      descent::make_synthetic({.rows = kRows, .features = 784, .classes = 10, .seed = 1});
  return data;
}

// FLOPs of one sample's step: forward and weight-gradient products of every layer, and the
// input-gradient product of every layer but the first (nothing needs dX of the data).
double flops_per_sample(const descent::Network& net) {
  double flops = 0.0;
  for (std::size_t l = 0; l < net.layers().size(); ++l) {
    const descent::DenseLayer& layer = net.layers()[l];
    const double macs = static_cast<double>(layer.inputs) * static_cast<double>(layer.outputs);
    flops += 2.0 * macs * (l == 0 ? 2.0 : 3.0);
  }
  return flops;
}

void run_train_step(benchmark::State& state, const char* spec, std::size_t batch,
                    std::size_t threads) {
  const descent::Dataset& data = mnist_shaped();
  descent::set_threads(threads);
  descent::Network net = descent::Network::mlp(784, {256, 256}, 10, descent::Activation::relu);
  net.initialize(descent::Init::automatic, 1);
  auto optimizer = descent::make_optimizer(spec);
  descent::TrainOptions options;
  options.profile = true;
  descent::Trainer trainer(net, *optimizer, descent::Loss::cross_entropy, options);
  trainer.reserve(batch);
  // As an epoch of fit() does: the rows in a shuffled order, each batch's rows gathered by
  // the step's shards (the full batch trains on the data in place).
  std::vector<std::size_t> order(kRows);
  std::iota(order.begin(), order.end(), std::size_t{0});
  descent::Rng(7).shuffle(std::span<std::size_t>(order));
  const bool gather = batch < kRows;
  const descent::Targets targets{std::span(data.labels), {}};
  std::size_t first = 0;
  auto step = [&] {
    if (first + batch > kRows) first = 0;
    if (gather) {
      benchmark::DoNotOptimize(
          trainer.train_step(data.features.view(), targets,
                             std::span<const std::size_t>(order).subspan(first, batch)));
    } else {
      benchmark::DoNotOptimize(trainer.train_step(data.features.view(), targets));
    }
    first += batch;
  };
  step();  // warm: first touch of the workspaces and the optimizer state
  trainer.reset_profile();
  for (auto _ : state) step();
  const double flops = flops_per_sample(net) * static_cast<double>(batch);
  state.counters["samples_per_second"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_fraction"] = benchmark::Counter(
      flops / bench::peak_flops(threads), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["shards"] =
      static_cast<double>((batch + trainer.shard_rows(batch) - 1) / trainer.shard_rows(batch));
  // Where a step's time goes, in microseconds per step.
  const descent::StepProfile& p = trainer.profile();
  const std::pair<const char*, double> phases[] = {{"data_us", p.data},
                                                   {"forward_us", p.forward},
                                                   {"backward_us", p.backward},
                                                   {"reduce_us", p.reduce},
                                                   {"optimizer_us", p.optimizer}};
  for (const auto& [name, seconds] : phases)
    state.counters[name] = benchmark::Counter(seconds * 1e6, benchmark::Counter::kAvgIterations);
  state.SetLabel(std::string(descent::to_string(descent::active_isa())));
  descent::set_threads(0);
}

const bool registered = [] {
  struct Case {
    const char* name;
    const char* spec;
  };
  const Case optimizers[] = {{"sgd_momentum", "sgd:lr=0.01,momentum=0.9"},
                             {"adam", "adam:lr=0.001"}};
  for (const Case& c : optimizers) {
    for (std::size_t batch : {1, 8, 32, 128, 512, 4096, 60000}) {
      for (std::size_t threads : bench::thread_counts()) {
        const std::string name = std::string("train_step/") + c.name +
                                 "/batch:" + std::to_string(batch) +
                                 "/threads:" + std::to_string(threads);
        const char* spec = c.spec;
        benchmark::RegisterBenchmark(name.c_str(),
                                     [spec, batch, threads](benchmark::State& state) {
                                       run_train_step(state, spec, batch, threads);
                                     })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  return true;
}();

}  // namespace
