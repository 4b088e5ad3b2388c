// The GEMM driver: BLIS's five loops around an ISA's packing routines and register tiles.
//
//   for jc in N by nc            (columns of C: one packed B block, kc x nc, shared)
//     for pc in K by kc          (K blocks, in order: the sums never depend on the split)
//       pack B
//       for column chunks of     (tasks: chunk-major, each packing its own A block)
//           the B block, and
//           ic in M by mc
//         tiles                  (mr x nr register tiles, in gemm_tiles)
//
// Block sizes are the ISA's data (GemmBlocking). Threads split M and the columns of each B
// block, never K, so every element of C is summed in the same order on any thread count.
// The pieces of B a thread packs are the columns its tasks then read, and each task packs
// its own A block: on every core the packed operands it reads are the ones it just wrote,
// not lines the other core's cache holds (a 2-thread forward at batch 128 ran in 0.74-0.77x
// the time it took handing A blocks and B columns across).

#include "kernels/gemm.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "descent/matrix.hpp"
#include "descent/parallel.hpp"
#include "kernels/kernel_table.hpp"
#include "parallel/parallel.hpp"

namespace descent::kernels {
namespace {

std::size_t ceil_div(std::size_t a, std::size_t b) {
  return (a + b - 1) / b;
}
std::size_t round_up(std::size_t a, std::size_t b) {
  return ceil_div(a, b) * b;
}
Trans flip(Trans t) {
  return t == Trans::no ? Trans::yes : Trans::no;
}

// An operand is read in place only when its rows are closer than this (floats: 4 KiB).
constexpr std::size_t kDirectStride = 1024;

// Below this many multiply-adds a product is not worth splitting across threads, on the
// register tiles or on the dot-product tiles of a narrow product. With AVX2 (8 lanes) the
// output layer's products of a batch of 512 (fwd 512 x 10 x 256, dw 10 x 256 x 512: 1.3 M
// multiply-adds, about 55 us on one thread) run on the register tiles, and at 2^21 they
// stayed on one thread: on 2 threads fwd took 55-70 us against oneDNN's 39-44; split, 33-43
// us (dw 36-49 -> 24-37 us). At 2^17 and 2^18 the products of 128 and fewer rows split too,
// with no gain the noise let through. The dot-product tiles (AVX-512's narrow fwd) run at
// half to two thirds of the register tiles' rate (fwd 512 x 10 x 256: 92-136 GFLOP/s on one
// thread against about 200) and were already split from 2^19.
constexpr double kParallelFmas = 1 << 19;

// Whether a product of m x n x k multiply-adds is split across the library's threads.
bool splits(bool parallel, std::size_t m, std::size_t n, std::size_t k) {
  return parallel && descent::threads() > 1 &&
         static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >= kParallelFmas;
}

// Packing buffers: a call takes its B buffer for its whole run, a task its A buffer for its
// block, and both give them back, so concurrent and nested calls never share one. The
// trainer fills the pools before training (gemm_reserve), so steps allocate none (on up to
// max(cores, 16) threads; threads beyond take theirs at first use).
class BufferPool {
 public:
  BufferPool() { free_.reserve(kMaxThreads + 8); }
  std::unique_ptr<AlignedBuffer<float>> take(std::size_t size) {
    std::unique_ptr<AlignedBuffer<float>> buffer;
    {
      std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        buffer = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!buffer) buffer = std::make_unique<AlignedBuffer<float>>();
    if (buffer->size() < size) buffer->resize(size);
    return buffer;
  }
  void give(std::unique_ptr<AlignedBuffer<float>> buffer) {
    std::lock_guard lock(mutex_);
    if (free_.size() < free_.capacity()) free_.push_back(std::move(buffer));
  }
  void fill(std::size_t count, std::size_t size) {
    std::lock_guard lock(mutex_);
    for (auto& b : free_)
      if (b->size() < size) b->resize(size);
    while (free_.size() < std::min(count, free_.capacity())) {
      free_.push_back(std::make_unique<AlignedBuffer<float>>(size));
    }
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<AlignedBuffer<float>>> free_;
};

BufferPool& a_pool() {
  static BufferPool pool;
  return pool;
}

BufferPool& b_pool() {
  static BufferPool pool;
  return pool;
}

// The scalar reference has no tiles: its sgemm, then the epilogue as separate passes.
void reference_gemm(const KernelTable& t, Trans ta, Trans tb, std::size_t m, std::size_t n,
                    std::size_t k, float alpha, const float* a, std::size_t lda, const float* b,
                    std::size_t ldb, float beta, float* c, std::size_t ldc, const GemmEpilogue& e) {
  t.sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  for (std::size_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (e.bias != nullptr)
      for (std::size_t j = 0; j < n; ++j) row[j] += e.bias[j];
    t.activation_forward(e.activation, n, row, row);
    if (e.derivative != nullptr)
      t.activation_backward(e.derivative_activation, n, e.derivative + i * e.ld_derivative, row,
                            row);
  }
}

// C = epilogue(alpha A B^T + beta C) for a narrow C, or one of at most dot_rows rows (a batch
// of one's forward pass: no B packed for one row of A), by the table's dot-product tiles, rows
// or columns split across threads (an element's arithmetic does not depend on the split).
void gemm_narrow(const KernelTable& t, std::size_t m, std::size_t n, std::size_t k, float alpha,
                 const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
                 float* c, std::size_t ldc, const GemmEpilogue& e, bool parallel) {
  if (beta != 0.0f && beta != 1.0f)
    for (std::size_t i = 0; i < m; ++i) t.scale(n, beta, c + i * ldc);
  GemmTileStore store;
  store.overwrite = beta == 0.0f;
  store.last = true;
  store.bias = e.bias;
  store.activation = e.activation;
  store.derivative = e.derivative;
  store.ld_derivative = e.ld_derivative;
  store.derivative_activation = e.derivative_activation;
  const std::size_t threads = descent::threads();
  const bool split = splits(parallel, m, n, k);
  const GemmBlocking& g = t.gemm_blocking;
  if (m <= g.dot_rows) {
    // One row tile: each row of B is read once, where it lies, and threads split the columns
    // (groups of dot_cols).
    const std::size_t groups = ceil_div(n, g.dot_cols);
    const std::size_t pieces = split ? std::min(groups, 4 * threads) : 1;
    auto piece = [&](std::size_t index) {
      const std::size_t first = index * groups / pieces * g.dot_cols;
      const std::size_t end = std::min((index + 1) * groups / pieces * g.dot_cols, n);
      GemmTileStore s = store;
      if (s.bias != nullptr) s.bias += first;
      if (s.derivative != nullptr) s.derivative += first;
      t.gemm_dot(m, end - first, k, alpha, a, lda, b + first * ldb, ldb, c + first, ldc, s,
                 nullptr);
    };
    parallel::for_each_index(pieces, piece);  // one piece runs inline
    return;
  }
  const std::size_t pieces = split ? std::min(ceil_div(m, g.dot_rows), 4 * threads) : 1;
  const std::size_t rows = round_up(ceil_div(m, pieces), g.dot_rows);
  auto piece = [&](std::size_t index) {
    const std::size_t first = index * rows;
    if (first >= m) return;
    GemmTileStore s = store;
    if (s.derivative != nullptr) s.derivative += first * e.ld_derivative;
    auto scratch = a_pool().take(g.dot_cols * round_up(k, t.gemm_lanes));
    t.gemm_dot(std::min(rows, m - first), n, k, alpha, a + first * lda, lda, b, ldb,
               c + first * ldc, ldc, s, scratch->data());
    a_pool().give(std::move(scratch));
  };
  parallel::for_each_index(pieces, piece);
}

// How gemm() cuts K and N into the blocks it packs B in: from the shape alone.
struct BBlocks {
  std::size_t kc_size, nc_size, k_blocks, n_blocks, block_floats;
};

BBlocks b_blocks(const GemmBlocking& g, std::size_t k, std::size_t n) {
  BBlocks b{};
  b.kc_size = k == 0 ? 0 : ceil_div(k, ceil_div(k, g.kc));
  b.nc_size = round_up(ceil_div(n, ceil_div(n, g.nc)), g.nr);
  b.k_blocks = k == 0 ? 0 : ceil_div(k, b.kc_size);
  b.n_blocks = n == 0 ? 0 : ceil_div(n, b.nc_size);
  b.block_floats = b.kc_size * b.nc_size;
  return b;
}

// A narrow C would fill a fraction of each vector: gemm() computes C^T = op(B)^T op(A)^T
// instead, so that the long side runs along the vectors.
bool computes_transpose(const KernelTable& t, std::size_t m, std::size_t n) {
  return n % t.gemm_lanes != 0 && n < t.gemm_blocking.nr && m > n;
}

// Whether C^T's tiles cover fewer padded elements than C's by at least kTileSaving: a short
// M that MR leaves a thin edge tile in (a forward product of 32 rows into 256 outputs on
// AVX-512: 36 x 256 padded against 264 x 32, 8% fewer). Each element's products, summed in
// the same order, either way.
constexpr double kTileSaving = 0.95;
bool saves_tiles_transposed(const KernelTable& t, std::size_t m, std::size_t n) {
  const GemmBlocking& g = t.gemm_blocking;
  if (!g.transposes_to_save_tiles) return false;
  const auto padded = [&g](std::size_t rows, std::size_t cols) {
    return static_cast<double>(round_up(rows, g.mr)) * static_cast<double>(round_up(cols, g.nr));
  };
  return padded(n, m) < kTileSaving * padded(m, n);
}

// An untransposed B whose rows are whole vectors the tiles can read where it lies; but only
// with rows less than a page apart, or a panel's rows would each take a TLB entry and fall
// into few cache sets. (Whether they do depends on m as well: reads_b_in_place.)
bool b_fits_in_place(const KernelTable& t, Trans tb, std::size_t n, std::size_t ldb) {
  return tb == Trans::no && n % t.gemm_lanes == 0 && ldb < kDirectStride;
}

// Whether a product of m rows (as computed) reads such a B in place (GemmBlocking's
// direct_b_rows).
bool reads_b_in_place(const KernelTable& t, Trans tb, std::size_t m, std::size_t n,
                      std::size_t ldb) {
  return m <= t.gemm_blocking.direct_b_rows && b_fits_in_place(t, tb, n, ldb);
}

// Whether gemm() packs op(B) in the same layout for any A (m > n can make it compute C^T, and
// a short A reads a B that fits in place).
bool packs_b_whatever_a(const KernelTable& t, Trans tb, std::size_t n, std::size_t ldb) {
  const bool may_transpose = computes_transpose(t, n + 1, n);
  return t.gemm_tiles != nullptr && !may_transpose && !b_fits_in_place(t, tb, n, ldb);
}

}  // namespace

std::size_t gemm_packed_b_size(const KernelTable& t, Trans tb, std::size_t k, std::size_t n,
                               std::size_t ldb) {
  if (k == 0 || n == 0 || !packs_b_whatever_a(t, tb, n, ldb)) return 0;
  const BBlocks blocks = b_blocks(t.gemm_blocking, k, n);
  return blocks.k_blocks * blocks.n_blocks * blocks.block_floats;
}

void gemm_pack_b(const KernelTable& t, Trans tb, std::size_t k, std::size_t n, const float* b,
                 std::size_t ldb, float* packed_b, bool parallel) {
  if (gemm_packed_b_size(t, tb, k, n, ldb) == 0) return;
  const GemmBlocking& g = t.gemm_blocking;
  const BBlocks blocks = b_blocks(g, k, n);
  // Pieces of at most kPiecePanels panels of one block, so that the threads share even a
  // single block.
  constexpr std::size_t kPiecePanels = 2;
  const std::size_t panels_per_block = blocks.nc_size / g.nr;
  const std::size_t pieces_per_block = ceil_div(panels_per_block, kPiecePanels);
  const std::size_t blocks_total = blocks.k_blocks * blocks.n_blocks;
  auto piece = [&](std::size_t index) {
    const std::size_t block = index / pieces_per_block;
    const std::size_t jc = block / blocks.k_blocks * blocks.nc_size;
    const std::size_t pc = block % blocks.k_blocks * blocks.kc_size;
    const std::size_t nc = std::min(blocks.nc_size, n - jc);
    const std::size_t kc = std::min(blocks.kc_size, k - pc);
    const std::size_t first = index % pieces_per_block * kPiecePanels * g.nr;
    if (first >= nc) return;
    const std::size_t cols = std::min(kPiecePanels * g.nr, nc - first);
    t.gemm_pack_b(tb, b, ldb, pc, kc, jc + first, cols,
                  packed_b + block * blocks.block_floats + first * kc);
  };
  if (parallel) {
    parallel::for_each_index(blocks_total * pieces_per_block, piece);
  } else {
    for (std::size_t index = 0; index < blocks_total * pieces_per_block; ++index) piece(index);
  }
}

bool gemm_adds_sum_once(const KernelTable& t, std::size_t k) {
  return t.gemm_tiles != nullptr && k <= t.gemm_blocking.kc;
}

void gemm_reserve(const KernelTable& t, std::size_t concurrency, std::size_t long_side,
                  std::size_t short_side) {
  const GemmBlocking& g = t.gemm_blocking;
  short_side = std::min(short_side, long_side);
  // Blocks are at most kc deep and nc wide (see b_blocks), and K or N is the short side.
  const std::size_t kc_long = std::min(long_side, g.kc), kc_short = std::min(short_side, g.kc);
  const auto nc = [&g](std::size_t n) { return round_up(std::min(n, g.nc), g.nr); };
  // The A block of a task (mc_size <= mc rounded up to MR), or gemm_narrow's buffer.
  const std::size_t a = std::max(round_up(std::min(long_side, g.mc), g.mr) * kc_long,
                                 g.dot_cols * round_up(long_side, t.gemm_lanes));
  a_pool().fill(concurrency, a);
  // Only as much as the products can use: with every side at the long one, digits' full
  // batch (1,438 rows) had 7 buffers of 1024 x 1440 floats zeroed before training, 100 of
  // the command's 130 ms.
  b_pool().fill(concurrency, std::max(kc_long * nc(short_side), kc_short * nc(long_side)));
}

void gemm(const KernelTable& t, Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k,
          float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
          float* c, std::size_t ldc, const GemmEpilogue& e, bool parallel, const float* packed_b) {
  if (m == 0 || n == 0) return;
  if (t.gemm_tiles == nullptr) {
    reference_gemm(t, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, e);
    return;
  }
  const GemmBlocking& g = t.gemm_blocking;
  // A narrow C = A B^T (an output layer's forward), or one of a row or two (a forward pass of
  // one sample): dot products along K read both operands as they lie, where the tiles would
  // have to transpose (pack) the large one.
  if (ta == Trans::no && tb == Trans::yes && (n < t.gemm_lanes || m <= g.dot_rows) &&
      alpha != 0.0f && k > 0) {
    gemm_narrow(t, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, e, parallel);
    return;
  }
  // A forward product C = A B^T of few rows computes C^T = B A^T where that saves tiles:
  // the tiles then read B (the weights) where it lies and pack the few rows of A, instead of
  // transposing all of B (fwd 32 x 256 x 784: 152 -> 176 GFLOP/s on one thread; an NN
  // product turned around this way got slower). Only with alpha = 1, which then scales
  // neither operand: a * b and b * a are the same bits, so C is the same whichever way it is
  // computed (alpha would round with the packed operand). And not where B comes packed
  // already, in the layout of C's orientation.
  const bool transposed =
      computes_transpose(t, m, n) || (ta == Trans::no && tb == Trans::yes && alpha == 1.0f &&
                                      packed_b == nullptr && saves_tiles_transposed(t, m, n));
  if (transposed) {
    std::swap(m, n);
    std::swap(a, b);
    std::swap(lda, ldb);
    const Trans new_a = flip(tb), new_b = flip(ta);
    ta = new_a;
    tb = new_b;
  }
  // C's rows and columns in the orientation computed (C^T's when transposed).
  auto c_block = [&](std::size_t i, std::size_t j) {
    return transposed ? c + j * ldc + i : c + i * ldc + j;
  };
  auto y_block = [&](std::size_t i, std::size_t j) {
    return transposed ? e.derivative + j * e.ld_derivative + i
                      : e.derivative + i * e.ld_derivative + j;
  };
  // beta: 0 overwrites C (never reading it), 1 adds to it, anything else scales it first.
  if (beta != 0.0f && beta != 1.0f) {
    const std::size_t rows = transposed ? n : m, cols = transposed ? m : n;
    for (std::size_t i = 0; i < rows; ++i) t.scale(cols, beta, c + i * ldc);
  }
  // alpha == 0 or k == 0: the product is zero (and A and B are not read).
  const std::size_t kk = alpha == 0.0f ? 0 : k;

  // Blocks as even as the limits allow, from the shape alone (never the thread count).
  const BBlocks blocks = b_blocks(g, kk, n);
  const std::size_t kc_size = blocks.kc_size, nc_size = blocks.nc_size;
  const std::size_t mc_size = round_up(ceil_div(m, ceil_div(m, g.mc)), g.mr);
  // Operands the tiles can read where they are: A (unscaled; its scalars are broadcast, any
  // layout will do, with rows less than a page apart) and B (reads_b_in_place). The others
  // are packed.
  const bool direct_a = alpha == 1.0f && lda < kDirectStride;
  const bool direct_b = reads_b_in_place(t, tb, m, n, ldb);
  // B packed ahead by gemm_pack_b, in the blocks below (the same when C^T is not computed).
  const bool prepacked = packed_b != nullptr && !direct_b && !transposed;

  const std::size_t threads = descent::threads();
  std::unique_ptr<AlignedBuffer<float>> b_buffer;
  if (!direct_b && !prepacked) b_buffer = b_pool().take(kc_size * nc_size);
  // The row blocks share C's MR-row tiles as evenly as whole tiles allow (none larger than
  // mc_size), and the column chunks below share the NR-column panels: equal tasks, so that
  // each thread's share of the tasks is its share of the work.
  //
  // A short K is split by rows alone, each task C's full width, and only where there are rows
  // enough for every thread: its tiles write C along rows (gemm_tiles), and column chunks cut
  // those runs short. 2 threads against 1, standalone, 2 rounds (AVX-512, Zen 5 VM), rows
  // alone (column chunks before): NN 256 x 256 x 32 1.36-1.37x (0.75-0.92x), TN 256 x 784 x 32
  // 1.71x (1.01-1.29x), NN 1024 x 256 x 16 0.99-1.51x (0.49-0.50x), NN 60,000 x 256 x 10
  // 2.0-2.3x (0.98-1.05x). With too few rows, columns did not pay at any width (NN 32 x 784 x
  // 32 0.53-0.89x, TN 16 x 4096 x 16 0.41-0.90x, chunks of 1 to 8 panels): those products
  // stay on one thread. Either way each element of C is the same chain of FMAs, so the bits
  // do not change.
  const std::size_t row_tiles = ceil_div(m, g.mr);
  const bool short_k = kc_size < kGemmShortK;
  const bool split = splits(parallel, m, n, kk) && (!short_k || row_tiles >= 2 * threads);
  const bool rows_only = split && short_k;
  // Where C (as computed) has fewer panels than there are threads, as a forward product of
  // few rows that computes C^T has, column chunks cannot give every thread its share: the
  // rows are cut finer instead, as for a short K. With one panel, three row blocks left one
  // of 2 threads a third of the work: fwd 32 x 256 x 784 on 2 threads 61.5 -> 52.9 us (62.6
  // on 1), fwd 32 x 256 x 256 23.6 -> 22.8 us (perf_compare.py, 9 interleaved rounds).
  const bool few_panels = split && ceil_div(std::min(nc_size, n), g.nr) < threads;
  const std::size_t ic_blocks =
      rows_only || few_panels ? std::min(row_tiles, std::max(ceil_div(m, mc_size), 4 * threads))
                              : ceil_div(m, mc_size);
  auto block_row = [&](std::size_t block) {
    return std::min(block * row_tiles / ic_blocks * g.mr, m);
  };

  for (std::size_t jc = 0; jc < n; jc += nc_size) {
    const std::size_t nc = std::min(nc_size, n - jc);
    const std::size_t panels = ceil_div(nc, g.nr);
    // Column chunks per B block: enough tasks to keep every thread busy, a multiple of the
    // threads where the panels allow (each thread then takes whole chunks).
    const std::size_t chunks =
        split && !rows_only ? std::min(round_up(ceil_div(8 * threads, ic_blocks), threads), panels)
                            : 1;
    auto chunk_panel = [&](std::size_t chunk) { return chunk * panels / chunks; };
    for (std::size_t pc = 0; pc == 0 || pc < kk; pc += kc_size) {
      const std::size_t kc = std::min(kc_size, kk - pc);
      TileOperands block{};
      // Packing B: pieces_per_chunk pieces of each chunk's panels, in chunk order, so that
      // for_each_index hands a chunk's pieces and its tasks to the same thread.
      std::size_t b_pieces = 0, pieces_per_chunk = 1;
      if (direct_b) {
        block.b = b + pc * ldb + jc;
        block.b_panel = 1;
        block.b_step = ldb;
      } else if (prepacked) {
        const std::size_t index =
            jc / nc_size * blocks.k_blocks + pc / std::max(kc_size, std::size_t{1});
        block.b = packed_b + index * blocks.block_floats;
        block.b_panel = kc;
        block.b_step = g.nr;
      } else {
        block.b = b_buffer->data();
        block.b_panel = kc;
        block.b_step = g.nr;
        // Every chunk has at least panels / chunks panels: no piece is empty.
        if (split) pieces_per_chunk = std::min(panels / chunks, ceil_div(4 * threads, chunks));
        b_pieces = chunks * pieces_per_chunk;
      }
      auto pack = [&](std::size_t piece) {
        const std::size_t chunk = piece / pieces_per_chunk, part = piece % pieces_per_chunk;
        const std::size_t chunk_first = chunk_panel(chunk);
        const std::size_t size = chunk_panel(chunk + 1) - chunk_first;
        const std::size_t first = (chunk_first + part * size / pieces_per_chunk) * g.nr;
        const std::size_t end =
            std::min((chunk_first + (part + 1) * size / pieces_per_chunk) * g.nr, nc);
        t.gemm_pack_b(tb, b, ldb, pc, kc, jc + first, end - first, b_buffer->data() + first * kc);
      };
      if (kc > 0) {
        if (split) {
          parallel::for_each_index(b_pieces, pack);
        } else {
          for (std::size_t piece = 0; piece < b_pieces; ++piece) pack(piece);
        }
      }
      GemmTileStore store;
      store.overwrite = pc == 0 && beta == 0.0f;
      store.last = pc + kc >= kk;
      store.activation = store.last ? e.activation : Activation::identity;
      store.derivative_activation = e.derivative_activation;
      store.ld_derivative = e.ld_derivative;
      store.transposed = transposed;
      auto task = [&](std::size_t index) {
        const std::size_t chunk = index / ic_blocks, row_block = index % ic_blocks;
        const std::size_t first = chunk_panel(chunk) * g.nr;
        const std::size_t cols = std::min(chunk_panel(chunk + 1) * g.nr, nc) - first;
        const std::size_t ic = block_row(row_block);
        const std::size_t mc = block_row(row_block + 1) - ic;
        TileOperands ops = block;
        ops.b += first * ops.b_panel;
        std::unique_ptr<AlignedBuffer<float>> a_buffer;
        ops.a_any_row = direct_a;  // a packed A's tiles start at its panels
        if (direct_a && ta == Trans::yes) {
          ops.a = a + pc * lda + ic;  // op(A) columns: MR floats in a row of A
          ops.a_panel = 1;
          ops.a_row = 1;
          ops.a_step = lda;
        } else if (direct_a) {
          ops.a = a + ic * lda + pc;  // op(A) rows: lda apart
          ops.a_panel = lda;
          ops.a_row = lda;
          ops.a_step = 1;
        } else {
          a_buffer = a_pool().take(mc_size * kc_size);
          if (kc > 0) t.gemm_pack_a(ta, a, lda, ic, mc, pc, kc, alpha, a_buffer->data());
          ops.a = a_buffer->data();
          ops.a_panel = kc;
          ops.a_row = 1;
          ops.a_step = g.mr;
        }
        GemmTileStore s = store;
        const std::size_t col = jc + first;
        if (store.last && e.bias != nullptr) s.bias = transposed ? e.bias + ic : e.bias + col;
        if (store.last && e.derivative != nullptr) s.derivative = y_block(ic, col);
        t.gemm_tiles(mc, cols, kc, ops, c_block(ic, col), ldc, s);
        if (a_buffer) a_pool().give(std::move(a_buffer));
      };
      if (split) {
        parallel::for_each_index(ic_blocks * chunks, task);
      } else {
        for (std::size_t index = 0; index < ic_blocks * chunks; ++index) task(index);
      }
      if (kc == 0) break;
    }
  }
  if (b_buffer) b_pool().give(std::move(b_buffer));
}

}  // namespace descent::kernels
