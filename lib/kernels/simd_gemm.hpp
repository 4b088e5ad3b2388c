#pragma once
// The GEMM's ISA pieces, BLIS-style: packing op(A) (times alpha) into MR-row panels and
// op(B) into NR-column panels, both k-major, and the register tiles that multiply them.
// The blocking loops and the threads live in gemm.cpp. Included by simd_kernels.hpp, inside
// its anonymous namespace rules: everything here has internal linkage.
//
// A tile is an exact-size instantiation of the micro-kernel (rows 1..MR, vectors 1..NR/W),
// so an edge tile does only the work it needs, with the same arithmetic per element as a
// full tile: element (i, j) of C is the FMA chain over p = 0, 1, ... in order, wherever it
// lies and whoever computes it. Only the last vector of a row may be partial: it is loaded
// and stored under a mask (AVX-512, AVX2) or through a stack copy (SSE2), with the same
// vector code.
//
// Operands the kernel can read as they are need no packing: a transposed A (its columns are
// contiguous rows of MR) and a B without transpose (rows of NR contiguous floats). The
// others are packed with 8x8 (and 4x4) transposes written with the compilers' vector
// extensions, which both GCC and Clang lower to the ISA's shuffles.

namespace descent::kernels {
namespace {

using V4 = float __attribute__((vector_size(16)));
using V8 = float __attribute__((vector_size(32)));
using V16 = float __attribute__((vector_size(64)));
template <std::size_t N>
struct VecOf;
template <>
struct VecOf<4> {
  using type = V4;
};
template <>
struct VecOf<8> {
  using type = V8;
};
template <>
struct VecOf<16> {
  using type = V16;
};
template <std::size_t N>
using Vec = typename VecOf<N>::type;

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

// One stage of an N x N transpose held in N vectors (r[i] = row i): within every 2H x 2H
// block, the top-right H x H block swaps with the bottom-left one. Stages H = N/2, ..., 1
// transpose the whole.
template <std::size_t N, std::size_t H, std::size_t... J>
[[gnu::always_inline]] inline void swap_blocks(Vec<N> (&r)[N], std::index_sequence<J...>) {
#pragma GCC unroll 16
  for (std::size_t i = 0; i < N; ++i) {
    if ((i & H) != 0) continue;
    const Vec<N> x = r[i], y = r[i + H];
    r[i] = __builtin_shufflevector(x, y, ((J & H) == 0 ? J : N + J - H)...);
    r[i + H] = __builtin_shufflevector(x, y, ((J & H) == 0 ? J + H : N + J)...);
  }
}

template <std::size_t N, std::size_t H = N / 2>
[[gnu::always_inline]] inline void transpose(Vec<N> (&r)[N]) {
  if constexpr (H >= 1) {
    swap_blocks<N, H>(r, std::make_index_sequence<N>{});
    transpose<N, H / 2>(r);
  }
}

// dst[p * ld_dst + r] = scale * src[r * ld_src + p] for r in [r0, r1), p in [p0, p1): N x N
// blocks where they fit, the strips left over by smaller blocks, the last corner one by one.
template <std::size_t N>
void transpose_region(const float* src, std::size_t ld_src, std::size_t r0, std::size_t r1,
                      std::size_t p0, std::size_t p1, float scale, float* dst, std::size_t ld_dst) {
  const std::size_t r_end = r0 + (r1 - r0) / N * N, p_end = p0 + (p1 - p0) / N * N;
  for (std::size_t r = r0; r < r_end; r += N) {
    for (std::size_t p = p0; p < p_end; p += N) {
      Vec<N> v[N];
#pragma GCC unroll 16
      for (std::size_t i = 0; i < N; ++i) v[i] = load_v<Vec<N>>(src + (r + i) * ld_src + p);
      transpose<N>(v);
#pragma GCC unroll 16
      for (std::size_t i = 0; i < N; ++i) store_v(dst + (p + i) * ld_dst + r, v[i] * scale);
    }
  }
  if constexpr (N > 4) {
    if (r_end > r0 && p_end < p1)  // the strip right of the blocks
      transpose_region<N / 2>(src, ld_src, r0, r_end, p_end, p1, scale, dst, ld_dst);
    if (r_end < r1)  // the strip below them, full width
      transpose_region<N / 2>(src, ld_src, r_end, r1, p0, p1, scale, dst, ld_dst);
  } else {
    for (std::size_t r = r0; r < r1; ++r) {
      for (std::size_t p = r < r_end ? p_end : p0; p < p1; ++p)
        dst[p * ld_dst + r] = scale * src[r * ld_src + p];
    }
  }
}

// dst[p * ld_dst + r] = scale * src[r * ld_src + p] for r < rows, p < cols: a block of a
// row-major matrix written transposed, in the widest square blocks the ISA has.
template <class A>
void transpose_block(const float* src, std::size_t ld_src, std::size_t rows, std::size_t cols,
                     float scale, float* dst, std::size_t ld_dst) {
  constexpr std::size_t W = Batch<A>::size;
  constexpr std::size_t N = W >= 16 ? 16 : W >= 8 ? 8 : 4;
  transpose_region<N>(src, ld_src, 0, rows, 0, cols, scale, dst, ld_dst);
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
      transpose_block<A>(a + (i0 + ir) * lda + p0, lda, rows, kc, alpha, dst, MR);
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
      transpose_block<A>(b + (j0 + jr) * ldb + p0, ldb, cols, kc, 1.0f, dst, NR);
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
  float* scratch;  // 64-byte aligned room for a whole tile (transposed and partial stores)
};

// Loads and stores of a vector's first `lanes` floats under a mask, for the ISAs that have
// them (xsimd 8.1 has no masked loads or stores). Masked-off lanes read as 0, are not
// written, and never fault.
template <class A>
struct MaskedLanes {
  static constexpr bool available = false;
};
#if defined(__AVX512F__)
template <>
struct MaskedLanes<xsimd::avx512f> {
  static constexpr bool available = true;
  __mmask16 mask;
  explicit MaskedLanes(std::size_t lanes) : mask(static_cast<__mmask16>((1u << lanes) - 1u)) {}
  Batch<xsimd::avx512f> load(const float* p) const { return _mm512_maskz_loadu_ps(mask, p); }
  void store(float* p, Batch<xsimd::avx512f> v) const { _mm512_mask_storeu_ps(p, mask, v); }
};
#endif
#if defined(__AVX2__)
template <>
struct MaskedLanes<xsimd::fma3<xsimd::avx2>> {
  static constexpr bool available = true;
  __m256i mask;
  explicit MaskedLanes(std::size_t lanes)
      : mask(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)),
                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))) {}
  Batch<xsimd::fma3<xsimd::avx2>> load(const float* p) const { return _mm256_maskload_ps(p, mask); }
  void store(float* p, Batch<xsimd::fma3<xsimd::avx2>> v) const { _mm256_maskstore_ps(p, mask, v); }
};
#endif

