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
//
// A K of at most 32 (the input gradient of a 10-class output layer, K = 10) stores a vector
// of C for every 32 FMAs or fewer: there 4 x 64 tiles (16 accumulators, four full lines of C
// per tile row) beat 12 x 32 on the Zen 5 VM (they are now 6 x 64: see below). Alternating
// processes, one thread, GFLOP/s against 12 x 32:
// NN 128 x 256 x 10 208.9 against 198.8, and 171 against 150 while the host slowed this CPU
// (oneDNN 188 and 162); 512 x 256 x 10 214.8 against 203.6; NN 128 x 256 x 32 226.2 against
// 220.4; TN 256 x 256 x 16 220.9 against 215.6. At K = 48 they lost (211.6 against 224.6),
// and beside a one-vector edge (n = 784) too (TN 256 x 784 x 32 197.8 against 224.2).
//
// On the Intel Emerald Rapids host those tiles sat at 0.83-0.89 of oneDNN at K = 10, the
// core stalled behind stores to C. Fetching each tile's C for writing in its first K steps
// (tile_body's FETCH_C), and 6 x 64 tiles (24 accumulators) instead of 4 x 64, brought them
// level: descent_gemm_pairs --calls 400, oneDNN's time over descent's, two alternating
// rounds, 4 x 64 without -> 4 x 64 with -> 6 x 64 with: dx 512 x 256 x 10 0.85 -> 0.92 ->
// 0.98-1.02, 128 x 256 x 10 0.87-0.89 -> 0.94-0.96 -> 0.995-1.01, dw 256 x 256 x 32 0.97 ->
// 0.99-1.00 -> 0.99; 6 x 64 without the fetch 0.87-0.88, 0.90 and 0.96. Not measured on AMD.
//
// Prefetching B's panel 16 steps ahead, and A's column 8 where A is packed or transposed in
// place: on an Intel Emerald Rapids core the L2 prefetchers left the tiles waiting (on the AMD
// hosts descent had been level with oneDNN without it; not measured there since). One thread,
// oneDNN's time over descent's, median of 30-300 call-by-call alternating pairs in a process
// (descent_gemm_pairs), 64-byte aligned operands, without -> with: square 1024 0.85-0.90 ->
// 0.91-0.93, dw 256 x 784 x 512 0.74-0.79 -> 0.89-0.91, dw 256 x 784 x 128 0.88-0.90 -> 0.93,
// fwd 128 x 256 x 784 0.85-0.87 -> 0.90-0.98; the other shapes within the spread. Operands 16
// bytes off a line (as --offset 4 sets them), three rounds: square 2048 0.87-0.93 -> 0.97-0.98, dx
// 128 x 784 x 256 0.84-0.85 -> 0.89-0.90.
constinit const KernelTable avx512_kernels = make_table<xsimd::avx512f, Isa::avx512,
                                                        GemmBlocking{.mr = 12,
                                                                     .nr = 32,
                                                                     .mc = 96,
                                                                     .kc = 1024,
                                                                     .nc = 3072,
                                                                     .dot_rows = 2,
                                                                     .dot_cols = 10,
                                                                     .short_k_mr = 6,
                                                                     .short_k_nr = 64,
                                                                     .short_k_depth = 32,
                                                                     .prefetch_b = 16,
                                                                     .prefetch_a = 8}>();

}  // namespace descent::kernels
