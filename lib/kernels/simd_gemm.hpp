#pragma once
// The GEMM's ISA pieces, BLIS-style: packing op(A) (times alpha) into MR-row panels and
// op(B) into NR-column panels, both k-major, and the register tiles that multiply them.
// The blocking loops and the threads live in gemm.cpp. Included by simd_kernels.hpp, inside
// its anonymous namespace rules: everything here has internal linkage.
//
// A tile is an exact-size instantiation of the micro-kernel (rows 1..MR, vectors 1..NR/W),
// so an edge tile does only the work it needs, with the same arithmetic per element as a
// full tile: element (i, j) of C is the FMA chain over p = 0, 1, ... in order, wherever it
// lies and whoever computes it. Only the last vector of a row may be partial: it goes
// through a stack copy and the same vector code.
//
// Operands the kernel can read as they are need no packing: a transposed A (its columns are
// contiguous rows of MR) and a B without transpose (rows of NR contiguous floats). The
// others are packed with 8x8 (and 4x4) transposes written with the compilers' vector
// extensions, which both GCC and Clang lower to the ISA's shuffles.

namespace descent::kernels {
namespace {

using V8 = float __attribute__((vector_size(32)));
using V4 = float __attribute__((vector_size(16)));

template <class V>
V load_v(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
void store_v(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

// Transposes 8 rows of 8 (r[i] = row i) in place: afterwards r[j] = column j.
inline void transpose8(V8 (&r)[8]) {
  V8 t[8], u[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; i += 4) {
    u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 4; ++i) {
    r[i] = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[i + 4] = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// Transposes 4 rows of 4 in place.
inline void transpose4(V4 (&r)[4]) {
  const V4 t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5);
  const V4 t1 = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7);
  const V4 t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5);
  const V4 t3 = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7);
  r[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
  r[1] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  r[2] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  r[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}

// dst[p * ld_dst + r] = scale * src[r * ld_src + p] for r < rows, p < cols: a block of a
// row-major matrix written transposed, 8x8 (then 4x4) blocks at a time, the rest one by one.
inline void transpose_block(const float* src, std::size_t ld_src, std::size_t rows,
                            std::size_t cols, float scale, float* dst, std::size_t ld_dst) {
  std::size_t r = 0;
  for (; r + 8 <= rows; r += 8) {
    std::size_t p = 0;
    for (; p + 8 <= cols; p += 8) {
      V8 v[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) v[i] = load_v<V8>(src + (r + i) * ld_src + p);
      transpose8(v);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) store_v(dst + (p + i) * ld_dst + r, v[i] * scale);
    }
    for (; p < cols; ++p)
      for (std::size_t i = 0; i < 8; ++i)
        dst[p * ld_dst + r + i] = scale * src[(r + i) * ld_src + p];
  }
  for (; r + 4 <= rows; r += 4) {
    std::size_t p = 0;
    for (; p + 4 <= cols; p += 4) {
      V4 v[4];
#pragma GCC unroll 8
      for (int i = 0; i < 4; ++i) v[i] = load_v<V4>(src + (r + i) * ld_src + p);
      transpose4(v);
#pragma GCC unroll 8
      for (int i = 0; i < 4; ++i) store_v(dst + (p + i) * ld_dst + r, v[i] * scale);
    }
    for (; p < cols; ++p)
      for (std::size_t i = 0; i < 4; ++i)
        dst[p * ld_dst + r + i] = scale * src[(r + i) * ld_src + p];
  }
  for (; r < rows; ++r)
    for (std::size_t p = 0; p < cols; ++p) dst[p * ld_dst + r] = scale * src[r * ld_src + p];
}

// dst[i] = scale * src[i] for i < n.
inline void copy_scaled(const float* src, std::size_t n, float scale, float* dst) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) store_v(dst + i, load_v<V8>(src + i) * scale);
  for (; i + 4 <= n; i += 4) store_v(dst + i, load_v<V4>(src + i) * scale);
  for (; i < n; ++i) dst[i] = scale * src[i];
}

// op(A) rows [i0, i0 + mc), columns [p0, p0 + kc), times alpha, into ceil(mc / MR) panels of
// kc x MR (a panel's rows past mc are not written: the tiles never read them).
template <class A, std::size_t MR>
void pack_a(Trans trans, const float* a, std::size_t lda, std::size_t i0, std::size_t mc,
            std::size_t p0, std::size_t kc, float alpha, float* dst) {
  for (std::size_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {
    const std::size_t rows = min_size(MR, mc - ir);
    if (trans == Trans::no) {
      transpose_block(a + (i0 + ir) * lda + p0, lda, rows, kc, alpha, dst, MR);
    } else {
      for (std::size_t p = 0; p < kc; ++p)
        copy_scaled(a + (p0 + p) * lda + i0 + ir, rows, alpha, dst + p * MR);
    }
  }
}

// op(B) rows [p0, p0 + kc), columns [j0, j0 + nc), into ceil(nc / NR) panels of kc x NR,
// zero past nc.
template <class A, std::size_t NR>
void pack_b(Trans trans, const float* b, std::size_t ldb, std::size_t p0, std::size_t kc,
            std::size_t j0, std::size_t nc, float* dst) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  for (std::size_t jr = 0; jr < nc; jr += NR, dst += NR * kc) {
    const std::size_t cols = min_size(NR, nc - jr);
    if (trans == Trans::no && cols == NR) {
      const float* src = b + p0 * ldb + j0 + jr;
      for (std::size_t p = 0; p < kc; ++p) {
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NR / W; ++v)
          B::load_unaligned(src + p * ldb + v * W).store_aligned(dst + p * NR + v * W);
      }
    } else if (trans == Trans::no) {
      for (std::size_t p = 0; p < kc; ++p)
        copy_scaled(b + (p0 + p) * ldb + j0 + jr, cols, 1.0f, dst + p * NR);
    } else {
      transpose_block(b + (j0 + jr) * ldb + p0, ldb, cols, kc, 1.0f, dst, NR);
    }
    if (cols < NR)
      for (std::size_t p = 0; p < kc; ++p)
        for (std::size_t c = cols; c < NR; ++c) dst[p * NR + c] = 0.0f;
  }
}