// Stores the first `lanes` of value into c[0..lanes) as tile vectors are stored: combined
// with C and finished with bias (at bias) and derivative (at y) by stored_value. Under a mask
// where the ISA has one (MaskedLanes): the copies through the stack made an edge tile of 4
// columns cost more than its tiles' work (NN 512 x 100 x 10). The lanes past `lanes` read as
// 0 either way, so the bits are the same.
template <class A>
[[gnu::always_inline]] inline void store_lanes(const GemmTileStore& s, float* c, const float* bias,
                                               const float* y, std::size_t lanes, Batch<A> value) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  if constexpr (MaskedLanes<A>::available) {
    const MaskedLanes<A> m(lanes);
    const B zero(0.0f);
    const B cv = s.overwrite ? zero : m.load(c);
    const B bv = bias != nullptr ? m.load(bias) : zero;
    const B yv = y != nullptr ? m.load(y) : zero;
    m.store(c, stored_value<A>(s, value, cv, bv, yv));
  } else {
    alignas(64) float cb[W] = {}, bb[W] = {}, yb[W] = {}, out[W];
    for (std::size_t l = 0; l < lanes; ++l) {
      if (!s.overwrite) cb[l] = c[l];
      if (bias != nullptr) bb[l] = bias[l];
      if (y != nullptr) yb[l] = y[l];
    }
    stored_value<A>(s, value, B::load_aligned(cb), B::load_aligned(bb), B::load_aligned(yb))
        .store_aligned(out);
    for (std::size_t l = 0; l < lanes; ++l) c[l] = out[l];
  }
}

// Stores vector v of tile row r of an untransposed tile: whole vectors straight into C, a
// partial one by store_lanes, with the same arithmetic.
template <class A>
[[gnu::always_inline]] inline void store_vector(const TilePlace& t, std::size_t r, std::size_t v,
                                                Batch<A> acc) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  const GemmTileStore& s = *t.store;
  const std::size_t i = t.i0 + r, j = t.j0 + v * W;
  const std::size_t lanes = min_size(W, t.cols - v * W);
  float* c = t.c + i * t.ldc + j;
  const float* y =
      s.last && s.derivative != nullptr ? s.derivative + i * s.ld_derivative + j : nullptr;
  const float* bias = s.last && s.bias != nullptr ? s.bias + j : nullptr;
  const B zero(0.0f);
  if (lanes == W) {
    const B cv = s.overwrite ? zero : B::load_unaligned(c);
    stored_value<A>(s, acc, cv, bias != nullptr ? B::load_unaligned(bias) : zero,
                    y != nullptr ? B::load_unaligned(y) : zero)
        .store_unaligned(c);
    return;
  }
  store_lanes<A>(s, c, bias, y, lanes, acc);
}

// Stores a tile whose last vector of each row is partial, held row by row in the scratch
// tile: one call for the tile. (A call per vector made the compiler save and restore every
// accumulator around each call, as the ABI has no callee-saved vector registers.)
template <class A, std::size_t ROWS, std::size_t NV>
[[gnu::noinline]] void store_partial(const TilePlace& t) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  for (std::size_t r = 0; r < ROWS; ++r)
    for (std::size_t v = 0; v < NV; ++v)
      store_vector<A>(t, r, v, B::load_aligned(t.scratch + r * NV * W + v * W));
}

