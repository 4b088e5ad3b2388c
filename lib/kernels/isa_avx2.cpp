// The AVX2 + FMA instantiation of every kernel. Compiled with -mavx2 -mfma; its code runs
// only after dispatch has checked that the CPU and the OS support both.
#include "kernels/simd_kernels.hpp"

namespace descent::kernels {

// 16 ymm registers: a 6 x 16 tile is 12 accumulators, 2 for B, 1 for the broadcast A.
constinit const KernelTable avx2_kernels = make_table<
    xsimd::fma3<xsimd::avx2>, Isa::avx2,
    GemmBlocking{
        .mr = 6, .nr = 16, .mc = 120, .kc = 256, .nc = 2048, .dot_rows = 1, .dot_cols = 12}>();

}  // namespace descent::kernels
