#pragma once
// The kernels, written once as templates on the xsimd architecture A. Each isa_<name>.cpp
// includes this header and instantiates it for its own architecture, compiled with that
// architecture's flags.
//
// Everything here has internal linkage (anonymous namespace): an inline function compiled
// with AVX-512 flags in one translation unit must never be merged by the linker with the
// copy another ISA's unit calls. For the same reason nothing here calls a non-template
// inline function of the standard library; scalar helpers are our own.
//
// Partial vectors (tails) go through a small stack buffer and the same vector code as full
// ones, so an element's result never depends on where it sits in the array.

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "kernels/gemm.hpp"
#include "kernels/kernel_table.hpp"

namespace descent::kernels {
namespace {

template <class A>
using Batch = xsimd::batch<float, A>;

inline float max_scalar(float a, float b) {
  return a > b ? a : b;
}

// The sum of a batch's lanes, in lane order. (xsimd 8.1's hadd for avx512f uses an AVX512DQ
// instruction, which AVX-512F alone does not guarantee.)
template <class A>
float lane_sum(Batch<A> v) {
  alignas(64) float lanes[Batch<A>::size];
  v.store_aligned(lanes);
  float sum = 0.0f;
  for (float lane : lanes) sum += lane;
  return sum;
}
inline std::size_t min_size(std::size_t a, std::size_t b) {
  return a < b ? a : b;
}

// ---------------------------------------------------------------------------------------
// Element-wise maps.

inline constexpr std::size_t kSimdAlign = 64;

// How far ahead (floats) a pass over parameter-sized buffers asks for the lines it will write.
// A line another core has read (the parameters every shard's forward reads, a gradient the
// reduction read) must be taken from that core's cache before the store; asked for early,
// many are taken at once instead of one per store (sgd-momentum step of a 784-256-256-10
// MLP after a 2-thread step, dev VM: 148-152 -> 87-102 us; 2 KiB ahead beat 0.5 and 8).
inline constexpr std::size_t kWriteAhead = 512;

// Asks for the line at p with the intent to write it: PREFETCHW in the units compiled with
// -mprfchw (AVX-512), nothing elsewhere. A hint only. (The GEMM tiles' C prefetch calls
// __builtin_prefetch itself: a plain prefetch where there is no PREFETCHW still pays there.)
inline void prefetch_for_write([[maybe_unused]] const float* p) {
#if defined(__PRFCHW__)
  __builtin_prefetch(p, 1, 3);
#endif
}

// y[i] = f(x[i]) for batches.
template <class A, class F>
void map1(std::size_t n, const float* x, float* y, F f) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    if (i + kWriteAhead < n) prefetch_for_write(y + i + kWriteAhead);
    f(B::load_unaligned(x + i)).store_unaligned(y + i);
  }
  if (i < n) {
    alignas(kSimdAlign) float buf[W] = {};
    std::memcpy(buf, x + i, (n - i) * sizeof(float));
    f(B::load_aligned(buf)).store_aligned(buf);
    std::memcpy(y + i, buf, (n - i) * sizeof(float));
  }
}

// z[i] = f(x[i], y[i]) for batches; the lanes past n of a tail batch hold pad_x and pad_y.
// z may be null when only f's side effects matter.
template <class A, class F>
void map2(std::size_t n, const float* x, const float* y, float* z, F f, float pad_x = 0.0f,
          float pad_y = 0.0f) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    if (z != nullptr && i + kWriteAhead < n) prefetch_for_write(z + i + kWriteAhead);
    const B r = f(B::load_unaligned(x + i), B::load_unaligned(y + i));
    if (z != nullptr) r.store_unaligned(z + i);
  }
  if (i < n) {
    alignas(kSimdAlign) float bx[W];
    alignas(kSimdAlign) float by[W];
    for (std::size_t l = 0; l < W; ++l) {
      bx[l] = i + l < n ? x[i + l] : pad_x;
      by[l] = i + l < n ? y[i + l] : pad_y;
    }
    const B r = f(B::load_aligned(bx), B::load_aligned(by));
    if (z != nullptr) {
      r.store_aligned(bx);
      std::memcpy(z + i, bx, (n - i) * sizeof(float));
    }
  }
}

template <class A>
void axpy(std::size_t n, float alpha, const float* x, float* y) {
  const Batch<A> a(alpha);
  map2<A>(n, x, y, y, [&](Batch<A> xv, Batch<A> yv) { return xsimd::fma(a, xv, yv); });
}