// Stores a tile of C^T (held row by row in `out`): C^T(i, j) lives at c[j * ldc + i], so the
// tile is transposed on its way in and out, 8x8 blocks at a time, and in between combined
// with C, bias and derivative by the same vector arithmetic as any other tile.
template <class A, std::size_t ROWS, std::size_t NV>
[[gnu::noinline]] void store_transposed(const TilePlace& t) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size, LD = NV * W;
  float(&out)[ROWS][LD] = *reinterpret_cast<float(*)[ROWS][LD]>(t.scratch);
  const GemmTileStore& s = *t.store;
  float* c = t.c + t.j0 * t.ldc + t.i0;
  alignas(64) float old[ROWS][LD] = {}, y[ROWS][LD] = {};
  if (!s.overwrite) transpose_block<A>(c, t.ldc, t.cols, t.rows, 1.0f, &old[0][0], LD);
  const bool derivative = s.last && s.derivative != nullptr;
  if (derivative) {
    transpose_block<A>(s.derivative + t.j0 * s.ld_derivative + t.i0, s.ld_derivative, t.cols,
                       t.rows, 1.0f, &y[0][0], LD);
  }
  for (std::size_t r = 0; r < t.rows; ++r) {
    const B bias(s.last && s.bias != nullptr ? s.bias[t.i0 + r] : 0.0f);
    for (std::size_t v = 0; v < NV; ++v) {
      stored_value<A>(s, B::load_aligned(&out[r][v * W]), B::load_aligned(&old[r][v * W]), bias,
                      B::load_aligned(&y[r][v * W]))
          .store_aligned(&out[r][v * W]);
    }
  }
  transpose_block<A>(&out[0][0], LD, t.rows, t.cols, 1.0f, c, t.ldc);
}

// The micro-kernel: a ROWS x (NV vectors) tile, acc += A panel x B panel over kc, then
// stored. ROWS and NV are exact: edge tiles are their own instantiations. A panel's element
// (r, p) is a[r + p * a_step] (packed, or a transposed A in place), or with ROWS_APART
// a[r * a_row + p] (a row-major A in place). PF_B and PF_A: GemmBlocking's prefetch_b and
// prefetch_a. FETCH_C: a short-K tile fetches its C for writing (GemmBlocking's short-K tiles).
template <class A, std::size_t ROWS, std::size_t NV, bool ROWS_APART, std::size_t PF_B,
          std::size_t PF_A, bool FETCH_C>
[[gnu::always_inline]] inline void tile_body(std::size_t kc, const float* a, std::size_t a_row,
                                             std::size_t a_step, const float* b, std::size_t b_step,
                                             const TilePlace& place) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  B acc[ROWS][NV];
#pragma GCC unroll 16
  for (std::size_t r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NV; ++v) acc[r][v] = B(0.0f);
  // Rows apart: a base pointer every third row, the others at one and two a_row past it
  // (x86 addressing scales 4 and 8), so that the rows need 5 registers, not 12.
  constexpr std::size_t kBases = ROWS_APART ? (ROWS + 2) / 3 : 1;
  const float* base[kBases];
  for (std::size_t i = 0; i < kBases; ++i) base[i] = a + 3 * i * a_row;
  // Prefetch distances in bytes. Only a long block prefetches: a short one would fetch
  // mostly past its panels. A row-major A read in place is ROWS streams the hardware follows.
  // The addresses run past the operands in a block's last steps, harmless for a prefetch; they
  // are formed as integers, not as pointers past the arrays.
  const std::uintptr_t b_ahead = PF_B * b_step * sizeof(float),
                       a_ahead = PF_A * a_step * sizeof(float);
  constexpr std::size_t kLines = (NV * W + 15) / 16;  // 64-byte lines per row of B's panel
  auto fetch = [](const float* p, std::uintptr_t ahead) __attribute__((always_inline)) {
    __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(p) + ahead),
                       0, 3);
  };
  auto step = [&](auto prefetch) __attribute__((always_inline)) {
    if constexpr (decltype(prefetch)::value && PF_B > 0) {
#pragma GCC unroll 4
      for (std::size_t l = 0; l < kLines; ++l) fetch(b + l * 16, b_ahead);
    }
    if constexpr (decltype(prefetch)::value && PF_A > 0 && !ROWS_APART) fetch(base[0], a_ahead);
    B bv[NV];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NV; ++v) bv[v] = B::load_unaligned(b + v * W);
#pragma GCC unroll 16
    for (std::size_t r = 0; r < ROWS; ++r) {
      const B av(ROWS_APART ? base[r / 3 % kBases][(r % 3) * a_row] : base[0][r]);
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(av, bv[v], acc[r][v]);
    }
