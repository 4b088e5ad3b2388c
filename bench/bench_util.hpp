#pragma once
// Helpers shared by the benchmark files: seeded random data and the machine's FMA peak.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <descent/descent.hpp>

namespace bench {

inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  descent::Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(-1.0f, 1.0f);
  return v;
}

// The same values as random_floats(n, seed), in a 64-byte aligned buffer.
inline descent::AlignedBuffer<float> random_aligned(std::size_t n, std::uint64_t seed) {
  const std::vector<float> values = random_floats(n, seed);
  descent::AlignedBuffer<float> buffer(n);
  std::copy(values.begin(), values.end(), buffer.data());
  return buffer;
}

// The thread counts every suite sweeps: DESCENT_BENCH_THREADS, a comma-separated list such as
// "1,2,4,8,16", or 1 and 2 when it is unset. A malformed list (or a count listed twice) ends the
// program with status 2 before any case runs (the cases are registered at start-up, before main).
inline const std::vector<std::size_t>& thread_counts() {
  static const std::vector<std::size_t> counts = [] {
    const char* text = std::getenv("DESCENT_BENCH_THREADS");
    if (text == nullptr || *text == '\0') return std::vector<std::size_t>{1, 2};
    std::vector<std::size_t> parsed;
    const std::string list(text);
    std::size_t begin = 0;
    while (begin <= list.size()) {
      const std::size_t end = std::min(list.find(',', begin), list.size());
      const std::string item = list.substr(begin, end - begin);
      char* stop = nullptr;
      const unsigned long n = item.empty() ? 0 : std::strtoul(item.c_str(), &stop, 10);
      if (item.empty() || *stop != '\0' || n == 0 || n > 1024 || item[0] == '-') {
        std::fprintf(stderr,
                     "descent_bench: error: DESCENT_BENCH_THREADS=\"%s\": \"%s\" is not a "
                     "thread count from 1 to 1024 (expected a list such as 1,2,4,8)\n",
                     text, item.c_str());
        std::exit(2);
      }
      // Twice would run every case twice under one name, which the tools that merge results by
      // name would read as repetitions of one run.
      if (std::find(parsed.begin(), parsed.end(), n) != parsed.end()) {
        std::fprintf(stderr,
                     "descent_bench: error: DESCENT_BENCH_THREADS=\"%s\": %lu is listed twice\n",
                     text, n);
        std::exit(2);
      }
      parsed.push_back(n);
      begin = end + 1;
    }
    return parsed;
  }();
  return counts;
}

// The time cap of a convergence run: DESCENT_BENCH_CAP_SECONDS, or 20 s when it is unset. A
// value that is not a number of seconds from 0.001 to 86400 ends the program with status 2;
// main checks it before any case runs, so that a run never stops half-way for it.
inline double cap_seconds() {
  static const double cap = [] {
    const char* text = std::getenv("DESCENT_BENCH_CAP_SECONDS");
    if (text == nullptr || *text == '\0') return 20.0;
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= 0.001 && v <= 86400.0) || *text == ' ') {
      std::fprintf(stderr,
                   "descent_bench: error: DESCENT_BENCH_CAP_SECONDS=\"%s\" is not a number of "
                   "seconds from 0.001 to 86400\n",
                   text);
      std::exit(2);
    }
    return v;
  }();
  return cap;
}

// FLOPs per second of `threads` threads each running descent's FMA loop (the best of five
// rounds).
inline double measure_peak_flops(std::size_t threads) {
  constexpr std::size_t kIterations = std::size_t{1} << 24;
  double best = 0.0;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    std::vector<double> flops(threads, 0.0);
    for (std::size_t t = 0; t < threads; ++t)
      pool.emplace_back([&flops, t] { flops[t] = descent::fma_loop(kIterations); });
    for (auto& th : pool) th.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double total = 0.0;
    for (double f : flops) total += f;
    best = std::max(best, total / seconds);
  }
  return best;
}

// The peak that peak_fraction counters divide by, measured once per thread count and
// remembered: measure_peak_flops(threads), and for several threads never less than the
// one-thread peak times the cores they can run on. On the development VM the two cores
// sometimes run as one for seconds; a 2-thread peak measured then came out near the
// one-thread peak, and every 2-thread peak_fraction of the run above 1. The floor can only
// lower a fraction.
inline double peak_flops(std::size_t threads) {
  static std::mutex mutex;
  static std::map<std::size_t, double> peaks;
  threads = std::max<std::size_t>(threads, 1);
  std::lock_guard lock(mutex);
  auto remembered = [&](std::size_t n) {
    auto it = peaks.find(n);
    if (it == peaks.end()) it = peaks.emplace(n, measure_peak_flops(n)).first;
    return it->second;
  };
  const double measured = remembered(threads);
  if (threads == 1) return measured;
  const std::size_t cores =
      std::min<std::size_t>(threads, std::max(1u, std::thread::hardware_concurrency()));
  return std::max(measured, static_cast<double>(cores) * remembered(1));
}

}  // namespace bench