template <class A>
void scale(std::size_t n, float alpha, float* x) {
  const Batch<A> a(alpha);
  map1<A>(n, x, x, [&](Batch<A> v) { return v * a; });
}

template <class A>
void clamp(std::size_t n, float lo, float hi, float* x) {
  const Batch<A> l(lo), h(hi);
  map1<A>(n, x, x, [&](Batch<A> v) { return xsimd::min(xsimd::max(v, l), h); });
}

template <class A>
Batch<A> sigmoid(Batch<A> x) {
  const Batch<A> one(1.0f);
  return one / (one + xsimd::exp(-x));
}

// f(x), and g * f'(x) written with the forward output y = f(x): the one definition the
// element-wise passes and the GEMM epilogues share, so fused and separate passes agree bit
// for bit.
// max(v, 0), except that a NaN stays NaN, as in torch.relu. MAXPS alone returns its second
// operand for a NaN: a NaN weight would then hide behind finite outputs and a finite loss.
template <class A>
Batch<A> relu(Batch<A> v) {
  return xsimd::select(xsimd::isnan(v), v, xsimd::max(v, Batch<A>(0.0f)));
}

template <class A>
Batch<A> activate(Activation activation, Batch<A> v) {
  switch (activation) {
    case Activation::identity:
      return v;
    case Activation::relu:
      return relu<A>(v);
    case Activation::sigmoid:
      return sigmoid<A>(v);
    case Activation::tanh:
      return xsimd::tanh(v);
  }
  return v;
}

template <class A>
Batch<A> activation_gradient(Activation activation, Batch<A> y, Batch<A> g) {
  const Batch<A> one(1.0f);
  switch (activation) {
    case Activation::identity:
      return g;
    case Activation::relu:
      return xsimd::select(y > Batch<A>(0.0f), g, Batch<A>(0.0f));
    case Activation::sigmoid:
      return g * (y * (one - y));
    case Activation::tanh:
      return g * (one - y * y);
  }
  return g;
}

template <class A>
void activation_forward(Activation activation, std::size_t n, const float* x, float* y) {
  if (activation == Activation::identity) {
    if (x != y) std::memmove(y, x, n * sizeof(float));
    return;
  }
  map1<A>(n, x, y, [&](Batch<A> v) { return activate<A>(activation, v); });
}

template <class A>
void activation_backward(Activation activation, std::size_t n, const float* y, const float* dy,
                         float* dx) {
  if (activation == Activation::identity) {
    if (dy != dx) std::memmove(dx, dy, n * sizeof(float));
    return;
  }
  map2<A>(n, y, dy, dx,
          [&](Batch<A> yv, Batch<A> g) { return activation_gradient<A>(activation, yv, g); });
}

// ---------------------------------------------------------------------------------------
// Reductions: float lanes over blocks short enough to keep the rounding small, each block
// added into a double.

inline constexpr std::size_t kReduceBlock = 1024;

template <class A, class F>
double reduce_blocks(std::size_t n, F block_sum) {
  double total = 0.0;
  for (std::size_t start = 0; start < n; start += kReduceBlock)
    total += static_cast<double>(block_sum(start, min_size(kReduceBlock, n - start)));
  return total;
}

template <class A>
double dot(std::size_t n, const float* x, const float* y) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  return reduce_blocks<A>(n, [&](std::size_t start, std::size_t len) {
    B acc0(0.0f), acc1(0.0f);
    std::size_t i = 0;
    for (; i + 2 * W <= len; i += 2 * W) {
      acc0 = xsimd::fma(B::load_unaligned(x + start + i), B::load_unaligned(y + start + i), acc0);
      acc1 = xsimd::fma(B::load_unaligned(x + start + i + W), B::load_unaligned(y + start + i + W),
                        acc1);
    }
    for (; i < len; i += W) {
      alignas(kSimdAlign) float bx[W] = {};
      alignas(kSimdAlign) float by[W] = {};
      const std::size_t count = min_size(W, len - i);
      std::memcpy(bx, x + start + i, count * sizeof(float));
      std::memcpy(by, y + start + i, count * sizeof(float));
      acc0 = xsimd::fma(B::load_aligned(bx), B::load_aligned(by), acc0);
    }
    return lane_sum<A>(acc0 + acc1);
  });
}