// One vector of a tile on its way into C: the sum with C (unless overwriting), then, on the
// last K block, bias, activation and activation derivative, in the order separate passes
// would apply them. c, bias and y are the vectors read for these lanes.
template <class A>
[[gnu::always_inline]] inline Batch<A> stored_value(const GemmTileStore& s, Batch<A> acc,
                                                    Batch<A> c, Batch<A> bias, Batch<A> y) {
  Batch<A> v = s.overwrite ? acc : c + acc;
  if (s.last) {
    if (s.bias != nullptr) v = v + bias;
    if (s.activation != Activation::identity) v = activate<A>(s.activation, v);
    if (s.derivative != nullptr) v = activation_gradient<A>(s.derivative_activation, y, v);
  }
  return v;
}

// Where a tile goes: its first row and column in the block (i0, j0), how many of them are
// real (rows, cols), C at the block's corner, and how to store.
struct TilePlace {
  std::size_t i0, j0, rows, cols;
  float* c;
  std::size_t ldc;
  const GemmTileStore* store;
};

// Stores vector v of tile row r. Whole vectors of an untransposed tile go straight to C; a
// partial vector or a transposed tile goes through stack copies and the same arithmetic.
template <class A>
void store_vector(const TilePlace& t, std::size_t r, std::size_t v, Batch<A> acc) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  const GemmTileStore& s = *t.store;
  const std::size_t i = t.i0 + r, j = t.j0 + v * W;
  const std::size_t lanes = min_size(W, t.cols - v * W);
  if (!s.transposed && lanes == W) {
    float* c = t.c + i * t.ldc + j;
    const B zero(0.0f);
    const B cv = s.overwrite ? zero : B::load_unaligned(c);
    const B bias = s.last && s.bias != nullptr ? B::load_unaligned(s.bias + j) : zero;
    const B y = s.last && s.derivative != nullptr
                    ? B::load_unaligned(s.derivative + i * s.ld_derivative + j)
                    : zero;
    stored_value<A>(s, acc, cv, bias, y).store_unaligned(c);
    return;
  }
  alignas(64) float cb[W], bb[W], yb[W], out[W];
  for (std::size_t l = 0; l < W; ++l) {
    cb[l] = bb[l] = yb[l] = 0.0f;
    if (l >= lanes) continue;
    const std::size_t jl = j + l;
    const std::size_t at = s.transposed ? jl * t.ldc + i : i * t.ldc + jl;
    if (!s.overwrite) cb[l] = t.c[at];
    if (s.last && s.bias != nullptr) bb[l] = s.transposed ? s.bias[i] : s.bias[jl];
    if (s.last && s.derivative != nullptr) {
      yb[l] = s.transposed ? s.derivative[jl * s.ld_derivative + i]
                           : s.derivative[i * s.ld_derivative + jl];
    }
  }
  stored_value<A>(s, acc, B::load_aligned(cb), B::load_aligned(bb), B::load_aligned(yb))
      .store_aligned(out);
  for (std::size_t l = 0; l < lanes; ++l) {
    const std::size_t jl = j + l;
    t.c[s.transposed ? jl * t.ldc + i : i * t.ldc + jl] = out[l];
  }
}

