#pragma once
// The GEMM peers of descent_bench's kernels/gemm/ suite: OpenBLAS's cblas_sgemm and oneDNN's
// dnnl_sgemm behind one signature (row-major, as descent::sgemm). Each is compiled in when
// CMake found it (DESCENT_BENCH_OPENBLAS, DESCENT_BENCH_ONEDNN); otherwise its call does
// nothing and available() says so.

#include <cstddef>

#include <descent/kernels.hpp>

namespace bench::peers {

enum class Blas { openblas, onednn };

bool available(Blas lib) noexcept;
// Pins the peers' own thread pools (OpenBLAS's, and OpenMP's for oneDNN) to `threads`.
void set_threads(std::size_t threads) noexcept;
// C = alpha op(A) op(B) + beta C through the peer.
void sgemm(Blas lib, descent::Trans ta, descent::Trans tb, std::size_t m, std::size_t n,
           std::size_t k, float alpha, const float* a, std::size_t lda, const float* b,
           std::size_t ldb, float beta, float* c, std::size_t ldc) noexcept;

}  // namespace bench::peers
