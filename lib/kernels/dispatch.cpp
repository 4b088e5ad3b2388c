// Run-time ISA selection and the public kernel entry points. Compiled without ISA flags:
// nothing here may execute an instruction the CPU lacks.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#if DESCENT_X86_KERNELS
#include <xsimd/config/xsimd_cpuid.hpp>
#endif

#include "core/view_check.hpp"
#include "descent/error.hpp"
#include "kernels/gemm.hpp"
#include "kernels/kernel_table.hpp"

namespace descent {
namespace kernels {
namespace {

#if DESCENT_X86_KERNELS
// The OS must save the wide registers on a context switch (XCR0), or the instructions fault
// even where CPUID advertises them.
std::uint64_t xcr0() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
  const bool osxsave = (ecx >> 27) & 1u;
  if (!osxsave) return 0;
  unsigned lo = 0, hi = 0;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}
#endif

Isa detect_best_isa() {
#if DESCENT_X86_KERNELS
  const auto cpu = xsimd::available_architectures();
  const std::uint64_t xcr = xcr0();
  const bool os_avx = (xcr & 0x6) == 0x6;       // XMM and YMM state
  const bool os_avx512 = (xcr & 0xe6) == 0xe6;  // and opmask, ZMM_Hi256, Hi16_ZMM
  // The AVX-512 unit is compiled with -mavx2 -mfma too, so it needs both as well.
  if (cpu.avx512f && cpu.fma3_avx2 && os_avx512) return Isa::avx512;
  if (cpu.fma3_avx2 && os_avx) return Isa::avx2;
  // SSE2 is part of x86-64 itself. (xsimd 8.1 reads its flag from the wrong CPUID register,
  // ECX bit 26 -- XSAVE -- so its cpu.sse2 is false on CPUs without XSAVE.)
  return Isa::sse2;
#endif
  return Isa::scalar;
}

const KernelTable* compiled_table(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return &reference_table();
#if DESCENT_X86_KERNELS
    case Isa::sse2:
      return &sse2_kernels;
    case Isa::avx2:
      return &avx2_kernels;
    case Isa::avx512:
      return &avx512_kernels;
#else
    default:
      return nullptr;
#endif
  }
  return nullptr;
}

std::atomic<const KernelTable*> g_active{nullptr};

const KernelTable& initial_table() {
  // Throws (and is retried on the next call) when DESCENT_ISA is invalid.
  static const KernelTable* const table =
      table_for(resolve_isa_request(std::getenv("DESCENT_ISA"), best_isa()));
  return *table;
}

}  // namespace

const KernelTable* table_for(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(best_isa())) return nullptr;
  return compiled_table(isa);
}

const KernelTable& active() {
  const KernelTable* table = g_active.load(std::memory_order_acquire);
  if (table != nullptr) return *table;
  const KernelTable* expected = nullptr;
  g_active.compare_exchange_strong(expected, &initial_table(), std::memory_order_acq_rel);
  return *g_active.load(std::memory_order_acquire);
}

Isa resolve_isa_request(const char* requested, Isa best) {
  if (requested == nullptr || *requested == '\0') return best;
  std::string name(requested);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  Isa isa{};
  try {
    isa = parse_isa(name);
  } catch (const Error&) {
    throw Error(fmt::format("DESCENT_ISA=\"{}\" is not an ISA: use avx512, avx2, sse2 or scalar",
                            requested));
  }
  if (static_cast<int>(isa) > static_cast<int>(best)) {
    throw Error(
        fmt::format("DESCENT_ISA={} asks for an ISA this CPU cannot run (the best here is {})",
                    name, to_string(best)));
  }
  return isa;
}

}  // namespace kernels

std::string_view to_string(Isa isa) noexcept {
  switch (isa) {
    case Isa::scalar:
      return "scalar";
    case Isa::sse2:
      return "sse2";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
  }
  return "unknown";
}

Isa parse_isa(std::string_view name) {
  for (Isa isa : {Isa::scalar, Isa::sse2, Isa::avx2, Isa::avx512})
    if (name == to_string(isa)) return isa;
  throw Error(fmt::format("unknown ISA \"{}\": use avx512, avx2, sse2 or scalar", name));
}

Isa best_isa() {
  static const Isa best = [] {
    Isa isa = kernels::detect_best_isa();
    while (kernels::compiled_table(isa) == nullptr)
      isa = static_cast<Isa>(static_cast<int>(isa) - 1);
    return isa;
  }();
  return best;
}