template <class A>
double sum_squares(std::size_t n, const float* x) {
  return dot<A>(n, x, x);
}

template <class A>
void column_sums(std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, float beta,
                 float* out) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  std::size_t j = 0;
  for (; j + W <= cols; j += W) {
    B acc(0.0f);
    for (std::size_t i = 0; i < rows; ++i) acc += B::load_unaligned(x + i * ldx + j);
    if (beta != 0.0f) acc += B(beta) * B::load_unaligned(out + j);
    acc.store_unaligned(out + j);
  }
  // Remaining columns: the same additions, in the same row order, one lane at a time.
  for (; j < cols; ++j) {
    float acc = 0.0f;
    for (std::size_t i = 0; i < rows; ++i) acc += x[i * ldx + j];
    if (beta != 0.0f) acc += beta * out[j];
    out[j] = acc;
  }
}

// ---------------------------------------------------------------------------------------
// Losses.

template <class A>
double softmax_cross_entropy(std::size_t rows, std::size_t cols, const float* logits,
                             std::size_t ld, const std::uint32_t* labels, float grad_scale,
                             float* grad, std::size_t ldg) {
  using B = Batch<A>;
  constexpr std::size_t W = B::size;
  constexpr float lowest = std::numeric_limits<float>::lowest();
  double total = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    const float* z = logits + i * ld;
    // Row maximum; padding lanes hold `lowest` so they never win and exp() sends them to 0.
    B vmax(lowest);
    std::size_t j = 0;
    for (; j + W <= cols; j += W) vmax = xsimd::max(vmax, B::load_unaligned(z + j));
    alignas(kSimdAlign) float tail[W];
    const std::size_t rest = cols - j;
    if (rest != 0) {
      for (std::size_t t = 0; t < W; ++t) tail[t] = t < rest ? z[j + t] : lowest;
      vmax = xsimd::max(vmax, B::load_aligned(tail));
    }
    alignas(kSimdAlign) float lanes[W];
    vmax.store_aligned(lanes);
    float m = lanes[0];
    for (std::size_t t = 1; t < W; ++t) m = max_scalar(m, lanes[t]);

    const B bm(m);
    B vsum(0.0f);
    float* g = grad == nullptr ? nullptr : grad + i * ldg;
    for (j = 0; j + W <= cols; j += W) {
      const B e = xsimd::exp(B::load_unaligned(z + j) - bm);
      vsum += e;
      if (g != nullptr) e.store_unaligned(g + j);
    }
    if (rest != 0) {
      const B e = xsimd::exp(B::load_aligned(tail) - bm);
      vsum += e;
      if (g != nullptr) {
        e.store_aligned(lanes);
        std::memcpy(g + j, lanes, rest * sizeof(float));
      }
    }
    const float sum = lane_sum<A>(vsum);
    const std::uint32_t label = labels[i];
    // __builtin_log calls libm's log(double): no inline copy compiled with this ISA's flags.
    // (m - z) first, as log_softmax's z - m: m + log(sum) rounded first loses the loss for
    // logits far from 0 (1e16 and 1e16 gave 0, not log 2).
    total += (static_cast<double>(m) - static_cast<double>(z[label])) +
             __builtin_log(static_cast<double>(sum));
    if (g != nullptr) {
      // g = scale * (softmax - onehot)
      const float factor = grad_scale / sum;
      scale<A>(cols, factor, g);
      g[label] -= grad_scale;
    }
  }
  return total;
}

template <class A>
double mse(std::size_t rows, std::size_t cols, const float* pred, std::size_t ldp,
           const float* target, std::size_t ldt, float grad_scale, float* grad, std::size_t ldg) {
  using B = Batch<A>;
  const B two_scale(2.0f * grad_scale);
  double total = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    B acc(0.0f);  // zero padding adds (0 - 0)^2 = 0
    map2<A>(cols, pred + i * ldp, target + i * ldt, grad == nullptr ? nullptr : grad + i * ldg,
            [&](B p, B t) {
              const B d = p - t;
              acc = xsimd::fma(d, d, acc);
              return two_scale * d;
            });
    total += static_cast<double>(lane_sum<A>(acc));
  }
  return total;
}

