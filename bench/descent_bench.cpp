// descent_bench: Google Benchmark cases for the kernels and the training step. Public
// headers only. Run `descent_bench --benchmark_filter=...`; DESCENT_ISA pins an ISA.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <descent/descent.hpp>

namespace {

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  descent::Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(-1.0f, 1.0f);
  return v;
}

// C = A * B on n x n squares, row-major, no transposes.
void BM_sgemm_square(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto a = random_vector(n * n, 1), b = random_vector(n * n, 2);
  std::vector<float> c(n * n);
  for (auto _ : state) {
    descent::sgemm(descent::Trans::no, descent::Trans::no, n, n, n, 1.0f, a.data(), n, b.data(), n,
                   0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops =
      2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(descent::to_string(descent::active_isa())));
}
BENCHMARK(BM_sgemm_square)
    ->Arg(64)
    ->Arg(128)
    ->Arg(256)
    ->Arg(512)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// One optimizer step of the 784-256-256-10 ReLU MLP with softmax cross-entropy on
// MNIST-shaped random data: forward, loss, backward, reduction and the SGD update.
void BM_train_step(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const auto threads = static_cast<std::size_t>(state.range(1));
  descent::set_threads(threads);
  descent::Network net = descent::Network::mlp(784, {256, 256}, 10, descent::Activation::relu);
  net.initialize(descent::Init::automatic, 1);
  auto sgd = descent::make_optimizer("sgd:lr=0.01");
  descent::Trainer trainer(net, *sgd, descent::Loss::cross_entropy);
  descent::Matrix x(batch, 784);
  const auto values = random_vector(batch * 784, 3);
  std::copy(values.begin(), values.end(), x.data());
  std::vector<std::uint32_t> labels(batch);
  for (std::size_t i = 0; i < batch; ++i) labels[i] = static_cast<std::uint32_t>(i % 10);
  for (auto _ : state) {
    benchmark::DoNotOptimize(trainer.train_step(x, {labels, {}}));
  }
  // 784*256 + 256*256 + 256*10 multiply-adds per sample, times 2 FLOPs, times 3 products.
  const double flops_per_sample = 6.0 * (784.0 * 256 + 256.0 * 256 + 256.0 * 10);
  state.counters["samples_per_second"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOPS"] =
      benchmark::Counter(flops_per_sample * static_cast<double>(batch) * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate);
  descent::set_threads(0);
}
BENCHMARK(BM_train_step)
    ->ArgNames({"batch", "threads"})
    ->ArgsProduct({{1, 32, 128, 512}, {1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

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
  const auto p0 = random_vector(n, 4), g0 = random_vector(n, 5);
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