bool isa_supported(Isa isa) {
  return kernels::table_for(isa) != nullptr;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::scalar, Isa::sse2, Isa::avx2, Isa::avx512})
    if (isa_supported(isa)) isas.push_back(isa);
  return isas;
}

Isa active_isa() {
  return kernels::active().isa;
}

void set_isa(Isa isa) {
  const kernels::KernelTable* table = kernels::table_for(isa);
  if (table == nullptr) {
    throw Error(fmt::format("ISA {} cannot run here (the best here is {})", to_string(isa),
                            to_string(best_isa())));
  }
  kernels::g_active.store(table, std::memory_order_release);
}

namespace {

void check_operand(const char* name, Trans trans, std::size_t rows, std::size_t cols,
                   std::size_t ld, const float* data) {
  if (trans != Trans::no && trans != Trans::yes) {
    throw Error(fmt::format("sgemm: trans_{} = {} is neither Trans::no nor Trans::yes", name,
                            static_cast<int>(trans)));
  }
  // op(X) is rows x cols; X itself is stored cols x rows when transposed.
  const std::size_t stored_cols = trans == Trans::no ? cols : rows;
  const std::size_t stored_rows = trans == Trans::no ? rows : cols;
  if (ld == 0) throw Error(fmt::format("sgemm: ld{} = 0: a leading dimension is at least 1", name));
  if (ld < stored_cols) {
    throw Error(fmt::format("sgemm: ld{} = {} is smaller than the {} columns of {}", name, ld,
                            stored_cols, name));
  }
  if (stored_rows == 0 || stored_cols == 0) return;
  if (data == nullptr) throw Error(fmt::format("sgemm: {} is null", name));
  // Its last element, (stored_rows - 1) * ld + stored_cols - 1, must be addressable: a shape
  // past that is a wrong argument, not a matrix (and its offsets would wrap around).
  constexpr std::size_t kMaxFloats = static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(float);
  if (ld > kMaxFloats || stored_rows - 1 > (kMaxFloats - stored_cols) / ld) {
    throw Error(
        fmt::format("sgemm: {} is {} x {} with ld{} = {}: more floats than an address "
                    "space holds",
                    name, stored_rows, stored_cols, name, ld));
  }
}

}  // namespace

