// The training-step suite: one step (forward, softmax cross-entropy, backward, the reduction
// of the shard gradients, the gradient norm and the optimizer update) of the 784-256-256-10
// ReLU MLP on MNIST-shaped synthetic data (descent::make_synthetic, 60,000 rows).
//
//   BM_train_step/OPT/batch:B/threads:T
//
// OPT is sgd_momentum (sgd:lr=0.01,momentum=0.9) or adam (adam:lr=0.001). Step i trains on
// rows [i*B, i*B + B) of the data, wrapping around, as an epoch over unshuffled data would.
// Counters: samples_per_second, GFLOPS (1.2114 MFLOP per sample: the forward products, the
// weight gradients and the input gradients of every layer but the first) and peak_fraction
// (of the FMA loop's rate on T threads, measured in this binary). bench/train_vs_torch.py
// runs this beside bench/peers/torch_mlp.py and prints the ratios.

#include <benchmark/benchmark.h>

#include <string>
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
  descent::Trainer trainer(net, *optimizer, descent::Loss::cross_entropy);
  trainer.reserve(batch);
  const descent::ConstMatrixView x = data.features.view();
  std::size_t first = 0;
  auto step = [&] {
    if (first + batch > kRows) first = 0;
    const descent::Targets t{std::span(data.labels).subspan(first, batch), {}};
    benchmark::DoNotOptimize(trainer.train_step(x.rows_range(first, batch), t));
    first += batch;
  };
  step();  // warm: first touch of the workspaces and the optimizer state
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
      for (std::size_t threads : {1, 2}) {
        const std::string name = std::string("BM_train_step/") + c.name +
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
