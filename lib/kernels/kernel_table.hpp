#pragma once
// Internal: the table of kernel function pointers, one per ISA, and the one in use.
// Tests include this header to reach every ISA's instantiation and the scalar reference.

#include <cstddef>
#include <cstdint>

#include "descent/kernels.hpp"

namespace descent::kernels {

// A block of the GEMM less deep than this is a short K: its tiles run along rows of C, so
// that C, which then costs more than the arithmetic, is written in long runs.
inline constexpr std::size_t kGemmShortK = 64;

// Cache blocking of the GEMM, per ISA: data, not code.
struct GemmBlocking {
  std::size_t mr;  // rows of the register tile
  std::size_t nr;  // columns of the register tile (a multiple of the vector width)
  std::size_t mc;  // most rows of an A block (multiple of mr); blocks are made even
  std::size_t kc;  // most depth of a block; K is cut into even blocks of at most kc
  std::size_t nc;  // most columns of a B block (multiple of nr)
  // The dot-product tiles of a narrow C = A B^T: rows of A by rows of B per tile.
  std::size_t dot_rows;
  std::size_t dot_cols;
  // A B whose rows are whole vectors is read where it lies by products of at most this many
  // rows of C (as computed) and packed for taller ones, whose many row tiles pay for the
  // packing and then read a contiguous panel.
  std::size_t direct_b_rows = static_cast<std::size_t>(-1);
  // Whether a forward product C = A B^T may compute C^T where its tiles would cover fewer
  // padded elements (gemm.cpp, saves_tiles_transposed).
  bool transposes_to_save_tiles = true;
  // Tiles of their own shape for the shortest K (0: the MR x NR tiles serve): blocks at most
  // short_k_depth deep, with both operands read in place, whose width is a multiple of
  // short_k_nr (a multiple of the vector width). They fetch their C for writing (FETCH_C in
  // simd_gemm.hpp).
  std::size_t short_k_mr = 0;
  std::size_t short_k_nr = 0;
  std::size_t short_k_depth = 0;
  // Software prefetch in the K loop of blocks at least kGemmShortK deep (0: none): each step
  // of a tile fetches B's panel row prefetch_b steps ahead, and A's column prefetch_a steps
  // ahead where A is packed or transposed (not a row-major A read in place). For caches whose
  // own prefetchers leave the tiles waiting on L2.
  std::size_t prefetch_b = 0;
  std::size_t prefetch_a = 0;
};

// The operands of a block of tiles, packed or read in place: panel ir of A (ir a multiple
// of mr) starts at a + ir * a_panel and holds op(A)(r, p) at [r * a_row + p * a_step] (a_row
// is 1 but for a row-major A read in place); panel jr of B starts at b + jr * b_panel and
// holds the nr floats of op(B) row p at [p * b_step].
struct TileOperands {
  const float* a;
  std::size_t a_panel, a_row, a_step;
  const float* b;
  std::size_t b_panel, b_step;
  // A read in place: a tile may start at any row (a packed A only at a panel's first).
  bool a_any_row = false;
};

// The scalars of one fused optimizer update, computed in double as torch.optim computes them
// for the step (Python floats) and rounded to float where the kernel applies them. Each
// kernel reads and writes the flat buffers in one pass; `maximize` negates the gradient
// first, and a non-zero weight_decay adds weight_decay * p to it (L2), except for adamw.
struct SgdParams {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize, first_step;  // first_step: the momentum buffer starts as d_p
};
struct AdagradParams {
  double clr, weight_decay, eps;  // clr = lr / (1 + (step - 1) * lr_decay)
  bool maximize;
};
struct RmspropParams {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};
struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  double step_size;                   // lr / (1 - beta1^t)
  double bias_correction2_sqrt;       // sqrt(1 - beta2^t)
  bool amsgrad, maximize, decoupled;  // decoupled: adamw's p *= 1 - lr * weight_decay
};
struct NadamParams {
  double beta1, beta2, eps, weight_decay;
  double shrink;            // decoupled weight decay: p *= shrink first (1 - lr * wd, or 1)
  double bias_correction2;  // 1 - beta2^t
  double grad_coef;         // -lr * (1 - mu_t) / (1 - prod mu)
  double avg_coef;          // -lr * mu_{t+1} / (1 - prod mu * mu_{t+1})
  bool maximize;
};
struct RadamParams {
  double lr, beta1, beta2, eps, weight_decay;
  double shrink;                 // decoupled weight decay: p *= shrink first (or 1)
  double bias_correction1;       // 1 - beta1^t
  double bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  double rect;                   // the variance rectification term, when rectified
  bool rectified, maximize;      // rectified: rho_t > 5
};
struct AdamaxParams {
  double beta1, beta2, eps, weight_decay;
  double clr;  // lr / (1 - beta1^t)
  bool maximize;
};
struct AdadeltaParams {
  double lr, rho, eps, weight_decay;
  bool maximize;
};

// How a block of GEMM tiles is written to C. The driver (gemm.cpp) sets it per K block.
struct GemmTileStore {
  bool overwrite = false;       // C = acc (the first K block when beta == 0), else C += acc
  bool last = false;            // the last K block: apply the epilogue below after adding
  const float* bias = nullptr;  // C += bias (per column of C)
  Activation activation = Activation::identity;  // C = f(C)
  const float* derivative = nullptr;  // C = C * f'(y), y read like C at derivative/ld_derivative
  std::size_t ld_derivative = 0;
  Activation derivative_activation = Activation::identity;
  bool transposed = false;  // the tiles are of C^T: tile element (i, j) is c[j * ldc + i]
};