void sgemm(Trans trans_a, Trans trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
           const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
           std::size_t ldc) {
  check_operand("a", trans_a, m, k, lda, a);
  check_operand("b", trans_b, k, n, ldb, b);
  check_operand("c", Trans::no, m, n, ldc, c);
  kernels::gemm(kernels::active(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                {}, true);
}

namespace {

// A vector argument of n > 0 floats is there: a null one would be read by the kernel.
void check_vector(const char* call, const char* name, std::size_t n, const void* data) {
  if (n > 0 && data == nullptr) throw Error(fmt::format("{}: {} is null (n = {})", call, name, n));
}

}  // namespace

void axpy(std::size_t n, float alpha, const float* x, float* y) {
  check_vector("axpy", "x", n, x);
  check_vector("axpy", "y", n, y);
  kernels::active().axpy(n, alpha, x, y);
}

void scale(std::size_t n, float alpha, float* x) {
  check_vector("scale", "x", n, x);
  kernels::active().scale(n, alpha, x);
}

double dot(std::size_t n, const float* x, const float* y) {
  check_vector("dot", "x", n, x);
  check_vector("dot", "y", n, y);
  return kernels::active().dot(n, x, y);
}

double sum_squares(std::size_t n, const float* x) {
  check_vector("sum_squares", "x", n, x);
  return kernels::active().sum_squares(n, x);
}

double fma_loop(std::size_t iterations) {
  return kernels::active().fma_loop(iterations);
}

namespace {

// A matrix argument of the raw row-major kernels, as sgemm checks its operands: rows apart by
// at least its width, and there (not null) when it has elements. `optional`: null means "not
// wanted" (a gradient).
void check_matrix(const char* call, const char* name, const char* ld_name, std::size_t rows,
                  std::size_t cols, const void* data, std::size_t ld, bool optional = false) {
  if (rows == 0 || cols == 0 || (optional && data == nullptr)) return;
  if (data == nullptr) throw Error(fmt::format("{}: {} is null", call, name));
  if (rows > 1 && ld < cols) {
    throw Error(fmt::format("{}: {} = {} is smaller than the {} columns of {}", call, ld_name, ld,
                            cols, name));
  }
}

// A gradient that shares memory with an input would be written before the kernel has read
// the input: refused, as the header's "must not overlap" says.
// (`in` is rows x in_cols, rows ld apart: the labels are one column.)
void check_apart(const char* call, const char* input, const void* in, std::size_t in_cols,
                 std::size_t ld, const float* grad, std::size_t ldg, std::size_t rows,
                 std::size_t cols) {
  static_assert(sizeof(std::uint32_t) == sizeof(float));
  if (detail::spans_overlap(grad, rows, cols, ldg, in, rows, in_cols, ld, sizeof(float)))
    throw Error(fmt::format("{}: grad shares memory with {}", call, input));
}

}  // namespace

void column_sums(std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, float beta,
                 float* out) {
  check_matrix("column_sums", "x", "ldx", rows, cols, x, ldx);
  check_matrix("column_sums", "out", "ld", 1, cols, out, cols);
  kernels::active().column_sums(rows, cols, x, ldx, beta, out);
}

namespace {

// An Activation cast from a number that names none would run no case of the kernels' switch.
void check_activation(const char* call, Activation activation) {
  if (to_string(activation) == "unknown") {
    throw Error(fmt::format("{}: activation {} is not one descent has", call,
                            static_cast<int>(activation)));
  }
}

}  // namespace

void activation_forward(Activation activation, std::size_t n, const float* x, float* y) {
  check_activation("activation_forward", activation);
  check_vector("activation_forward", "x", n, x);
  check_vector("activation_forward", "y", n, y);
  kernels::active().activation_forward(activation, n, x, y);
}

void activation_backward(Activation activation, std::size_t n, const float* y, const float* dy,
                         float* dx) {
  check_activation("activation_backward", activation);
  check_vector("activation_backward", "y", n, y);
  check_vector("activation_backward", "dy", n, dy);
  check_vector("activation_backward", "dx", n, dx);
  kernels::active().activation_backward(activation, n, y, dy, dx);
}

double softmax_cross_entropy(std::size_t rows, std::size_t cols, const float* logits,
                             std::size_t ld, const std::uint32_t* labels, float grad_scale,
                             float* grad, std::size_t ldg) {
  check_matrix("softmax_cross_entropy", "logits", "ld", rows, cols, logits, ld);
  check_matrix("softmax_cross_entropy", "labels", "ld", rows, 1, labels, 1);
  check_matrix("softmax_cross_entropy", "grad", "ldg", rows, cols, grad, ldg, true);
  check_apart("softmax_cross_entropy", "logits", logits, cols, ld, grad, ldg, rows, cols);
  check_apart("softmax_cross_entropy", "labels", labels, 1, 1, grad, ldg, rows, cols);
  for (std::size_t i = 0; i < rows; ++i) {
    if (labels[i] >= cols) {
      throw Error(
          fmt::format("softmax_cross_entropy: label {} in row {} is not below the {} classes",
                      labels[i], i, cols));
    }
  }
  return kernels::active().softmax_cross_entropy(rows, cols, logits, ld, labels, grad_scale, grad,
                                                 ldg);
}

double mse(std::size_t rows, std::size_t cols, const float* pred, std::size_t ldp,
           const float* target, std::size_t ldt, float grad_scale, float* grad, std::size_t ldg) {
  check_matrix("mse", "pred", "ldp", rows, cols, pred, ldp);
  check_matrix("mse", "target", "ldt", rows, cols, target, ldt);
  check_matrix("mse", "grad", "ldg", rows, cols, grad, ldg, true);
  check_apart("mse", "pred", pred, cols, ldp, grad, ldg, rows, cols);
  check_apart("mse", "target", target, cols, ldt, grad, ldg, rows, cols);
  return kernels::active().mse(rows, cols, pred, ldp, target, ldt, grad_scale, grad, ldg);
}

double bce_with_logits(std::size_t rows, std::size_t cols, const float* logits, std::size_t ld,
                       const float* target, std::size_t ldt, float grad_scale, float* grad,
                       std::size_t ldg) {
  check_matrix("bce_with_logits", "logits", "ld", rows, cols, logits, ld);
  check_matrix("bce_with_logits", "target", "ldt", rows, cols, target, ldt);
  check_matrix("bce_with_logits", "grad", "ldg", rows, cols, grad, ldg, true);
  check_apart("bce_with_logits", "logits", logits, cols, ld, grad, ldg, rows, cols);
  check_apart("bce_with_logits", "target", target, cols, ldt, grad, ldg, rows, cols);
  return kernels::active().bce_with_logits(rows, cols, logits, ld, target, ldt, grad_scale, grad,
                                           ldg);
}

}  // namespace descent