#pragma GCC unroll 8
    for (std::size_t i = 0; i < kBases; ++i) base[i] += a_step;
    b += b_step;
  };
  if (kc < kGemmShortK || (PF_B == 0 && PF_A == 0 && place.store->transposed)) {
    std::size_t p = 0;
    if constexpr (FETCH_C) {
      // A short K stores a tile's C every few dozen cycles, and a store that waits for its
      // line holds up the stores behind it until the core stalls. So each of the first steps
      // asks for one row of the tile's C for writing, and the lines arrive while the K loop
      // runs. (These tiles are only ever full-width and untransposed: see gemm_tiles.)
      for (std::size_t r = 0; r < ROWS; ++r) {
        const float* row = place.c + (place.i0 + r) * place.ldc + place.j0;
#pragma GCC unroll 4
        for (std::size_t l = 0; l < kLines; ++l) __builtin_prefetch(row + l * 16, 1, 3);
        if (p < kc) {
          step(std::false_type{});
          ++p;
        }
      }
    }
    for (; p < kc; ++p) step(std::false_type{});
  } else if (place.store->transposed) {
    for (std::size_t p = 0; p < kc; ++p) step(std::true_type{});
  } else {
    // C's lines, needed at the end, are fetched for writing while the K loop runs, a row of
    // the tile every kc / ROWS steps: its rows lie ldc apart, often a page or more, and a
    // miss per row at the store stalls a long tile (square 1024: 0.89 -> 0.95 of oneDNN).
    // Spread out rather than all at the start, they hold up the loop's own loads less. A
    // short K takes the branch above: there the ISA's short-K tiles fetch C (FETCH_C), and
    // the MR x NR tiles write C in long runs that the hardware prefetches by itself.
    const std::size_t interval = kc / ROWS;
    const float* row = place.c + place.i0 * place.ldc + place.j0;
    for (std::size_t r = 0; r < ROWS; ++r, row += place.ldc) {
#pragma GCC unroll 4
      for (std::size_t l = 0; l < kLines; ++l) __builtin_prefetch(row + l * 16, 1, 3);
      for (std::size_t q = 0; q < interval; ++q) step(std::true_type{});
    }
    for (std::size_t p = ROWS * interval; p < kc; ++p) step(std::true_type{});
  }
  const GemmTileStore& s = *place.store;
  if (!s.transposed && place.cols == NV * W) {
    // Whole vectors into C: straight loads and stores, the checks hoisted out of the loops
    // (and what they need copied first: a store to C could alias anything behind a pointer).
    const std::size_t ldc = place.ldc;
    float* const c = place.c + place.i0 * ldc + place.j0;
    const bool epilogue = s.last && (s.bias != nullptr || s.activation != Activation::identity ||
                                     s.derivative != nullptr);
    // A running row pointer: twelve precomputed row addresses would not fit the registers.
    float* row = c;
    if (!epilogue && s.overwrite) {
#pragma GCC unroll 16
      for (std::size_t r = 0; r < ROWS; ++r, row += ldc)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) acc[r][v].store_unaligned(row + v * W);
    } else if (!epilogue) {
#pragma GCC unroll 16
      for (std::size_t r = 0; r < ROWS; ++r, row += ldc) {
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v)
          (B::load_unaligned(row + v * W) + acc[r][v]).store_unaligned(row + v * W);
      }
    } else if (s.derivative == nullptr && s.bias != nullptr &&
               (s.activation == Activation::relu || s.activation == Activation::identity)) {
      // A forward layer's store: bias, then ReLU or nothing (what stored_value computes, with
      // the bias read once per tile and no per-vector switch over every activation).
      B bias[NV];
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NV; ++v) bias[v] = B::load_unaligned(s.bias + place.j0 + v * W);
      const bool apply_relu = s.activation == Activation::relu;
      const bool overwrite = s.overwrite;
