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

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
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

// Google Benchmark 1.7 takes each flag's default from its environment variable
// (--benchmark_out's from BENCHMARK_OUT, and so on), and the last of the flag's arguments
// overrides it. The checks and the output file below read a setting the same way, so that it
// is treated alike whichever way it was given.
struct Setting {
  std::string where;  // as given ("--benchmark_out=x.json", "BENCHMARK_OUT=x.json"), for messages
  std::string value;
  std::size_t arg = 0;  // its index in the arguments; 0 when it is the environment's
};

// The setting of --NAME the run will use, if it is given either way. A boolean flag may be
// given bare (--benchmark_list_tests), meaning "true"; other flags given bare are unknown
// arguments to Google Benchmark.
std::optional<Setting> setting(const std::vector<char*>& args, std::string_view name,
                               bool boolean = false) {
  std::optional<Setting> found;
  std::string variable(name);
  for (char& c : variable) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (const char* value = std::getenv(variable.c_str()))
    found = Setting{fmt::format("{}={}", variable, value), value, 0};
  const std::string flag = fmt::format("--{}", name);
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (boolean && arg == flag) found = Setting{flag, "true", i};
    if (arg.starts_with(flag) && arg.size() > flag.size() && arg[flag.size()] == '=')
      found = Setting{std::string(arg), std::string(arg.substr(flag.size() + 1)), i};
  }
  return found;
}

// A boolean flag's value as Google Benchmark 1.7 reads it (IsTruthyFlagValue).
bool truthy(std::string_view value) {
  if (value.empty()) return true;
  if (value.size() == 1) {
    const char c = value[0];
    return std::isalnum(static_cast<unsigned char>(c)) != 0 && c != '0' && c != 'f' && c != 'F' &&
           c != 'n' && c != 'N';
  }
  std::string lower(value);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower != "false" && lower != "no" && lower != "off";
}

// What a run must not find out half-way (it would leave its output file cut off): the
// environment's settings, and the flags Google Benchmark 1.7 takes without checking, or
// answers with its usage and exit status 0 as if the run had gone well. Returns the message,
// or "" when all is well.
std::string bad_setting(const std::vector<char*>& args) {
  try {
    (void)descent::active_isa();  // DESCENT_ISA
  } catch (const descent::Error& e) {
    return e.what();
  }
  (void)bench::cap_seconds();  // exits with its own message
  // A repetition count Google Benchmark would ignore (from the environment, malformed) or
  // crash on (below 1).
  if (const auto s = setting(args, "benchmark_repetitions")) {
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(s->value.c_str(), &end, 10);
    if (s->value.empty() || *end != '\0' || errno != 0 || n < 1 || n > 100000)
      return fmt::format("{}: the repetitions must be a whole number from 1 to 100000", s->where);
  }
  // Times: "nan" and "inf" would run a case forever.
  for (const std::string_view name : {"benchmark_min_time", "benchmark_min_warmup_time"}) {
    if (const auto s = setting(args, name)) {
      char* end = nullptr;
      const double seconds = std::strtod(s->value.c_str(), &end);
      if (s->value.empty() || *end != '\0' || !(seconds >= 0.0 && seconds <= 86400.0))
        return fmt::format("{}: it must be a number of seconds from 0 to 86400", s->where);
    }
  }
  // Flags that take one of a few words (an empty time unit is the default).
  struct Choice {
    std::string_view name;
    std::array<std::string_view, 4> words;  // "" past the last
    bool may_be_empty;
  };
  constexpr Choice kChoices[] = {
      {"benchmark_format", {"console", "json", "csv"}, false},
      {"benchmark_out_format", {"json", "console", "csv"}, false},
      {"benchmark_time_unit", {"ns", "us", "ms", "s"}, true},
  };
  for (const Choice& c : kChoices) {
    const auto s = setting(args, c.name);
    if (!s ||
        (s->value.empty() ? c.may_be_empty : std::ranges::find(c.words, s->value) != c.words.end()))
      continue;
    std::string words;
    for (const std::string_view w : c.words)
      if (!w.empty()) words += fmt::format("{}{}", words.empty() ? "" : ", ", w);
    return fmt::format("{}: it must be one of {}", s->where, words);
  }
  if (const auto s = setting(args, "benchmark_color"); s && s->value.empty())
    return fmt::format("{}: it must be auto, or whether to colour the output", s->where);
  return {};
}

// The output file (--benchmark_out, or BENCHMARK_OUT) is written to a temporary file beside
// it and renamed onto it once the run has finished: a run that fails, or one that only lists
// the cases (Google Benchmark would empty the file), leaves an earlier file as it was.
class AtomicOut {
 public:
  // Points the run's output at the temporary file: the --benchmark_out argument in use is
  // replaced, or one is added where the path came from BENCHMARK_OUT. An empty path means no
  // file.
  explicit AtomicOut(std::vector<char*>& args) {
    const auto out = setting(args, "benchmark_out");
    if (!out || out->value.empty()) return;
    path_ = out->value;
    where_ = out->where;
    const auto list = setting(args, "benchmark_list_tests", true);
    listing_ = list && truthy(list->value);
    temporary_ = fmt::format("{}.partial-{}", path_, static_cast<long>(::getpid()));
    arg_ = fmt::format("--benchmark_out={}", temporary_);
    if (out->arg != 0) {
      args[out->arg] = arg_.data();
    } else {
      args.push_back(arg_.data());
    }
  }
  AtomicOut(const AtomicOut&) = delete;
  AtomicOut& operator=(const AtomicOut&) = delete;
  ~AtomicOut() {
    if (!temporary_.empty()) std::remove(temporary_.c_str());
  }
  // Whether the temporary file can be made where the output is to go ("" when so).
  std::string check() const {
    if (path_.empty()) return {};
    if (path_.back() == '/' || std::filesystem::is_directory(path_))
      return fmt::format("{}: is a directory", where_);
    std::FILE* f = std::fopen(temporary_.c_str(), "w");
    if (f == nullptr)
      return fmt::format("{}: cannot write there ({})", where_, std::strerror(errno));
    std::fclose(f);
    return {};
  }
  // Moves the finished output onto its path ("" when done, or when there is none to move: no
  // file, or a listing, which writes nothing into it).
  std::string commit() {
    if (temporary_.empty() || listing_) return {};
    std::error_code ec;
    std::filesystem::rename(temporary_, path_, ec);
    if (ec) return fmt::format("{}: {}", where_, ec.message());
    temporary_.clear();
    return {};
  }

 private:
  std::string path_, where_, temporary_, arg_;
  bool listing_ = false;
};

}  // namespace

// Google Benchmark's main, with the checks above, and exit status 2 for bad arguments or a
// filter that matches no case.
int main(int argc, char** argv) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "descent_bench: error: %s\n", message.c_str());
    return 2;
  };
  std::vector<char*> args(argv, argv + argc);
  if (const std::string bad = bad_setting(args); !bad.empty()) return fail(bad);
  AtomicOut out(args);
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);  // argv's terminator
  ::benchmark::Initialize(&count, args.data());
  if (::benchmark::ReportUnrecognizedArguments(count, args.data())) return 2;
  if (const std::string bad = out.check(); !bad.empty()) return fail(bad);
  const std::size_t ran = ::benchmark::RunSpecifiedBenchmarks();
  ::benchmark::Shutdown();
  // A filter that matched nothing (Google Benchmark has said so) is an error for a gate, and
  // leaves an earlier output as it was.
  if (ran == 0) return 2;
  if (const std::string bad = out.commit(); !bad.empty()) return fail(bad);
  return 0;
}
