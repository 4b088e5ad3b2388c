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

// Calls body(i) for every i in [0, count) on the library's threads. Which thread runs which
// piece varies; callers make each piece write only its own output, so results do not. No
// allocation of ours (body is passed by reference, not wrapped in a std::function).
template <class Body>
void for_each_index(std::size_t count, const Body& body) {
  if (count == 0) return;
  if (count == 1) {
    body(std::size_t{0});
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
