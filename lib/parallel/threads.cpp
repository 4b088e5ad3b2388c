#include <memory>
#include <mutex>

#include <fmt/format.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>

#include "descent/error.hpp"
#include "descent/parallel.hpp"
#include "parallel/parallel.hpp"

namespace descent {
namespace {

struct ThreadState {
  std::mutex mutex;
  std::size_t requested = 0;
  std::size_t effective = 0;
  // oneTBB caps the whole process at the core count by default; a global_control lifts the
  // cap, only when more threads than cores are asked for. The arena keeps descent's own work
  // to exactly the requested count.
  std::unique_ptr<tbb::global_control> control;
  std::shared_ptr<tbb::task_arena> arena;
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
  auto arena = std::make_shared<tbb::task_arena>(static_cast<int>(effective));
  s.control.reset();
  if (effective > hardware_threads()) {
    s.control = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                      effective);
  }
  s.arena = std::move(arena);
  s.requested = n;
  s.effective = effective;
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
  try {
    configure(s, previous_);
  } catch (...) {
    // previous_ was valid when it was set, so only an allocation failure lands here; the
    // current arena stays, which is safe.
  }
}

namespace parallel {

std::shared_ptr<tbb::task_arena> current_arena() {
  ThreadState& s = state();
  std::lock_guard lock(s.mutex);
  if (!s.arena) configure(s, 0);
  return s.arena;
}

}  // namespace parallel
}  // namespace descent
