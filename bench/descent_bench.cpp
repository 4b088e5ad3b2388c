// descent_bench: Google Benchmark cases for the kernels and the training step. Public
// headers only. Run `descent_bench --benchmark_filter=...`; DESCENT_ISA pins an ISA.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <descent/descent.hpp>

#include "bench_util.hpp"

namespace {

using bench::random_floats;

// One optimizer step over a flat buffer of n parameters: the fused update kernel, in
// parallel over fixed pieces. Bytes counts every float the update reads and writes.
struct OptimizerCase {
  const char* spec;
  double floats_per_parameter;  // read + written
};
constexpr OptimizerCase kOptimizers[] = {
    {"sgd", 3},       // p, g -> p
    {"momentum", 5},  // p, g, b -> p, b
    {"adagrad", 5},   // p, g, s -> p, s
    {"rmsprop", 5},   // p, g, v -> p, v
    {"adam", 7},      // p, g, m, v -> p, m, v
    {"adamw", 7},     // the same
    {"nadam", 7},     // the same
    {"radam", 7},     // the same
    {"adamax", 7},    // p, g, m, u -> p, m, u
    {"adadelta", 7},  // p, g, v, u -> p, v, u
};

void BM_optimizer_step(benchmark::State& state) {
  const OptimizerCase& c = kOptimizers[state.range(0)];
  const auto n = static_cast<std::size_t>(state.range(1));
  descent::set_threads(static_cast<std::size_t>(state.range(2)));
  auto optimizer = descent::make_optimizer(c.spec);
  optimizer->prepare(n);
  // 64-byte-aligned like a Network's flat buffers.
  descent::AlignedBuffer<float> params(n), grads(n);
  const auto p0 = random_floats(n, 4), g0 = random_floats(n, 5);
  std::copy(p0.begin(), p0.end(), params.data());
  std::copy(g0.begin(), g0.end(), grads.data());
  for (auto _ : state) {
    optimizer->step(params.span(), grads.span());
    benchmark::ClobberMemory();
  }
  state.SetLabel(c.spec);
  state.counters["GBps"] =
      benchmark::Counter(c.floats_per_parameter * sizeof(float) * static_cast<double>(n) * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate);
  descent::set_threads(0);
}
// 269,322 parameters: the 784-256-256-10 MLP; 10M: a buffer far larger than the caches.
BENCHMARK(BM_optimizer_step)
    ->ArgNames({"optimizer", "params", "threads"})
    ->ArgsProduct({benchmark::CreateDenseRange(0, std::size(kOptimizers) - 1, 1),
                   {269322, 10000000},
                   {1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
