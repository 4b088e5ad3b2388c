// The AVX-512F instantiation of every kernel. Compiled with -mavx512f; its code runs only
// after dispatch has checked that the CPU and the OS support it.
#include "kernels/simd_kernels.hpp"

namespace descent::kernels {

// 32 zmm registers: a 12 x 32 tile is 24 accumulators, 2 for B, 1 for the broadcast A. The
// blocks were chosen by bench runs on Zen 5 (48 KiB L1, 1 MiB L2 per core): an MC x KC block
// of A (384 KiB) and a KC x NR panel of B (128 KiB) share L2. KC 1024 rather than 512 puts
// K = 784 (the first layer of an MNIST MLP) in one block and halves square 2048's passes over
// C (9 interleaved rounds: fwd 128 x 256 x 784 on 2 threads -10.5%, square 2048 -3%); MC 48
// instead of 96 was no better.
constinit const KernelTable avx512_kernels = make_table<
    xsimd::avx512f, Isa::avx512,
    GemmBlocking{
        .mr = 12, .nr = 32, .mc = 96, .kc = 1024, .nc = 3072, .dot_rows = 2, .dot_cols = 10}>();

}  // namespace descent::kernels
