// Aligned allocation for AlignedBuffer, with transparent huge pages for large blocks.

#include <cstdlib>
#include <cstring>

#include "descent/matrix.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace descent::detail {

namespace {
// Blocks of at least this many bytes are aligned to a huge page and advised as such.
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kHugeThreshold = 2 * kHugePage;
}  // namespace

void* allocate_zeroed(std::size_t bytes) noexcept {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes >= kHugeThreshold) {
    const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    p = std::aligned_alloc(kHugePage, rounded);
    // Advice before the first touch, so that the zeroing faults in huge pages; refused
    // advice (THP off) changes nothing but speed.
    if (p != nullptr) (void)madvise(p, rounded, MADV_HUGEPAGE);
  }
#endif
  if (p == nullptr) p = std::aligned_alloc(kAlignment, bytes);
  if (p != nullptr) std::memset(p, 0, bytes);
  return p;
}

}  // namespace descent::detail
