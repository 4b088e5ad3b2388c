// descent_bench: Google Benchmark cases, public headers only, in four suites that a filter
// picks (`descent_bench --benchmark_filter='^optim/'`); DESCENT_ISA pins an ISA.
//
//   kernels/      the FMA peak, GEMM beside OpenBLAS and oneDNN, a dense layer (gemm_bench.cpp)
//   optim/        one optimizer step over a flat buffer (here)
//   train_step/   one training step of the 784-256-256-10 MLP (train_bench.cpp)
//   convergence/  time to a target accuracy, sweeping batch, threads and rate
//                 (convergence_bench.cpp)

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
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

// What a run must not find out half-way (it would leave its --benchmark_out cut off): the
// environment's settings and the numeric flags Google Benchmark 1.7 reads without checking.
// Returns the message, or "" when all is well.
std::string bad_setting(int argc, char** argv) {
  try {
    (void)descent::active_isa();  // DESCENT_ISA
  } catch (const descent::Error& e) {
    return e.what();
  }
  (void)bench::cap_seconds();  // exits with its own message
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    constexpr std::string_view kRepetitions = "--benchmark_repetitions=";
    if (arg.starts_with(kRepetitions)) {
      const std::string value(arg.substr(kRepetitions.size()));
      char* end = nullptr;
      const long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 1 || n > 100000)
        return fmt::format("{}: the repetitions must be a whole number from 1 to 100000", arg);
    }
  }
  return {};
}

// --benchmark_out=PATH is written to a temporary file beside PATH and renamed onto it once
// the run has finished: a run that fails leaves an earlier PATH as it was.
class AtomicOut {
 public:
  // Google Benchmark reads the last --benchmark_out; an empty one means no file, and a
  // listing (--benchmark_list_tests) writes none.
  AtomicOut(int argc, char** argv) {
    constexpr std::string_view kOut = "--benchmark_out=", kList = "--benchmark_list_tests";
    int last = 0;
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg.starts_with(kOut)) last = i;
      if (arg == kList || (arg.starts_with(kList) && arg.substr(kList.size()) != "=false" &&
                           arg.substr(kList.size()) != "=0"))
        return;
    }
    if (last == 0 || std::string_view(argv[last]).size() == kOut.size()) return;
    path_ = std::string(std::string_view(argv[last]).substr(kOut.size()));
    temporary_ = fmt::format("{}.partial-{}", path_, static_cast<long>(::getpid()));
    arg_ = fmt::format("{}{}", kOut, temporary_);
    argv[last] = arg_.data();
  }
  AtomicOut(const AtomicOut&) = delete;
  AtomicOut& operator=(const AtomicOut&) = delete;
  ~AtomicOut() {
    if (!temporary_.empty()) std::remove(temporary_.c_str());
  }
  // Whether the temporary file can be made where PATH is to go ("" when so).
  std::string check() const {
    if (path_.empty()) return {};
    if (path_.back() == '/' || std::filesystem::is_directory(path_))
      return fmt::format("--benchmark_out={}: is a directory", path_);
    std::FILE* f = std::fopen(temporary_.c_str(), "w");
    if (f == nullptr)
      return fmt::format("--benchmark_out={}: cannot write there ({})", path_,
                         std::strerror(errno));
    std::fclose(f);
    return {};
  }
  // Moves the finished output onto PATH ("" when done, or when there is none).
  std::string commit() {
    if (temporary_.empty()) return {};
    std::error_code ec;
    std::filesystem::rename(temporary_, path_, ec);
    if (ec) return fmt::format("--benchmark_out={}: {}", path_, ec.message());
    temporary_.clear();
    return {};
  }

 private:
  std::string path_, temporary_, arg_;
};

}  // namespace

// Google Benchmark's main, with the checks above, and exit status 2 for bad arguments or a
// filter that matches no case.
int main(int argc, char** argv) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "descent_bench: error: %s\n", message.c_str());
    return 2;
  };
  if (const std::string bad = bad_setting(argc, argv); !bad.empty()) return fail(bad);
  AtomicOut out(argc, argv);
  ::benchmark::Initialize(&argc, argv);
  if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  if (const std::string bad = out.check(); !bad.empty()) return fail(bad);
  const std::size_t ran = ::benchmark::RunSpecifiedBenchmarks();
  ::benchmark::Shutdown();
  // A filter that matched nothing (Google Benchmark has said so) is an error for a gate, and
  // leaves an earlier output as it was.
  if (ran == 0) return 2;
  if (const std::string bad = out.commit(); !bad.empty()) return fail(bad);
  return 0;
}
