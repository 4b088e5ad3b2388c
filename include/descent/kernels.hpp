#pragma once
// Dense numeric kernels, hand-vectorized with xsimd and dispatched at run time to the best
// instruction set the CPU has (AVX-512F, AVX2+FMA or SSE2), or to the one DESCENT_ISA names.
// Matrices are row-major; ld* is the distance in floats between consecutive rows.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "descent/activation.hpp"

namespace descent {

// Ordered from least to most capable. scalar is the plain C++ reference implementation.
enum class Isa { scalar, sse2, avx2, avx512 };

std::string_view to_string(Isa isa) noexcept;
// "scalar", "sse2", "avx2" or "avx512"; throws descent::Error otherwise.
Isa parse_isa(std::string_view name);
// The best ISA this binary and this CPU (and its operating system) both support.
Isa best_isa();
bool isa_supported(Isa isa);
// Every ISA that can run here, from scalar up to best_isa().
std::vector<Isa> supported_isas();
// The ISA in use: DESCENT_ISA if set when the first kernel ran, else best_isa().
Isa active_isa();
// Switches every kernel to `isa`; throws descent::Error when this CPU cannot run it.
void set_isa(Isa isa);

enum class Trans { no, yes };

// C = alpha * op(A) * op(B) + beta * C, where op(A) is m x k and op(B) is k x n.
// With beta == 0, C is overwritten (NaN or garbage in C does not propagate).
void sgemm(Trans trans_a, Trans trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
           const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
           std::size_t ldc);

// Runs `iterations` rounds of independent fused multiply-adds on the active ISA's widest
// vectors and returns the floating-point operations done (2 per lane and FMA): benchmarks
// time it for the core's peak rate.
double fma_loop(std::size_t iterations);

// y += alpha * x
void axpy(std::size_t n, float alpha, const float* x, float* y);
// x *= alpha
void scale(std::size_t n, float alpha, float* x);
// sum x[i] * y[i], accumulated in double
double dot(std::size_t n, const float* x, const float* y);
// sum x[i]^2, accumulated in double
double sum_squares(std::size_t n, const float* x);
// out[j] = beta * out[j] + sum_i x[i, j]   (x: [rows, cols]; the bias gradient)
void column_sums(std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, float beta,
                 float* out);
// y = f(x), element-wise; y may equal x.
void activation_forward(Activation activation, std::size_t n, const float* x, float* y);
// dx = dy * f'(x), written in terms of the forward output y = f(x); dx may equal dy.
void activation_backward(Activation activation, std::size_t n, const float* y, const float* dy,
                         float* dx);

// Losses return the sum over every row (and output) in double. When grad is not null it
// receives grad_scale * d(sum)/d(input); pass 1/rows (or 1/(rows*cols)) for a mean. grad must
// not overlap the inputs.
//
// Softmax cross-entropy on integer labels, by log-sum-exp (finite for any finite logits):
// sum_i [ log(sum_j exp(z_ij)) - z_i,label_i ].   logits: [rows, cols], labels[i] < cols.
double softmax_cross_entropy(std::size_t rows, std::size_t cols, const float* logits,
                             std::size_t ld, const std::uint32_t* labels, float grad_scale,
                             float* grad, std::size_t ldg);
// sum_ij (p_ij - t_ij)^2
double mse(std::size_t rows, std::size_t cols, const float* pred, std::size_t ldp,
           const float* target, std::size_t ldt, float grad_scale, float* grad, std::size_t ldg);
// sum_ij [ max(x,0) - x t + log(1 + exp(-|x|)) ], binary cross-entropy on logits x.
double bce_with_logits(std::size_t rows, std::size_t cols, const float* logits, std::size_t ld,
                       const float* target, std::size_t ldt, float grad_scale, float* grad,
                       std::size_t ldg);

}  // namespace descent
