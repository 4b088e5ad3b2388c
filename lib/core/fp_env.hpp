#pragma once
// Internal: subnormal floats flushed to zero for the lifetime of a scope, on the calling
// thread (x86-64: MXCSR's flush-to-zero and denormals-are-zero bits). The library's parallel
// work runs with the caller's floating-point settings (parallel::for_each_index captures
// them), so a scope around a step covers every thread that works on it.

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define DESCENT_HAS_MXCSR 1
#else
#define DESCENT_HAS_MXCSR 0
#endif

namespace descent::detail {

// Whether this build can flush subnormals (TrainOptions::flush_denormals).
inline constexpr bool kCanFlushDenormals = DESCENT_HAS_MXCSR == 1;

class FlushDenormals {
 public:
  explicit FlushDenormals(bool on) noexcept {
#if DESCENT_HAS_MXCSR
    if (on) {
      saved_ = _mm_getcsr();
      _mm_setcsr(saved_ | kFlushBits);
      active_ = true;
    }
#else
    (void)on;
#endif
  }
  ~FlushDenormals() {
#if DESCENT_HAS_MXCSR
    if (active_) _mm_setcsr(saved_);
#endif
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  static constexpr unsigned kFlushBits = 0x8040u;  // FTZ (bit 15) | DAZ (bit 6)
  unsigned saved_ = 0;
  bool active_ = false;
};

}  // namespace descent::detail