struct KernelTable {
  Isa isa;
  GemmBlocking gemm_blocking;
  void (*sgemm)(Trans trans_a, Trans trans_b, std::size_t m, std::size_t n, std::size_t k,
                float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                float beta, float* c, std::size_t ldc);
  // The GEMM's pieces, driven by gemm.cpp (null in the scalar reference): packing op(A) times
  // alpha into ceil(mc/mr) panels of kc x mr, packing op(B) into ceil(nc/nr) panels of kc x nr
  // (zero-padded), and the register tiles of an mc x nc block of C. bias and derivative in
  // `store` point at the block's first column and element.
  std::size_t gemm_lanes;  // floats per vector: a B operand read in place needs n % lanes == 0
  void (*gemm_pack_a)(Trans trans, const float* a, std::size_t lda, std::size_t i0, std::size_t mc,
                      std::size_t p0, std::size_t kc, float alpha, float* dst);
  void (*gemm_pack_b)(Trans trans, const float* b, std::size_t ldb, std::size_t p0, std::size_t kc,
                      std::size_t j0, std::size_t nc, float* dst);
  void (*gemm_tiles)(std::size_t mc, std::size_t nc, std::size_t kc, const TileOperands& ops,
                     float* c, std::size_t ldc, const GemmTileStore& store);
  // Rows [0, m) of a narrow C = alpha A B^T (A [m, k], B [n, k] row-major) by dot products
  // along K, neither operand transposed; C combined and finished as `store` says. scratch
  // holds dot_cols * round_up(k, gemm_lanes) floats, or is null to read B where it lies (the
  // same bits).
  void (*gemm_dot)(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                   std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc,
                   const GemmTileStore& store, float* scratch);
  void (*axpy)(std::size_t n, float alpha, const float* x, float* y);
  void (*scale)(std::size_t n, float alpha, float* x);
  void (*clamp)(std::size_t n, float lo, float hi, float* x);
  double (*dot)(std::size_t n, const float* x, const float* y);
  double (*sum_squares)(std::size_t n, const float* x);
  double (*fma_loop)(std::size_t iterations);
  void (*column_sums)(std::size_t rows, std::size_t cols, const float* x, std::size_t ldx,
                      float beta, float* out);
  void (*activation_forward)(Activation activation, std::size_t n, const float* x, float* y);
  void (*activation_backward)(Activation activation, std::size_t n, const float* y, const float* dy,
                              float* dx);
  double (*softmax_cross_entropy)(std::size_t rows, std::size_t cols, const float* logits,
                                  std::size_t ld, const std::uint32_t* labels, float grad_scale,
                                  float* grad, std::size_t ldg);
  double (*mse)(std::size_t rows, std::size_t cols, const float* pred, std::size_t ldp,
                const float* target, std::size_t ldt, float grad_scale, float* grad,
                std::size_t ldg);
  double (*bce_with_logits)(std::size_t rows, std::size_t cols, const float* logits, std::size_t ld,
                            const float* target, std::size_t ldt, float grad_scale, float* grad,
                            std::size_t ldg);
  // Fused optimizer updates over n elements; state buffers a kernel does not use are null.
  void (*sgd_step)(std::size_t n, float* p, const float* g, float* momentum_buffer,
                   const SgdParams& s);
  void (*adagrad_step)(std::size_t n, float* p, const float* g, float* sum, const AdagradParams& s);
  void (*rmsprop_step)(std::size_t n, float* p, const float* g, float* square_avg, float* grad_avg,
                       float* momentum_buffer, const RmspropParams& s);
  void (*adam_step)(std::size_t n, float* p, const float* g, float* exp_avg, float* exp_avg_sq,
                    float* max_exp_avg_sq, const AdamParams& s);
  void (*nadam_step)(std::size_t n, float* p, const float* g, float* exp_avg, float* exp_avg_sq,
                     const NadamParams& s);
  void (*radam_step)(std::size_t n, float* p, const float* g, float* exp_avg, float* exp_avg_sq,
                     const RadamParams& s);
  void (*adamax_step)(std::size_t n, float* p, const float* g, float* exp_avg, float* exp_inf,
                      const AdamaxParams& s);
  void (*adadelta_step)(std::size_t n, float* p, const float* g, float* square_avg,
                        float* acc_delta, const AdadeltaParams& s);
};

// The plain C++ twins every fast kernel is tested against (also the `scalar` ISA).
const KernelTable& reference_table();

#if DESCENT_X86_KERNELS
// Each ISA's table, constant-initialised in isa_<name>.cpp, which is compiled with that ISA's
// flags. They are data, not functions, so reading one runs no code compiled for that ISA.
extern const KernelTable sse2_kernels;
extern const KernelTable avx2_kernels;
extern const KernelTable avx512_kernels;
#endif

// The table for `isa`, or null when this build or this CPU cannot run it.
const KernelTable* table_for(Isa isa);

// The table in use: chosen once from the CPU and DESCENT_ISA, changed by set_isa().
const KernelTable& active();

// Resolves a DESCENT_ISA value against the best ISA available; throws descent::Error for an
// unknown name or an ISA above `best`. A null or empty value means `best`.
Isa resolve_isa_request(const char* requested, Isa best);

}  // namespace descent::kernels
