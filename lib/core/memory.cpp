// Aligned allocation for AlignedBuffer, with transparent huge pages for large blocks.

#include <cstdlib>
#include <cstring>

#include "descent/matrix.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace descent::detail {

namespace {
// Blocks of at least this many bytes are aligned to a huge page and advised as such: data
// sets, whose rows a shuffled epoch reads from all over (each row a TLB miss with 4 KiB
// pages). Not the smaller blocks a GEMM works on: physically contiguous 2 MiB pages make rows
// a power-of-two stride apart (a 2048 x 2048 matrix's, 8 KiB) fall into the same few L2 sets,
// which cost the square-2048 product 5-10%.
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kHugeThreshold = std::size_t{64} << 20;
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