#pragma GCC unroll 16
      for (std::size_t r = 0; r < ROWS; ++r, row += ldc) {
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) {
          B value = overwrite ? acc[r][v] : B::load_unaligned(row + v * W) + acc[r][v];
          value = value + bias[v];
          if (apply_relu) value = relu<A>(value);
          value.store_unaligned(row + v * W);
        }
      }
    } else if (s.derivative != nullptr && s.bias == nullptr &&
               s.activation == Activation::identity &&
               s.derivative_activation == Activation::relu) {
      // A backward product's store: the ReLU's derivative at the layer's output y.
      const float* y = s.derivative + place.i0 * s.ld_derivative + place.j0;
      const std::size_t ldy = s.ld_derivative;
      const bool overwrite = s.overwrite;
#pragma GCC unroll 16
      for (std::size_t r = 0; r < ROWS; ++r, row += ldc, y += ldy) {
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) {
          const B value = overwrite ? acc[r][v] : B::load_unaligned(row + v * W) + acc[r][v];
          xsimd::select(B::load_unaligned(y + v * W) > B(0.0f), value, B(0.0f))
              .store_unaligned(row + v * W);
        }
      }
    } else {
      const B zero(0.0f);
#pragma GCC unroll 16
      for (std::size_t r = 0; r < ROWS; ++r, row += ldc) {
        const std::size_t i = place.i0 + r;
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) {
          const std::size_t j = place.j0 + v * W;
          float* at = row + v * W;
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
  // A tile of C^T, or one whose last vector in each row is partial: through the scratch tile
  // (not a local array: the frame of every tile would pay for it), stored out of line. (One
  // spill in each branch: one shared before the branch measured 2-3% slower on NN 512 x 100
  // x 10, 0.686-0.691 of oneDNN against 0.705-0.715 in four alternating rounds.)
  auto spill = [&]() __attribute__((always_inline)) {
#pragma GCC unroll 16
    for (std::size_t r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NV; ++v)
        acc[r][v].store_aligned(place.scratch + r * NV * W + v * W);
  };
  if (s.transposed) {
    spill();
    store_transposed<A, ROWS, NV>(place);
    return;
  }
  spill();
  store_partial<A, ROWS, NV>(place);
}

// One tile (an edge tile's exact size).
template <class A, std::size_t ROWS, std::size_t NV, bool ROWS_APART, std::size_t PF_B,
          std::size_t PF_A, bool FETCH_C>
void tile(std::size_t kc, const TileOperands& ops, const float* a, const float* b,
          const TilePlace& place) {
  tile_body<A, ROWS, NV, ROWS_APART, PF_B, PF_A, FETCH_C>(kc, a, ops.a_row, ops.a_step, b,
                                                          ops.b_step, place);
}

// `count` full tiles down a column of the block, panel after panel of A against one panel
// of B: one call for the lot, so small-K products do not pay a call per tile.
template <class A, std::size_t ROWS, std::size_t NV, bool ROWS_APART, std::size_t PF_B,
          std::size_t PF_A, bool FETCH_C>
void tile_column(std::size_t count, std::size_t kc, const TileOperands& ops, const float* b,
                 TilePlace place) {
  const float* a = ops.a;
  const std::size_t a_row = ops.a_row, a_step = ops.a_step, b_step = ops.b_step;
  const std::size_t a_next = ROWS * ops.a_panel;
  for (std::size_t t = 0; t < count; ++t) {
    tile_body<A, ROWS, NV, ROWS_APART, PF_B, PF_A, FETCH_C>(kc, a, a_row, a_step, b, b_step, place);
    a += a_next;
    place.i0 += ROWS;
  }
}

// `strips` rows of tiles, one after another, each `count` full-width tiles along the block
// from column 0: a panel of A against panel after panel of B (for a short K, so that C is
// written in long runs). One call for them all, so a short K does not pay a call per row.
template <class A, std::size_t ROWS, std::size_t NV, bool ROWS_APART, std::size_t PF_B,
          std::size_t PF_A, bool FETCH_C>
void tile_row(std::size_t strips, std::size_t count, std::size_t kc, const TileOperands& ops,
              const float* a, TilePlace place) {
  const std::size_t a_row = ops.a_row, a_step = ops.a_step, b_step = ops.b_step;
  const std::size_t b_next = NV * Batch<A>::size * ops.b_panel, a_next = ROWS * ops.a_panel;
  for (std::size_t s = 0; s < strips; ++s) {
    const float* b = ops.b;
    place.j0 = 0;
    for (std::size_t t = 0; t < count; ++t) {
      tile_body<A, ROWS, NV, ROWS_APART, PF_B, PF_A, FETCH_C>(kc, a, a_row, a_step, b, b_step,
                                                              place);
      b += b_next;
      place.j0 += NV * Batch<A>::size;
    }
    a += a_next;
    place.i0 += ROWS;
  }
}

using TileFn = void (*)(std::size_t kc, const TileOperands& ops, const float* a, const float* b,
                        const TilePlace& place);
using RowFn = void (*)(std::size_t strips, std::size_t count, std::size_t kc,
                       const TileOperands& ops, const float* a, TilePlace place);
using ColumnFn = void (*)(std::size_t count, std::size_t kc, const TileOperands& ops,
                          const float* b, TilePlace place);

// Every tile size of an MR x (NV vectors) blocking, for both layouts of A:
// fn[rows apart][rows - 1][vectors - 1]. PF_B, PF_A: the blocking's prefetch distances;
// FETCH_C: see tile_body.
template <class A, std::size_t MR, std::size_t NV, std::size_t PF_B = 0, std::size_t PF_A = 0,
          bool FETCH_C = false>
struct TileTable {
  TileFn fn[2][MR][NV];
  ColumnFn column[2][NV];
  RowFn row[2][MR];
  constexpr TileTable() : fn{}, column{}, row{} {
    fill(std::make_index_sequence<MR * NV>{});
    fill_columns(std::make_index_sequence<NV>{});
  }

 private:
  template <std::size_t... I>
  constexpr void fill(std::index_sequence<I...>) {
    ((fn[0][I / NV][I % NV] = &tile<A, I / NV + 1, I % NV + 1, false, PF_B, PF_A, FETCH_C>), ...);
    ((fn[1][I / NV][I % NV] = &tile<A, I / NV + 1, I % NV + 1, true, PF_B, PF_A, FETCH_C>), ...);
    fill_rows(std::make_index_sequence<MR>{});
  }
  template <std::size_t... I>
  constexpr void fill_rows(std::index_sequence<I...>) {
    ((row[0][I] = &tile_row<A, I + 1, NV, false, PF_B, PF_A, FETCH_C>), ...);
    ((row[1][I] = &tile_row<A, I + 1, NV, true, PF_B, PF_A, FETCH_C>), ...);
  }
  template <std::size_t... I>
  constexpr void fill_columns(std::index_sequence<I...>) {
    ((column[0][I] = &tile_column<A, MR, I + 1, false, PF_B, PF_A, FETCH_C>), ...);
    ((column[1][I] = &tile_column<A, MR, I + 1, true, PF_B, PF_A, FETCH_C>), ...);
  }
};

// ---------------------------------------------------------------------------------------
// Dot-product tiles, for C = op(A) B^T with a narrow C (an output layer's forward): both
// operands are read along K as they are, so neither is transposed, and each element of C is
// the lane-wise FMA chain over K in vector steps, then the lanes summed by a fixed tree.

// The shuffle indices that combine x and y, each W lanes in groups of S lanes per sum, into
// one vector of 2 * W / S groups of S / 2 lanes: lanes q and q + S / 2 of each group added.
template <std::size_t W, std::size_t S, bool HIGH>
constexpr int fold_lane(std::size_t i) {
  const std::size_t half = W / 2, s2 = S / 2;
  const std::size_t base = i < half ? 0 : W;
  const std::size_t j = i < half ? i : i - half;
  return static_cast<int>(base + (j / s2) * S + j % s2 + (HIGH ? s2 : 0));
}

template <std::size_t W, std::size_t S, class R, std::size_t... I>
[[gnu::always_inline]] inline R fold(R x, R y, std::index_sequence<I...>) {
  return __builtin_shufflevector(x, y, fold_lane<W, S, false>(I)...) +
         __builtin_shufflevector(x, y, fold_lane<W, S, true>(I)...);
}

// v[0..S): S vectors of W / S sums of S lanes each, folded down to one vector whose lane l
// is the sum of the lanes of the original v[l].
template <std::size_t W, std::size_t S, class R>
[[gnu::always_inline]] inline R fold_all(R* v) {
  if constexpr (S == 1) {
    return v[0];
  } else {
#pragma GCC unroll 16
    for (std::size_t i = 0; i < S / 2; ++i)
      v[i] = fold<W, S>(v[2 * i], v[2 * i + 1], std::make_index_sequence<W>{});
    return fold_all<W, S / 2>(v);
  }
}

// Lane l of the result is the sum of the lanes of v[l], always by the same tree.
template <class A>
[[gnu::always_inline]] inline Batch<A> sum_lanes(const Batch<A> (&v)[Batch<A>::size]) {
  using R = typename Batch<A>::register_type;
  constexpr std::size_t W = Batch<A>::size;
  R regs[W];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < W; ++i) regs[i] = v[i];
  if constexpr (W == 1) {
    return Batch<A>(regs[0]);
  } else {
    return Batch<A>(fold_all<W, W>(regs));
  }
}

