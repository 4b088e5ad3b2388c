// The SSE2 instantiation of every kernel. Compiled with the x86-64 baseline flags.
#include "kernels/simd_kernels.hpp"

namespace descent::kernels {

// 16 xmm registers: a 6 x 8 tile is 12 accumulators, 2 for B, 1 for the broadcast A.
constinit const KernelTable sse2_kernels = make_table<
    xsimd::sse2, Isa::sse2,
    GemmBlocking{
        .mr = 6, .nr = 8, .mc = 120, .kc = 256, .nc = 2048, .dot_rows = 1, .dot_cols = 12}>();

}  // namespace descent::kernels
