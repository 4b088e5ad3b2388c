#pragma once
// Internal: running fixed pieces of work on the library's threads.

#include <cstddef>
#include <functional>

namespace descent::parallel {

// Calls body(i) for every i in [0, count), on the library's threads. Which thread runs which
// piece varies; callers make each piece write only its own output, so results do not.
void for_each_index(std::size_t count, const std::function<void(std::size_t)>& body);

}  // namespace descent::parallel