// The micro-kernel: a ROWS x (NV vectors) tile, acc += A panel x B panel over kc, then
// stored. ROWS and NV are exact: edge tiles are their own instantiations.
template <class A, std::size_t ROWS, std::size_t NV>
void tile(std::size_t kc, const float* a, std::size_t a_step, const float* b, std::size_t b_step,
          const TilePlace& place) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  B acc[ROWS][NV];
#pragma GCC unroll 16
  for (std::size_t r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NV; ++v) acc[r][v] = B(0.0f);
  for (std::size_t p = 0; p < kc; ++p) {
    B bv[NV];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NV; ++v) bv[v] = B::load_unaligned(b + v * W);
#pragma GCC unroll 16
    for (std::size_t r = 0; r < ROWS; ++r) {
      const B av(a[r]);
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(av, bv[v], acc[r][v]);
    }
    a += a_step;
    b += b_step;
  }
  const GemmTileStore& s = *place.store;
  if (!s.transposed && place.cols == NV * W) {
    // Whole vectors into C: straight loads and stores, the checks hoisted out of the loops.
    float* c = place.c + place.i0 * place.ldc + place.j0;
    const bool epilogue = s.last && (s.bias != nullptr || s.activation != Activation::identity ||
                                     s.derivative != nullptr);
    if (!epilogue && s.overwrite) {
#pragma GCC unroll 16
      for (std::size_t r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) acc[r][v].store_unaligned(c + r * place.ldc + v * W);
    } else if (!epilogue) {
#pragma GCC unroll 16
      for (std::size_t r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) {
          float* at = c + r * place.ldc + v * W;
          (B::load_unaligned(at) + acc[r][v]).store_unaligned(at);
        }
      }
    } else {
      const B zero(0.0f);
      for (std::size_t r = 0; r < ROWS; ++r) {
        const std::size_t i = place.i0 + r;
        for (std::size_t v = 0; v < NV; ++v) {
          const std::size_t j = place.j0 + v * W;
          float* at = c + r * place.ldc + v * W;
          const B cv = s.overwrite ? zero : B::load_unaligned(at);
          const B bias = s.bias != nullptr ? B::load_unaligned(s.bias + j) : zero;
          const B y = s.derivative != nullptr
                          ? B::load_unaligned(s.derivative + i * s.ld_derivative + j)
                          : zero;
          stored_value<A>(s, acc[r][v], cv, bias, y).store_unaligned(at);
        }
      }
    }
    return;
  }
  // Partial vectors and transposed tiles, one vector at a time.
  for (std::size_t r = 0; r < ROWS; ++r)
    for (std::size_t v = 0; v < NV; ++v) store_vector<A>(place, r, v, acc[r][v]);
}

using TileFn = void (*)(std::size_t kc, const float* a, std::size_t a_step, const float* b,
                        std::size_t b_step, const TilePlace& place);

// Every tile size of an MR x (NV vectors) blocking: tiles[rows - 1][vectors - 1].
template <class A, std::size_t MR, std::size_t NV>
struct TileTable {
  TileFn fn[MR][NV];
  constexpr TileTable() : fn{} { fill(std::make_index_sequence<MR * NV>{}); }

 private:
  template <std::size_t... I>
  constexpr void fill(std::index_sequence<I...>) {
    ((fn[I / NV][I % NV] = &tile<A, I / NV + 1, I % NV + 1>), ...);
  }
};

// The tiles of an mc x nc block of C (of C^T when store.transposed), from operands `ops`.
template <class A, GemmBlocking G>
void gemm_tiles(std::size_t mc, std::size_t nc, std::size_t kc, const TileOperands& ops, float* c,
                std::size_t ldc, const GemmTileStore& store) {
  constexpr std::size_t W = Batch<A>::size, MR = G.mr, NR = G.nr, NV = NR / W;
  static_assert(NR % W == 0);
  static constexpr TileTable<A, MR, NV> tiles;
  for (std::size_t jr = 0; jr < nc; jr += NR) {
    const std::size_t cols = min_size(NR, nc - jr);
    const std::size_t vectors = (cols + W - 1) / W;
    const float* b = ops.b + jr * ops.b_panel;
    for (std::size_t ir = 0; ir < mc; ir += MR) {
      const std::size_t rows = min_size(MR, mc - ir);
      const TilePlace place{ir, jr, rows, cols, c, ldc, &store};
      tiles.fn[rows - 1][vectors - 1](kc, ops.a + ir * ops.a_panel, ops.a_step, b, ops.b_step,
                                      place);
    }
  }
}

}  // namespace
}  // namespace descent::kernels
