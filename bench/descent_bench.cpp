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
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
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

// Google Benchmark 1.7 takes each flag's default from the environment (BENCHMARK_OUT for
// --benchmark_out, and so on), then lets the last of the flag's arguments override it. The
// checks and the output file below follow the same rules, so that a setting given either
// way is treated alike.
constexpr std::string_view kOutFlag = "--benchmark_out=";
constexpr std::string_view kListFlag = "--benchmark_list_tests";
constexpr std::string_view kRepetitionsFlag = "--benchmark_repetitions=";

std::string_view env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string_view{} : std::string_view(value);
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

// Whether the run only lists the cases (--benchmark_list_tests, or BENCHMARK_LIST_TESTS).
bool lists_only(const std::vector<char*>& args) {
  bool list = std::getenv("BENCHMARK_LIST_TESTS") != nullptr &&
              truthy(env_or_empty("BENCHMARK_LIST_TESTS"));
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == kListFlag) list = true;
    if (arg.starts_with(kListFlag) && arg.size() > kListFlag.size() && arg[kListFlag.size()] == '=')
      list = truthy(arg.substr(kListFlag.size() + 1));
  }
  return list;
}

// "" when `value` (from `where`) is a repetition count the run can use, else the message.
std::string bad_repetitions(std::string_view where, std::string_view value) {
  const std::string text(value);
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || n < 1 || n > 100000)
    return fmt::format("{}: the repetitions must be a whole number from 1 to 100000", where);
  return {};
}

// What a run must not find out half-way (it would leave its --benchmark_out cut off): the
// environment's settings and the numeric flags Google Benchmark 1.7 reads without checking
// (from the command line, or from BENCHMARK_REPETITIONS, whose bad values it would ignore in
// silence). Returns the message, or "" when all is well.
std::string bad_setting(const std::vector<char*>& args) {
  try {
    (void)descent::active_isa();  // DESCENT_ISA
  } catch (const descent::Error& e) {
    return e.what();
  }
  (void)bench::cap_seconds();  // exits with its own message
  if (std::getenv("BENCHMARK_REPETITIONS") != nullptr) {
    const std::string_view value = env_or_empty("BENCHMARK_REPETITIONS");
    if (std::string bad = bad_repetitions(fmt::format("BENCHMARK_REPETITIONS={}", value), value);
        !bad.empty())
      return bad;
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg.starts_with(kRepetitionsFlag)) {
      if (std::string bad = bad_repetitions(arg, arg.substr(kRepetitionsFlag.size())); !bad.empty())
        return bad;
    }
  }
  // Times in seconds: Google Benchmark takes "nan" and "inf" (a case that never ends) and
  // negative times (one iteration).
  for (const auto& [flag, env] :
       {std::pair<std::string_view, const char*>{"--benchmark_min_time=", "BENCHMARK_MIN_TIME"},
        {"--benchmark_min_warmup_time=", "BENCHMARK_MIN_WARMUP_TIME"}}) {
    std::vector<std::pair<std::string, std::string>> settings;  // (setting, value)
    if (std::getenv(env) != nullptr)
      settings.emplace_back(fmt::format("{}={}", env, env_or_empty(env)), env_or_empty(env));
    for (std::size_t i = 1; i < args.size(); ++i) {
      const std::string_view arg = args[i];
      if (arg.starts_with(flag)) settings.emplace_back(arg, arg.substr(flag.size()));
    }
    for (const auto& [setting, value] : settings) {
      char* end = nullptr;
      const double seconds = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(seconds >= 0.0 && seconds <= 86400.0))
        return fmt::format("{}: it must be a number of seconds from 0 to 86400", setting);
    }
  }
  // Flags that take one of a few words: Google Benchmark answers any other with its usage
  // text and exit status 0, which a script would take for a run that went well.
  struct Choice {
    std::string_view flag, env, words;
  };
  constexpr Choice kChoices[] = {
      {"--benchmark_format=", "BENCHMARK_FORMAT", "console json csv"},
      {"--benchmark_out_format=", "BENCHMARK_OUT_FORMAT", "json console csv"},
      {"--benchmark_time_unit=", "BENCHMARK_TIME_UNIT", "ns us ms s"},
  };
  for (const Choice& c : kChoices) {
    const std::string env(c.env);
    std::string setting, value;
    if (std::getenv(env.c_str()) != nullptr) {
      value = env_or_empty(env.c_str());
      setting = fmt::format("{}={}", env, value);
    }
    for (std::size_t i = 1; i < args.size(); ++i) {
      const std::string_view arg = args[i];
      if (arg.starts_with(c.flag)) {
        setting = arg;
        value = arg.substr(c.flag.size());
      }
    }
    if (setting.empty()) continue;
    bool known = false;
    for (std::size_t at = 0; at < c.words.size();) {
      const std::size_t end = std::min(c.words.find(' ', at), c.words.size());
      known = known || c.words.substr(at, end - at) == value;
      at = end + 1;
    }
    if (!known) return fmt::format("{}: it must be one of: {}", setting, c.words);
  }
  return {};
}

// The output file (the last --benchmark_out, or BENCHMARK_OUT) is written to a temporary
// file beside it and renamed onto it once the run has finished: a run that fails, or one
// that only lists the cases (Google Benchmark would empty the file), leaves an earlier file
// as it was.
class AtomicOut {
 public:
  // Points the run's output at the temporary file: the last --benchmark_out argument is
  // replaced, or one is added where the path came from BENCHMARK_OUT. An empty path means no
  // file.
  explicit AtomicOut(std::vector<char*>& args) {
    std::size_t last = 0;
    for (std::size_t i = 1; i < args.size(); ++i)
      if (std::string_view(args[i]).starts_with(kOutFlag)) last = i;
    path_ = last != 0 ? std::string(std::string_view(args[last]).substr(kOutFlag.size()))
                      : std::string(env_or_empty("BENCHMARK_OUT"));
    if (path_.empty()) return;
    listing_ = lists_only(args);
    temporary_ = fmt::format("{}.partial-{}", path_, static_cast<long>(::getpid()));
    arg_ = fmt::format("{}{}", kOutFlag, temporary_);
    if (last != 0) {
      args[last] = arg_.data();
    } else {
      args.push_back(arg_.data());
    }
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
  // Moves the finished output onto PATH ("" when done, or when there is none to move: no
  // file, or a listing, which writes nothing into it).
  std::string commit() {
    if (temporary_.empty() || listing_) return {};
    std::error_code ec;
    std::filesystem::rename(temporary_, path_, ec);
    if (ec) return fmt::format("--benchmark_out={}: {}", path_, ec.message());
    temporary_.clear();
    return {};
  }

 private:
  std::string path_, temporary_, arg_;
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