// Makes the compiler hold v in a register from here on. It folds a load that several FMAs
// use into each of them, which reads the same vector once per FMA: the dot tiles then did
// 22 loads for 20 FMAs and ran at about half the FMA rate.
template <class A>
[[gnu::always_inline]] inline void keep_in_register(Batch<A>& v) {
  typename Batch<A>::register_type r = v;
  asm("" : "+v"(r));
  v = r;
}

// Where a dot tile goes: C at its first element, the row and column of that element in the
// product (for bias and derivative), and how to store.
struct DotPlace {
  float* c;
  std::size_t ldc, i0, j0;
  const GemmTileStore* store;
};

// An R x C tile of C = alpha (rows of a) . (columns of the group) over k, stored. The group
// is packed chunk by chunk, [k / W][C][W], zero past k; or, with ldb != 0, it is B's C rows
// where they lie, ldb apart, read the same way (the last partial chunk through zero-padded
// copies), so the sums are the same bits either way.
template <class A, std::size_t R, std::size_t C>
void dot_tile(std::size_t k, float alpha, const float* a, std::size_t lda, const float* group,
              std::size_t ldb, const DotPlace& place) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  B acc[R][C];
#pragma GCC unroll 4
  for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (std::size_t c = 0; c < C; ++c) acc[r][c] = B(0.0f);
  const B scale(alpha);
  const std::size_t whole = k / W;
  // bp: the chunk's first column, and how far apart its columns are.
  auto step = [&](const B(&av)[R], const float* bp, std::size_t apart, bool aligned) {
#pragma GCC unroll 16
    for (std::size_t c = 0; c < C; ++c) {
      B bv = aligned ? B::load_aligned(bp + c * apart) : B::load_unaligned(bp + c * apart);
      if constexpr (R > 1) keep_in_register<A>(bv);
#pragma GCC unroll 4
      for (std::size_t r = 0; r < R; ++r) acc[r][c] = xsimd::fma(av[r], bv, acc[r][c]);
    }
  };
  for (std::size_t chunk = 0; chunk < whole; ++chunk) {
    B av[R];
#pragma GCC unroll 4
    for (std::size_t r = 0; r < R; ++r) {
      av[r] = B::load_unaligned(a + r * lda + chunk * W);
      if (alpha != 1.0f) av[r] *= scale;
    }
    if (ldb == 0) {
      step(av, group + chunk * C * W, W, true);
    } else {
      step(av, group + chunk * W, ldb, false);
    }
  }
  if (whole * W < k) {
    // The last partial chunk: A through zero-padded copies, the same arithmetic.
    B av[R];
    for (std::size_t r = 0; r < R; ++r) {
      alignas(64) float tail[W] = {};
      for (std::size_t q = whole * W; q < k; ++q) tail[q - whole * W] = a[r * lda + q];
      av[r] = B::load_aligned(tail);
      if (alpha != 1.0f) av[r] *= scale;
    }
    if (ldb == 0) {
      step(av, group + whole * C * W, W, true);
    } else {
      alignas(64) float tail[C * W] = {};
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t q = whole * W; q < k; ++q)
          tail[c * W + q - whole * W] = group[c * ldb + q];
      step(av, tail, W, true);
    }
  }
  // Each row's sums, W columns at a time: lane l of a reduced vector is column v * W + l.
  const GemmTileStore& s = *place.store;
  constexpr std::size_t NV = (C + W - 1) / W;
