#include <memory>
#include <mutex>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/parallel.hpp"
#include "parallel/parallel.hpp"

namespace descent {
namespace {

struct ThreadState {
  std::mutex mutex;
  std::size_t requested = 0;
  std::size_t effective = 0;
  // global_control lifts oneTBB's default cap (the core count) so that a request for more
  // threads than cores is honoured; the arena keeps descent's work to exactly that many.
  std::unique_ptr<tbb::global_control> control;
  std::unique_ptr<tbb::task_arena> arena;
};

ThreadState& state() {
  static ThreadState s;
  return s;
}

void configure(ThreadState& s, std::size_t n) {
  if (n > kMaxThreads) {
    throw Error(fmt::format("{} threads is too many: descent runs on at most {}", n, kMaxThreads));
  }
  const std::size_t effective = n == 0 ? hardware_threads() : n;
  s.arena.reset();
  s.control.reset();
  s.control = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                    effective);
  s.arena = std::make_unique<tbb::task_arena>(static_cast<int>(effective));
  s.requested = n;
  s.effective = effective;
}

tbb::task_arena& arena() {
  ThreadState& s = state();
  std::lock_guard lock(s.mutex);
  if (!s.arena) configure(s, 0);
  return *s.arena;
}

}  // namespace

std::size_t hardware_threads() {
  const int n = tbb::info::default_concurrency();
  return n > 0 ? static_cast<std::size_t>(n) : 1;
}

void set_threads(std::size_t n) {
  ThreadState& s = state();
  std::lock_guard lock(s.mutex);
  configure(s, n);
}

std::size_t threads() {
  ThreadState& s = state();
  std::lock_guard lock(s.mutex);
  return s.arena ? s.effective : hardware_threads();
}

ThreadScope::ThreadScope(std::size_t n) : previous_(0), changed_(n != 0) {
  if (!changed_) return;
  ThreadState& s = state();
  std::lock_guard lock(s.mutex);
  previous_ = s.requested;
  configure(s, n);
}

ThreadScope::~ThreadScope() {
  if (!changed_) return;
  ThreadState& s = state();
  std::lock_guard lock(s.mutex);
  configure(s, previous_);
}

namespace parallel {

void for_each_index(std::size_t count, const std::function<void(std::size_t)>& body) {
  if (count == 0) return;
  if (count == 1) {
    body(0);
    return;
  }
  arena().execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, count, 1),
        [&](const tbb::blocked_range<std::size_t>& range) {
          for (std::size_t i = range.begin(); i != range.end(); ++i) body(i);
        },
        tbb::simple_partitioner());
  });
}

}  // namespace parallel
}  // namespace descent
