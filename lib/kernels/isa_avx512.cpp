// The AVX-512F instantiation of every kernel. Compiled with -mavx512f; its code runs only
// after dispatch has checked that the CPU and the OS support it.
#include "kernels/simd_kernels.hpp"

namespace descent::kernels {

// 32 zmm registers: a 12 x 32 tile is 24 accumulators, 2 for B, 1 for the broadcast A. The
// blocks were chosen by bench runs on Zen 5 (48 KiB L1, 1 MiB L2 per core).
constinit const KernelTable avx512_kernels = make_table<
    xsimd::avx512f, Isa::avx512,
    GemmBlocking{
        .mr = 12, .nr = 32, .mc = 96, .kc = 512, .nc = 3072, .dot_rows = 2, .dot_cols = 10}>();

}  // namespace descent::kernels