#pragma GCC unroll 4
  for (std::size_t r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NV; ++v) {
      B batch[W];
#pragma GCC unroll 16
      for (std::size_t l = 0; l < W; ++l) batch[l] = v * W + l < C ? acc[r][v * W + l] : B(0.0f);
      const std::size_t i = place.i0 + r, j = place.j0 + v * W;
      store_lanes<A>(s, place.c + r * place.ldc + v * W, s.bias != nullptr ? s.bias + j : nullptr,
                     s.derivative != nullptr ? s.derivative + i * s.ld_derivative + j : nullptr,
                     min_size(W, C - v * W), sum_lanes<A>(batch));
    }
  }
}

using DotFn = void (*)(std::size_t k, float alpha, const float* a, std::size_t lda,
                       const float* group, std::size_t ldb, const DotPlace& place);

template <class A, std::size_t R, std::size_t C>
struct DotTable {
  DotFn fn[R][C];
  constexpr DotTable() : fn{} { fill(std::make_index_sequence<R * C>{}); }

 private:
  template <std::size_t... I>
  constexpr void fill(std::index_sequence<I...>) {
    ((fn[I / C][I % C] = &dot_tile<A, I / C + 1, I % C + 1>), ...);
  }
};

// Rows [0, m) of C = epilogue(alpha A B^T + C or not): A [m, k] and B [n, k] row-major, in
// tiles of up to R rows and C columns. scratch holds C * round_up(k, W) floats, into which
// each group of B's rows is copied for all the row tiles to read; null, B is read where it
// lies (for a few rows of A, which read each row of B about once: a copy would only add to it).
template <class A, std::size_t R, std::size_t C>
void gemm_dot(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
              std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc,
              const GemmTileStore& store, float* scratch) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  static constexpr DotTable<A, R, C> tiles;
  const std::size_t chunks = (k + W - 1) / W;
  for (std::size_t j = 0; j < n; j += C) {
    const std::size_t cols = min_size(C, n - j);
    // B's rows j.., where they lie (group_ld apart), or copied as [chunk][cols][W], zero past
    // k (group_ld 0).
    const float* group = b + j * ldb;
    std::size_t group_ld = ldb;
    if (scratch != nullptr) {
      for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
        for (std::size_t col = 0; col < cols; ++col) {
          float* dst = scratch + (chunk * cols + col) * W;
          const float* src = b + (j + col) * ldb + chunk * W;
          const std::size_t lanes = min_size(W, k - chunk * W);
          if (lanes == W) {
            B::load_unaligned(src).store_aligned(dst);
          } else {
            for (std::size_t l = 0; l < W; ++l) dst[l] = l < lanes ? src[l] : 0.0f;
          }
        }
      }
      group = scratch;
      group_ld = 0;
    }
    for (std::size_t i = 0; i < m; i += R) {
      const std::size_t rows = min_size(R, m - i);
      const DotPlace place{c + i * ldc + j, ldc, i, j, &store};
      tiles.fn[rows - 1][cols - 1](k, alpha, a + i * lda, lda, group, group_ld, place);
    }
  }
}

