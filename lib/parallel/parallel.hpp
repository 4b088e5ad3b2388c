#pragma once
// Internal: running fixed pieces of work on the library's threads.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <memory>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

namespace descent::parallel {

// The arena descent's work runs in (descent::threads() threads). Held by shared_ptr so that
// a set_threads() elsewhere never destroys an arena still in use.
std::shared_ptr<tbb::task_arena> current_arena();

// While a SerialScope is alive on a thread, for_each_index calls from that thread run every
// piece inline, in order: for work too small to pay for waking threads and moving its data
// between cores. Results are the same either way (the pieces are fixed).
inline thread_local std::size_t serial_depth = 0;
class SerialScope {
 public:
  explicit SerialScope(bool active) noexcept : active_(active) {
    if (active_) ++serial_depth;
  }
  ~SerialScope() {
    if (active_) --serial_depth;
  }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  bool active_;
};

// The most groups for_each_index keeps an owner for (more threads share them).
inline constexpr std::size_t kMaxOwners = 64;

// Calls body(i) for every i in [0, count) on the library's threads. Which thread runs which
// piece varies; callers make each piece write only its own output, so results do not. No
// allocation of ours (body is passed by reference, not wrapped in a std::function).
//
// The pieces are cut into one contiguous group per thread, and each thread starts on the
// group of its arena slot and then helps with the others: when every thread is running,
// piece i goes to the same thread in every call of the same count. The shards of a step, the
// reduction of their gradients and the optimizer's update of the same parameters then stay on
// one core from step to step, instead of moving between cores' caches.
//
// Every piece runs with the caller's floating-point settings (rounding, flush-to-zero),
// captured at the call. Otherwise oneTBB runs an arena's tasks, the caller's own inside
// execute() included, with the settings captured when the arena was created, and a caller
// that changed them since would get other bits than a serial run.
template <class Body>
void for_each_index(std::size_t count, const Body& body) {
  if (count == 0) return;
  if (count == 1 || serial_depth > 0) {
    for (std::size_t i = 0; i < count; ++i) body(i);
    return;
  }
  const std::shared_ptr<tbb::task_arena> arena = current_arena();
  const auto concurrency = static_cast<std::size_t>(arena->max_concurrency());
  if (concurrency <= 1) {  // one thread: no tasks to pay for
    for (std::size_t i = 0; i < count; ++i) body(i);
    return;
  }
  const std::size_t groups = std::min({count, concurrency, kMaxOwners});
  struct alignas(64) Next {
    std::atomic<std::size_t> value{0};
  };
  std::array<Next, kMaxOwners> next;
  tbb::task_group_context context(tbb::task_group_context::isolated,
                                  tbb::task_group_context::fp_settings);
  arena->execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, groups, 1),
        [&](const tbb::blocked_range<std::size_t>& range) {
          for (std::size_t task = range.begin(); task != range.end(); ++task) {
            const int slot = tbb::this_task_arena::current_thread_index();
            const std::size_t own = slot >= 0 ? static_cast<std::size_t>(slot) % groups : task;
            for (std::size_t k = 0; k < groups; ++k) {
              const std::size_t g = (own + k) % groups;
              const std::size_t first = g * count / groups, last = (g + 1) * count / groups;
              for (;;) {
                const std::size_t i = first + next[g].value.fetch_add(1, std::memory_order_relaxed);
                if (i >= last) break;
                body(i);
              }
            }
          }
        },
        tbb::simple_partitioner(), context);
  });
}

}  // namespace descent::parallel
