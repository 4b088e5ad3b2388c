#pragma once
// Internal: whether a block of memory can still be had without the OOM killer ending the
// process (see memory.cpp).

#include <cstddef>

namespace descent::detail {

// What a large block must leave of the memory the kernel can still give, for messages.
constexpr std::size_t kKeepFreeMiB = 128;

// Whether `bytes` more would leave at least 128 MiB of what the kernel can still give this
// process (MemAvailable + SwapFree, and a cgroup v2 limit). Always true below 16 MiB, where
// reading /proc is not worth it, and where the figures cannot be read.
bool memory_left_for(std::size_t bytes) noexcept;

}  // namespace descent::detail
