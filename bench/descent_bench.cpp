// descent_bench: Google Benchmark cases, public headers only, in four suites that a filter
// picks (`descent_bench --benchmark_filter='^optim/'`); DESCENT_ISA pins an ISA.
//
//   kernels/      the FMA peak, GEMM beside OpenBLAS and oneDNN, a dense layer (gemm_bench.cpp)
//   optim/        one optimizer step over a flat buffer (here)
//   train_step/   one training step of the 784-256-256-10 MLP (train_bench.cpp)
//   convergence/  time to a target accuracy, sweeping batch, threads and rate
//                 (convergence_bench.cpp)

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

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

void run_optimizer_step(benchmark::State& state, const OptimizerCase& c, std::size_t n,
                        std::size_t threads) {
  descent::set_threads(threads);
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
  state.counters["GBps"] =
      benchmark::Counter(c.floats_per_parameter * sizeof(float) * static_cast<double>(n) * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate);
  descent::set_threads(0);
}

// optim/step/OPT/params:N/threads:T. 269,322 parameters: the 784-256-256-10 MLP; 10M: a
// buffer far larger than the caches. bench/peers/torch_optim.py writes the same names.
const bool registered = [] {
  for (const OptimizerCase& c : kOptimizers) {
    for (std::size_t n : {269322, 10000000}) {
      for (std::size_t threads : bench::thread_counts()) {
        const std::string name =
            fmt::format("optim/step/{}/params:{}/threads:{}", c.spec, n, threads);
        benchmark::RegisterBenchmark(
            name.c_str(),
            [&c, n, threads](benchmark::State& state) { run_optimizer_step(state, c, n, threads); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
