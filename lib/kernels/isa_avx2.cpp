// The AVX2 + FMA instantiation of every kernel. Compiled with -mavx2 -mfma; its code runs
// only after dispatch has checked that the CPU and the OS support both.
#include "kernels/simd_kernels.hpp"

namespace descent::kernels {

// 16 ymm registers: a 6 x 16 tile is 12 accumulators, 2 for B, 1 for the broadcast A.
// B is read in place by products of at most 64 rows only; taller ones pack it. On a 2-core
// Zen VM without AVX-512, one thread, against oneDNN in the same process (p10 of 20 or more
// calls, three alternating rounds): square 256 0.79-0.92 -> 0.95-0.99 of oneDNN, dx 128 x
// 256 x 256 0.90-0.92 -> 0.88-0.96, the rest within the noise; packing B for the 32-row
// products too cost dx 32 x 784 x 256 0.93 -> 0.80-0.84. A 4 x 24 tile (also 12
// accumulators) was measured and not kept: better on fwd 32 x 256 x 784 (0.86 -> 0.94-1.05),
// worse on square 128 (0.95 -> 0.91) and on the narrow forward products, whose 10 x 32 C^T
// it pads to 12 x 48 (fwd 32 x 10 x 256 in descent_bench: 38-42 -> 24 GFLOP/s).
// A forward product of 32 rows is not turned into C^T here to save the 6-row tiles' padding
// (AVX-512 gains from it): fwd 32 x 256 x 784 0.79-0.87 -> 0.91-0.92 of oneDNN, fwd 32 x
// 256 x 256 0.91-0.96 -> 0.92-0.94 (three alternating rounds).
constinit const KernelTable avx2_kernels =
    make_table<xsimd::fma3<xsimd::avx2>, Isa::avx2,
               GemmBlocking{.mr = 6,
                            .nr = 16,
                            .mc = 120,
                            .kc = 256,
                            .nc = 2048,
                            .dot_rows = 1,
                            .dot_cols = 12,
                            .direct_b_rows = 64,
                            .transposes_to_save_tiles = false}>();

}  // namespace descent::kernels
