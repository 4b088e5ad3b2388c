// Aligned allocation for AlignedBuffer, with transparent huge pages for large blocks.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/memory.hpp"
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
// Blocks of at least this many bytes are checked against the memory left, and are refused
// where they would leave less than kKeepFree of it.
constexpr std::size_t kCheckedBytes = std::size_t{16} << 20;
constexpr std::size_t kKeepFree = kKeepFreeMiB << 20;

// What the kernel can still give this process without the OOM killer ending it, in bytes:
// MemAvailable plus SwapFree, and no more than a cgroup v2 limit (memory.max) leaves beyond
// what the group uses other than inactive page cache; SIZE_MAX
// where that cannot be read. Every block is zeroed as it is allocated, so what earlier blocks
// took is no longer counted.
std::size_t available_memory() noexcept {
  // For the tests: a machine with this many bytes left.
  if (const char* forced = std::getenv("DESCENT_TEST_AVAILABLE_MEMORY"))
    return static_cast<std::size_t>(std::strtoull(forced, nullptr, 10));
  std::size_t available = SIZE_MAX;
#if defined(__linux__)
  if (std::FILE* f = std::fopen("/proc/meminfo", "r")) {
    char line[256];
    unsigned long long kib = 0, total = 0;
    int found = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1 ||
          std::sscanf(line, "SwapFree: %llu kB", &kib) == 1) {
        total += kib;
        ++found;
      }
    }
    std::fclose(f);
    if (found == 2) available = static_cast<std::size_t>(total) * 1024;
  }
  // memory.current counts the page cache, which grows towards the limit and which the kernel
  // frees before it kills: its inactive part (memory.stat's inactive_file) is counted as free,
  // as docker's figure of usage does.
  unsigned long long limit = 0, used = 0, cache = 0;
  std::FILE* max = std::fopen("/sys/fs/cgroup/memory.max", "r");
  std::FILE* current = std::fopen("/sys/fs/cgroup/memory.current", "r");
  if (max != nullptr && current != nullptr && std::fscanf(max, "%llu", &limit) == 1 &&
      std::fscanf(current, "%llu", &used) == 1) {
    if (std::FILE* stat = std::fopen("/sys/fs/cgroup/memory.stat", "r")) {
      char line[256];
      while (std::fgets(line, sizeof line, stat) != nullptr)
        if (std::sscanf(line, "inactive_file %llu", &cache) == 1) break;
      std::fclose(stat);
    }
    used = used > cache ? used - cache : 0;
    available = std::min(available, static_cast<std::size_t>(limit > used ? limit - used : 0));
  }
  if (max != nullptr) std::fclose(max);
  if (current != nullptr) std::fclose(current);
#endif
  return available;
}
}  // namespace

bool memory_left_for(std::size_t bytes) noexcept {
  if (bytes < kCheckedBytes) return true;
  const std::size_t available = available_memory();
  return available >= kKeepFree && bytes <= available - kKeepFree;
}

void* allocate_zeroed(std::size_t bytes) noexcept {
  if (bytes == 0) return nullptr;
  // Zeroing a block larger than the memory left would not fail: the OOM killer would end the
  // process part way, with no message (a 10^7-wide layer did). Refused here, it is a
  // std::bad_alloc the caller reports (the CLI: "out of memory", exit 2).
  if (!memory_left_for(bytes)) return nullptr;
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
