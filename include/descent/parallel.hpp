#pragma once
// Thread control for the whole library (a oneTBB arena). Results never depend on it:
// work is cut by rules that do not look at the thread count.

#include <cstddef>

namespace descent {

// The largest thread count descent accepts.
inline constexpr std::size_t kMaxThreads = 1024;

// Run descent's parallel work on n threads; 0 means every hardware thread (the default).
// A request above the core count is honoured (then, and only then, descent raises oneTBB's
// process-wide thread cap with a tbb::global_control); one above kMaxThreads throws
// descent::Error. Work already running keeps the threads it started with.
void set_threads(std::size_t n);
// The number of threads descent's parallel work runs on.
std::size_t threads();
// The number of hardware threads.
std::size_t hardware_threads();

// Sets the thread count for the lifetime of the scope and restores the previous one after;
// n == 0 keeps the current setting. The setting is process-wide: two scopes alive at once in
// different threads leave the later one's count in force for both.
class ThreadScope {
 public:
  explicit ThreadScope(std::size_t n);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  std::size_t previous_;
  bool changed_;
};

}  // namespace descent
