#pragma once
// Internal: the GEMM driver. The blocking loops, the threads and the buffers live here, in
// code compiled without ISA flags; the packing and the register tiles come from an ISA's
// KernelTable.

#include <cstddef>

#include "descent/activation.hpp"
#include "descent/kernels.hpp"

namespace descent::kernels {

struct KernelTable;

// What happens to the product on its way into C, fused into the last store of each tile:
//   C = f(alpha op(A) op(B) + bias)              (forward: bias per column, f = activation)
//   C = (alpha op(A) op(B)) * f'(y)              (backward: y the next layer's output)
// Each is applied after the whole sum, in the order separate passes would apply them, so the
// fused result equals the unfused one bit for bit. The epilogue needs beta == 0.
struct GemmEpilogue {
  const float* bias = nullptr;
  Activation activation = Activation::identity;
  const float* derivative = nullptr;  // y, [m, n] with leading dimension ld_derivative
  std::size_t ld_derivative = 0;
  Activation derivative_activation = Activation::identity;
};

// C = epilogue(alpha op(A) op(B) + beta C), op(A) m x k, op(B) k x n. With parallel, the
// product is split over M and N (never K) across descent's threads; every element of C is
// computed by the same arithmetic either way, so the result does not depend on the thread
// count. Serial calls are safe inside the library's own parallel tasks.
void gemm(const KernelTable& table, Trans trans_a, Trans trans_b, std::size_t m, std::size_t n,
          std::size_t k, float alpha, const float* a, std::size_t lda, const float* b,
          std::size_t ldb, float beta, float* c, std::size_t ldc, const GemmEpilogue& epilogue,
          bool parallel, const float* packed_b = nullptr);

// op(B) packed once for several products that share it (a layer's weights, read by the forward
// pass of every shard of a step): every block gemm() would pack, in the order it reads them.
// gemm_packed_b_size() is the floats it takes, or 0 where gemm() would not pack this op(B)
// whatever A is (it reads it in place, or its layout depends on m). gemm() given packed_b --
// made by gemm_pack_b from the same table, trans_b, k, n, b and ldb into a 64-byte-aligned
// buffer (an AlignedBuffer) -- reads it instead of
// packing B; the product is the same bits. gemm() ignores packed_b where it would not pack.
std::size_t gemm_packed_b_size(const KernelTable& table, Trans trans_b, std::size_t k,
                               std::size_t n, std::size_t ldb);
void gemm_pack_b(const KernelTable& table, Trans trans_b, std::size_t k, std::size_t n,
                 const float* b, std::size_t ldb, float* packed_b, bool parallel);

// Whether gemm() with beta = 1 and this K adds each element's whole product sum to C in one
// rounding, C + (the sum that beta = 0 would store): the same bits as computing the product
// alone and adding it to C afterwards (a gradient accumulated by the product's store instead of
// a separate sum). True for the tiles when K is one K block; the scalar reference sums C in.
bool gemm_adds_sum_once(const KernelTable& table, std::size_t k);

// Makes sure `concurrency` calls and tasks on products whose sides are all at most long_side,
// and whose K or N (as computed) is at most short_side, can run at once without allocating
// their packing buffers. The trainer calls it before training with the batch's rows and the
// network's widest layer: every product of a step has a layer width as K or N (forward:
// K = inputs; input gradient: K = outputs; weight gradient: N = inputs, or K = outputs when
// computed as C^T).
void gemm_reserve(const KernelTable& table, std::size_t concurrency, std::size_t long_side,
                  std::size_t short_side);

}  // namespace descent::kernels
