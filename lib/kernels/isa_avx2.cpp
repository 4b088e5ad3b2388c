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
// KC 1024 (was 256) puts K = 784 in one block, as on AVX-512, and with it a forward product
// of 32 rows is worth computing as C^T to save the 6-row tiles' padding: its transposed
// stores then happen once, not once per K block. On the Zen 5 VM with AVX2 dispatched
// (DESCENT_ISA=avx2, oneDNN held to AVX2 by ONEDNN_MAX_CPU_ISA=AVX2), one thread, p10 of
// 20 or more calls against oneDNN in the same process: fwd 32 x 256 x 784 0.91 -> 1.05,
// fwd 32 x 256 x 256 0.93 -> 0.96, square 512 0.94 -> 0.98-1.01, square 2048 0.88 -> 0.95,
// the rest within 2%; on 2 threads (perf_compare, 9 rounds) fwd 32 x 256 x 784 121.5 ->
// 71.7 us, fwd 128 x 256 x 784 357.7 -> 284.8 us. Either change alone gained nothing (C^T
// with KC 256: fwd 32 x 256 x 784 0.79-0.87 of oneDNN, on the EPYC without AVX-512).
constinit const KernelTable avx2_kernels =
    make_table<xsimd::fma3<xsimd::avx2>, Isa::avx2,
               GemmBlocking{.mr = 6,
                            .nr = 16,
                            .mc = 120,
                            .kc = 1024,
                            .nc = 2048,
                            .dot_rows = 1,
                            .dot_cols = 12,
                            .direct_b_rows = 64,
                            .transposes_to_save_tiles = true}>();

}  // namespace descent::kernels