template <class A>
double bce_with_logits(std::size_t rows, std::size_t cols, const float* logits, std::size_t ld,
                       const float* target, std::size_t ldt, float grad_scale, float* grad,
                       std::size_t ldg) {
  using B = Batch<A>;
  const B zero(0.0f), scale_v(grad_scale);
  double total = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    B acc(0.0f);
    // Padding x = lowest, t = 0 gives exactly 0 loss: 0 - 0 + log1p(exp(-huge)) = 0.
    map2<A>(
        cols, logits + i * ld, target + i * ldt, grad == nullptr ? nullptr : grad + i * ldg,
        [&](B x, B t) {
          acc += xsimd::max(x, zero) - x * t + xsimd::log1p(xsimd::exp(-xsimd::abs(x)));
          return scale_v * (sigmoid<A>(x) - t);
        },
        std::numeric_limits<float>::lowest(), 0.0f);
    total += static_cast<double>(lane_sum<A>(acc));
  }
  return total;
}

}  // namespace
}  // namespace descent::kernels

#include "kernels/simd_gemm.hpp"

namespace descent::kernels {
namespace {

// Independent FMA chains on the widest vectors, enough of them to cover the latency of
// every FMA unit: the core's peak, for benchmarks. Returns the FLOPs done.
template <class A>
double fma_loop(std::size_t iterations) {
  using B = Batch<A>;
  constexpr std::size_t kChains = 12;
  B acc[kChains];
#pragma GCC unroll 12
  for (std::size_t c = 0; c < kChains; ++c) acc[c] = B(0.01f * static_cast<float>(c));
  const B x(0.999f), y(0.001f);
  for (std::size_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (std::size_t c = 0; c < kChains; ++c) acc[c] = xsimd::fma(acc[c], x, y);
  }
  B sum = acc[0];
  for (std::size_t c = 1; c < kChains; ++c) sum += acc[c];
  const float total = lane_sum<A>(sum);
  asm volatile("" : : "m"(total) : "memory");  // the sums are used: the loop stays
  return 2.0 * static_cast<double>(B::size * kChains) * static_cast<double>(iterations);
}

// The ISA's whole sgemm, serial: the table entry the tests compare with the reference.
template <Isa I>
void sgemm(Trans trans_a, Trans trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
           const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
           std::size_t ldc) {
  gemm(*table_for(I), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, {}, false);
}

// ---------------------------------------------------------------------------------------
// Fused optimizer updates: one pass over the parameter, gradient and state buffers, the
// formulas and operation order of torch.optim's single-tensor implementations.

// Calls body(base, i) for every batch of n elements of N arrays: body reads and writes
// base[k] + i. The tail runs through zero-padded stack copies (body(copies, 0)), so every
// element sees the same vector code; the arrays whose bit is set in `outputs` are copied
// back. Null arrays stay null. arrays[0] is the parameters: the one buffer written here that
// other cores read (every shard's forward), so its lines are asked for ahead of the stores;
// the optimizer's state stays on one core (asking for those too slowed a 1-thread Adam step's
// update 49 -> 93 us).
template <class A, std::size_t N, class F>
void zip_batches(std::size_t n, const std::array<float*, N>& arrays, unsigned outputs, F body) {
  constexpr std::size_t W = Batch<A>::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    if (i + kWriteAhead < n) prefetch_for_write(arrays[0] + i + kWriteAhead);
    body(arrays, i);
  }
  if (i == n) return;
  alignas(kSimdAlign) float tail[N][W];
  std::array<float*, N> copies{};
  const std::size_t rest = n - i;
  for (std::size_t k = 0; k < N; ++k) {
    if (arrays[k] == nullptr) continue;
    for (std::size_t l = 0; l < W; ++l) tail[k][l] = l < rest ? arrays[k][i + l] : 0.0f;
    copies[k] = tail[k];
  }
  body(copies, 0);
  for (std::size_t k = 0; k < N; ++k)
    if (((outputs >> k) & 1u) != 0 && arrays[k] != nullptr)
      std::memcpy(arrays[k] + i, tail[k], rest * sizeof(float));
}

template <class A>
Batch<A> load(const float* p) {
  return Batch<A>::load_unaligned(p);
}

template <class A>
Batch<A> splat(double v) {
  return Batch<A>(static_cast<float>(v));
}

// d = (maximize ? -g : g) + weight_decay * p
template <class A>
Batch<A> decayed_grad(Batch<A> g, Batch<A> p, bool maximize, double weight_decay) {
  if (maximize) g = -g;
  if (weight_decay != 0.0) g = xsimd::fma(splat<A>(weight_decay), p, g);
  return g;
}

// Adam's running averages, stored back: m = beta1 m + (1 - beta1) d, v = beta2 v + (1 - beta2) d^2.
// The square's term is ((1 - beta2) d) d, in torch's order (addcmul(d, d, value=1 - beta2)): a
// gradient past 1.8e19 has d^2 beyond float's range, and that order keeps it finite.
template <class A>
struct Moments {
  Batch<A> beta1, rest1, beta2, rest2;
  Moments(double b1, double b2)
      : beta1(splat<A>(b1)),
        rest1(splat<A>(1.0 - b1)),
        beta2(splat<A>(b2)),
        rest2(splat<A>(1.0 - b2)) {}
  // Returns {m, v}.
  std::array<Batch<A>, 2> update(float* m, float* v, Batch<A> d) const {
    const Batch<A> mv = xsimd::fma(load<A>(m), beta1, rest1 * d);
    const Batch<A> vv = xsimd::fma(load<A>(v), beta2, (rest2 * d) * d);
    mv.store_unaligned(m);
    vv.store_unaligned(v);
    return {mv, vv};
  }
};

template <class A>
void sgd_step(std::size_t n, float* p, const float* g, float* buf, const SgdParams& s) {
  using B = Batch<A>;
  const B momentum = splat<A>(s.momentum), keep = splat<A>(1.0 - s.dampening);
  const B neg_lr = splat<A>(-s.lr);
  zip_batches<A, 3>(n, {p, const_cast<float*>(g), buf}, 0b101, [&](const auto& at, std::size_t i) {
    B pv = load<A>(at[0] + i);
    B d = decayed_grad<A>(load<A>(at[1] + i), pv, s.maximize, s.weight_decay);
    if (s.momentum != 0.0) {
      const B b = s.first_step ? d : xsimd::fma(load<A>(at[2] + i), momentum, keep * d);
      b.store_unaligned(at[2] + i);
      d = s.nesterov ? xsimd::fma(momentum, b, d) : b;
    }
    xsimd::fma(neg_lr, d, pv).store_unaligned(at[0] + i);
  });
}

template <class A>
void adagrad_step(std::size_t n, float* p, const float* g, float* sum, const AdagradParams& s) {
  using B = Batch<A>;
  const B neg_clr = splat<A>(-s.clr), eps = splat<A>(s.eps);
  zip_batches<A, 3>(n, {p, const_cast<float*>(g), sum}, 0b101, [&](const auto& at, std::size_t i) {
    const B pv = load<A>(at[0] + i);
    const B d = decayed_grad<A>(load<A>(at[1] + i), pv, s.maximize, s.weight_decay);
    const B acc = xsimd::fma(d, d, load<A>(at[2] + i));
    acc.store_unaligned(at[2] + i);
    xsimd::fma(neg_clr, d / (xsimd::sqrt(acc) + eps), pv).store_unaligned(at[0] + i);
  });
}

template <class A>
void rmsprop_step(std::size_t n, float* p, const float* g, float* square_avg, float* grad_avg,
                  float* buf, const RmspropParams& s) {
  using B = Batch<A>;
  const B alpha = splat<A>(s.alpha), rest = splat<A>(1.0 - s.alpha), eps = splat<A>(s.eps);
  const B momentum = splat<A>(s.momentum), neg_lr = splat<A>(-s.lr);
  zip_batches<A, 5>(n, {p, const_cast<float*>(g), square_avg, grad_avg, buf}, 0b11101,
                    [&](const auto& at, std::size_t i) {
                      const B pv = load<A>(at[0] + i);
                      const B d =
                          decayed_grad<A>(load<A>(at[1] + i), pv, s.maximize, s.weight_decay);
                      const B sq = xsimd::fma(load<A>(at[2] + i), alpha, (rest * d) * d);
                      sq.store_unaligned(at[2] + i);
                      B avg;
                      if (s.centered) {
                        const B ga = xsimd::fma(load<A>(at[3] + i), alpha, rest * d);
                        ga.store_unaligned(at[3] + i);
                        avg = xsimd::sqrt(xsimd::fnma(ga, ga, sq));  // sq - ga * ga
                      } else {
                        avg = xsimd::sqrt(sq);
                      }
                      avg = avg + eps;
                      if (s.momentum > 0.0) {
                        const B b = xsimd::fma(load<A>(at[4] + i), momentum, d / avg);
                        b.store_unaligned(at[4] + i);
                        xsimd::fma(neg_lr, b, pv).store_unaligned(at[0] + i);
                      } else {
                        xsimd::fma(neg_lr, d / avg, pv).store_unaligned(at[0] + i);
                      }
                    });
}

template <class A>
void adam_step(std::size_t n, float* p, const float* g, float* m, float* v, float* vmax,
               const AdamParams& s) {
  using B = Batch<A>;
  const Moments<A> moments(s.beta1, s.beta2);
  // sqrt(v) / sqrt(1 - beta2^t) as a product: one division per element fewer than PyTorch,
  // which rounds differently by at most an ulp.
  const B eps = splat<A>(s.eps), inv_bc2 = splat<A>(1.0 / s.bias_correction2_sqrt);
  const B neg_step = splat<A>(-s.step_size), shrink = splat<A>(1.0 - s.lr * s.weight_decay);
  zip_batches<A, 5>(n, {p, const_cast<float*>(g), m, v, vmax}, 0b11101,
                    [&](const auto& at, std::size_t i) {
                      B pv = load<A>(at[0] + i);
                      B d = load<A>(at[1] + i);
                      if (s.decoupled) {
                        if (s.maximize) d = -d;
                        pv = pv * shrink;
                      } else {
                        d = decayed_grad<A>(d, pv, s.maximize, s.weight_decay);
                      }
                      const auto [mv, vv] = moments.update(at[2] + i, at[3] + i, d);
                      B second = vv;
                      if (s.amsgrad) {
                        second = xsimd::max(load<A>(at[4] + i), vv);
                        second.store_unaligned(at[4] + i);
                      }
                      const B denom = xsimd::fma(xsimd::sqrt(second), inv_bc2, eps);
                      xsimd::fma(neg_step, mv / denom, pv).store_unaligned(at[0] + i);
                    });
}

template <class A>
void nadam_step(std::size_t n, float* p, const float* g, float* m, float* v, const NadamParams& s) {
  using B = Batch<A>;
  const Moments<A> moments(s.beta1, s.beta2);
  // sqrt(v / (1 - beta2^t)) as sqrt(v) times a constant, and one reciprocal for both
  // quotients: two divisions per element fewer than PyTorch, an ulp apart at most.
  const B eps = splat<A>(s.eps), inv_bc2_sqrt = splat<A>(1.0 / std::sqrt(s.bias_correction2));
  const B grad_coef = splat<A>(s.grad_coef), avg_coef = splat<A>(s.avg_coef);
  const B shrink = splat<A>(s.shrink);
  zip_batches<A, 4>(
      n, {p, const_cast<float*>(g), m, v}, 0b1101, [&](const auto& at, std::size_t i) {
        const B pv = load<A>(at[0] + i) * shrink;
        const B d = decayed_grad<A>(load<A>(at[1] + i), pv, s.maximize, s.weight_decay);
        const auto [mv, vv] = moments.update(at[2] + i, at[3] + i, d);
        const B inv = B(1.0f) / xsimd::fma(xsimd::sqrt(vv), inv_bc2_sqrt, eps);
        const B stepped = xsimd::fma(grad_coef, d * inv, pv);
        xsimd::fma(avg_coef, mv * inv, stepped).store_unaligned(at[0] + i);
      });
}

template <class A>
void radam_step(std::size_t n, float* p, const float* g, float* m, float* v, const RadamParams& s) {
  using B = Batch<A>;
  const Moments<A> moments(s.beta1, s.beta2);
  // lr / (1 - beta1^t) and sqrt(1 - beta2^t) * r_t folded into constants: one division per
  // element, where PyTorch has two.
  const B eps = splat<A>(s.eps), step = splat<A>(s.lr / s.bias_correction1);
  const B rectify = splat<A>(s.bias_correction2_sqrt * s.rect);
  const B shrink = splat<A>(s.shrink);
  zip_batches<A, 4>(
      n, {p, const_cast<float*>(g), m, v}, 0b1101, [&](const auto& at, std::size_t i) {
        const B pv = load<A>(at[0] + i) * shrink;
        const B d = decayed_grad<A>(load<A>(at[1] + i), pv, s.maximize, s.weight_decay);
        const auto [mv, vv] = moments.update(at[2] + i, at[3] + i, d);
        B update = mv * step;
        if (s.rectified) update = update * (rectify / (xsimd::sqrt(vv) + eps));
        (pv - update).store_unaligned(at[0] + i);
      });
}

template <class A>
void adamax_step(std::size_t n, float* p, const float* g, float* m, float* u,
                 const AdamaxParams& s) {
  using B = Batch<A>;
  const B beta1 = splat<A>(s.beta1), rest1 = splat<A>(1.0 - s.beta1);
  const B beta2 = splat<A>(s.beta2), eps = splat<A>(s.eps), neg_clr = splat<A>(-s.clr);
  zip_batches<A, 4>(
      n, {p, const_cast<float*>(g), m, u}, 0b1101, [&](const auto& at, std::size_t i) {
        const B pv = load<A>(at[0] + i);
        const B d = decayed_grad<A>(load<A>(at[1] + i), pv, s.maximize, s.weight_decay);
        const B mv = xsimd::fma(load<A>(at[2] + i), beta1, rest1 * d);
        const B uv = xsimd::max(load<A>(at[3] + i) * beta2, xsimd::abs(d) + eps);
        mv.store_unaligned(at[2] + i);
        uv.store_unaligned(at[3] + i);
        xsimd::fma(neg_clr, mv / uv, pv).store_unaligned(at[0] + i);
      });
}

template <class A>
void adadelta_step(std::size_t n, float* p, const float* g, float* square_avg, float* acc_delta,
                   const AdadeltaParams& s) {
  using B = Batch<A>;
  const B rho = splat<A>(s.rho), rest = splat<A>(1.0 - s.rho), eps = splat<A>(s.eps);
  const B neg_lr = splat<A>(-s.lr);
  zip_batches<A, 4>(
      n, {p, const_cast<float*>(g), square_avg, acc_delta}, 0b1101,
      [&](const auto& at, std::size_t i) {
        const B pv = load<A>(at[0] + i);
        const B d = decayed_grad<A>(load<A>(at[1] + i), pv, s.maximize, s.weight_decay);
        const B sq = xsimd::fma(load<A>(at[2] + i), rho, (rest * d) * d);
        sq.store_unaligned(at[2] + i);
        // sqrt(u + eps) / sqrt(v + eps), in torch's order: one square root of the quotient
        // would be subnormal, and lose its digits, for a gradient past about 1e16.
        const B delta = (xsimd::sqrt(load<A>(at[3] + i) + eps) / xsimd::sqrt(sq + eps)) * d;
        xsimd::fma(load<A>(at[3] + i), rho, (rest * delta) * delta).store_unaligned(at[3] + i);
        xsimd::fma(neg_lr, delta, pv).store_unaligned(at[0] + i);
      });
}

template <class A, Isa I, GemmBlocking G>
constexpr KernelTable make_table() {
  return KernelTable{
      .isa = I,
      .gemm_blocking = G,
      .sgemm = &sgemm<I>,
      .gemm_lanes = Batch<A>::size,
      .gemm_pack_a = &pack_a<A, G.mr>,
      .gemm_pack_b = &pack_b<A, G.nr>,
      .gemm_tiles = &gemm_tiles<A, G>,
      .gemm_dot = &gemm_dot<A, G.dot_rows, G.dot_cols>,
      .axpy = &axpy<A>,
      .scale = &scale<A>,
      .clamp = &clamp<A>,
      .dot = &dot<A>,
      .sum_squares = &sum_squares<A>,
      .fma_loop = &fma_loop<A>,
      .column_sums = &column_sums<A>,
      .activation_forward = &activation_forward<A>,
      .activation_backward = &activation_backward<A>,
      .softmax_cross_entropy = &softmax_cross_entropy<A>,
      .mse = &mse<A>,
      .bce_with_logits = &bce_with_logits<A>,
      .sgd_step = &sgd_step<A>,
      .adagrad_step = &adagrad_step<A>,
      .rmsprop_step = &rmsprop_step<A>,
      .adam_step = &adam_step<A>,
      .nadam_step = &nadam_step<A>,
      .radam_step = &radam_step<A>,
      .adamax_step = &adamax_step<A>,
      .adadelta_step = &adadelta_step<A>,
  };
}

}  // namespace
}  // namespace descent::kernels
