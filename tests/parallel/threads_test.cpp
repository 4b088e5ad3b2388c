#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/fp_env.hpp"
#include "descent/error.hpp"
#include "descent/parallel.hpp"
#include "parallel/parallel.hpp"

namespace descent {
namespace {

// The distinct threads that ran 64 short pieces of work.
std::size_t threads_used() {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  parallel::for_each_index(64, [&](std::size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  return ids.size();
}

TEST(Threads, SetThreadsIsHonouredAndNeverExceeded) {
  set_threads(1);
  EXPECT_EQ(threads(), 1u);
  EXPECT_EQ(threads_used(), 1u);
  // More threads than this machine may have cores: still honoured, still a ceiling.
  set_threads(3);
  EXPECT_EQ(threads(), 3u);
  EXPECT_LE(threads_used(), 3u);
  set_threads(0);
  EXPECT_EQ(threads(), hardware_threads());
}

// The most pieces that ran at once when each of `count` pieces waits (up to 20 s) until
// `count` are running: a piece holds its thread while it waits, so this is the number of
// threads that really work at once.
std::size_t most_at_once(std::size_t count) {
  std::atomic<std::size_t> running{0};
  std::atomic<std::size_t> most{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  parallel::for_each_index(count, [&](std::size_t) {
    const std::size_t now = running.fetch_add(1) + 1;
    std::size_t seen = most.load();
    while (seen < now && !most.compare_exchange_weak(seen, now)) {
    }
    while (most.load() < count && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    running.fetch_sub(1);
  });
  return most.load();
}

// oneTBB holds a process to its core count unless told otherwise: a request for more
// threads than cores must still get them all working at once (on a 2-core machine, this
// fails if the limit is not lifted).
TEST(Threads, MoreThreadsThanCoresAllRunAtOnce) {
  for (const std::size_t n : {3u, 4u, 8u}) {
    set_threads(n);
    EXPECT_EQ(most_at_once(n), n) << n << " threads requested";
  }
  set_threads(0);
}

TEST(Threads, ScopeRestoresThePreviousSetting) {
  set_threads(2);
  {
    const ThreadScope scope(4);
    EXPECT_EQ(threads(), 4u);
  }
  EXPECT_EQ(threads(), 2u);
  {
    const ThreadScope keep(0);
    EXPECT_EQ(threads(), 2u);
  }
  set_threads(0);
}

TEST(Threads, EveryIndexRunsExactlyOnce) {
  set_threads(4);
  std::vector<int> hits(1000, 0);
  parallel::for_each_index(hits.size(), [&](std::size_t i) { ++hits[i]; });
  for (int h : hits) EXPECT_EQ(h, 1);
  set_threads(0);
}

TEST(Threads, RefusesAbsurdCounts) {
  EXPECT_THROW(set_threads(kMaxThreads + 1), Error);
  EXPECT_NO_THROW(set_threads(0));
}

#if defined(__x86_64__) || defined(_M_X64)
// Every piece runs with the caller's floating-point settings, whichever thread runs it: the
// arena (and its workers) exist before the caller turns flush-to-zero on.
TEST(Threads, PiecesRunWithTheCallersFloatingPointSettings) {
  set_threads(4);
  ASSERT_GT(threads_used(), 1u);
  std::vector<float> out(256, -1.0f);
  std::mutex mutex;
  std::set<std::thread::id> ids;
  auto run = [&] {
    ids.clear();
    parallel::for_each_index(out.size(), [&](std::size_t i) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      {
        std::lock_guard lock(mutex);
        ids.insert(std::this_thread::get_id());
      }
      volatile float a = 1e-30f, b = 1e-10f;
      out[i] = a * b;  // 1e-40: subnormal, or 0 when flushed
    });
  };
  {
    const detail::FlushDenormals flush(true);
    run();
  }
  EXPECT_GT(ids.size(), 1u);
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], 0.0f) << "piece " << i;
  run();  // the scope is gone: subnormals again, on every thread
  EXPECT_GT(ids.size(), 1u);
  for (std::size_t i = 0; i < out.size(); ++i)
    EXPECT_EQ(std::fpclassify(out[i]), FP_SUBNORMAL) << "piece " << i;
  set_threads(0);
}
#endif

}  // namespace
}  // namespace descent
