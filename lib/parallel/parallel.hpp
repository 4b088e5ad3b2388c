#pragma once
// Internal: running fixed pieces of work on the library's threads.

#include <cstddef>
#include <memory>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

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

// Calls body(i) for every i in [0, count) on the library's threads. Which thread runs which
// piece varies; callers make each piece write only its own output, so results do not. No
// allocation of ours (body is passed by reference, not wrapped in a std::function).
template <class Body>
void for_each_index(std::size_t count, const Body& body) {
  if (count == 0) return;
  if (count == 1 || serial_depth > 0) {
    for (std::size_t i = 0; i < count; ++i) body(i);
    return;
  }
  const std::shared_ptr<tbb::task_arena> arena = current_arena();
  if (arena->max_concurrency() == 1) {  // one thread: no tasks to pay for
    for (std::size_t i = 0; i < count; ++i) body(i);
    return;
  }
  arena->execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, count, 1),
        [&](const tbb::blocked_range<std::size_t>& range) {
          for (std::size_t i = range.begin(); i != range.end(); ++i) body(i);
        },
        tbb::simple_partitioner());
  });
}

}  // namespace descent::parallel
