#pragma once
// Helpers shared by the benchmark files: seeded random data and the machine's FMA peak.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
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

// FLOPs per second of `threads` threads each running descent's FMA loop (the best of five
// rounds), measured once per thread count and remembered: the peak that peak_fraction
// counters divide by.
inline double peak_flops(std::size_t threads) {
  static std::mutex mutex;
  static std::map<std::size_t, double> peaks;
  threads = std::max<std::size_t>(threads, 1);
  std::lock_guard lock(mutex);
  if (auto it = peaks.find(threads); it != peaks.end()) return it->second;
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
  peaks[threads] = best;
  return best;
}

}  // namespace bench