// The tiles of a block with a short K, TMR x TNR at a time from `table`: rows of C one after
// another, so that C is written in long runs. The full-height rows of full-width tiles go in
// one call (at K = 10 a call per row cost about as much as its tiles' arithmetic), then the
// rows left over, then any edge column, a tile per row.
template <class A, std::size_t TMR, std::size_t TNR, class Table>
void short_k_rows(const Table& table, std::size_t mc, std::size_t nc, std::size_t kc,
                  const TileOperands& ops, float* c, std::size_t ldc, const GemmTileStore& store,
                  float* scratch) {
  constexpr std::size_t W = Batch<A>::size;
  const std::size_t apart = ops.a_row != 1 ? 1 : 0;
  const std::size_t full = nc / TNR, strips = mc / TMR, done = strips * TMR;
  if (full > 0) {
    if (strips > 0)
      table.row[apart][TMR - 1](strips, full, kc, ops, ops.a,
                                TilePlace{0, 0, TMR, TNR, c, ldc, &store, scratch});
    if (done < mc)
      table.row[apart][mc - done - 1](1, full, kc, ops, ops.a + done * ops.a_panel,
                                      TilePlace{done, 0, mc - done, TNR, c, ldc, &store, scratch});
  }
  if (const std::size_t cols = nc - full * TNR; cols > 0) {
    const std::size_t jr = full * TNR;
    for (std::size_t ir = 0; ir < mc; ir += TMR) {
      const std::size_t rows = min_size(TMR, mc - ir);
      const TilePlace place{ir, jr, rows, cols, c, ldc, &store, scratch};
      table.fn[apart][rows - 1][(cols + W - 1) / W - 1](kc, ops, ops.a + ir * ops.a_panel,
                                                        ops.b + jr * ops.b_panel, place);
    }
  }
}

// The tiles of an mc x nc block of C (of C^T when store.transposed), from operands `ops`.
template <class A, GemmBlocking G>
void gemm_tiles(std::size_t mc, std::size_t nc, std::size_t kc, const TileOperands& ops, float* c,
                std::size_t ldc, const GemmTileStore& store) {
  constexpr std::size_t W = Batch<A>::size, MR = G.mr, NR = G.nr, NV = NR / W;
  static_assert(NR % W == 0);
  static constexpr TileTable<A, MR, NV, G.prefetch_b, G.prefetch_a> tiles;
  alignas(64) float scratch[MR * NR];
  const std::size_t apart = ops.a_row != 1 ? 1 : 0;
  if (kc < kGemmShortK) {
    if constexpr (G.short_k_mr > 0) {
      // The ISA's own short-K tiles, where they fit: A read in place (a tile may then start
      // on any row), B read in place (any column), C's width a multiple of theirs (a narrow
      // edge tile would have too few accumulators to hide the FMA latency; edges of two or
      // more vectors were level with the MR x NR tiles, 0.70-0.74 of oneDNN against
      // 0.70-0.72 at NN 512 x 100 x 10, and lost at 512 x 96 x 10, 0.83-0.89 against 0.90-0.96).
      static_assert(G.short_k_nr % W == 0 && G.short_k_mr * G.short_k_nr <= MR * NR);
      if (kc <= G.short_k_depth && ops.a_any_row && ops.b_panel == 1 && !store.transposed &&
          nc % G.short_k_nr == 0) {
        static constexpr TileTable<A, G.short_k_mr, G.short_k_nr / W, 0, 0, true> short_tiles;
        short_k_rows<A, G.short_k_mr, G.short_k_nr>(short_tiles, mc, nc, kc, ops, c, ldc, store,
                                                    scratch);
        return;
      }
    }
    short_k_rows<A, MR, NR>(tiles, mc, nc, kc, ops, c, ldc, store, scratch);
    return;
  }
  // A few rows left over after the full tiles would make an edge tile of too few
  // accumulators to hide the FMA latency (2 of 6 rows on AVX2 ran at half speed: a 32-row
  // product's tiles at 0.94 of the whole). Where A can be read from any row, the last full
  // tile and those rows are cut into two tiles of about equal height instead. Every element
  // of C is the same chain of FMAs whatever tile computes it, so the bits do not change.
  const std::size_t full = mc / MR, left = mc - full * MR;
  const bool evens = ops.a_any_row && full > 0 && left > 0 && 2 * left < MR;
  const std::size_t last_full = evens ? full - 1 : full;
  const std::size_t tails[2] = {evens ? (MR + left + 1) / 2 : left, evens ? (MR + left) / 2 : 0};
  for (std::size_t jr = 0; jr < nc; jr += NR) {
    const std::size_t cols = min_size(NR, nc - jr);
    const std::size_t vectors = (cols + W - 1) / W;
    const float* b = ops.b + jr * ops.b_panel;
    if (last_full > 0) {
      tiles.column[apart][vectors - 1](last_full, kc, ops, b,
                                       TilePlace{0, jr, MR, cols, c, ldc, &store, scratch});
    }
    std::size_t ir = last_full * MR;
    for (const std::size_t rows : tails) {
      if (rows == 0) continue;
      const TilePlace place{ir, jr, rows, cols, c, ldc, &store, scratch};
      tiles.fn[apart][rows - 1][vectors - 1](kc, ops, ops.a + ir * ops.a_panel, b, place);
      ir += rows;
    }
  }
}

}  // namespace
}  // namespace descent::kernels
