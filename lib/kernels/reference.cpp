// The scalar reference twin of every kernel: the simplest correct loops, accumulating in
// double. Tests use them as the oracle; DESCENT_ISA=scalar runs them for real.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernel_table.hpp"

namespace descent::kernels {
namespace {

double op_element(Trans trans, const float* x, std::size_t ld, std::size_t i, std::size_t p) {
  return trans == Trans::no ? x[i * ld + p] : x[p * ld + i];
}

void sgemm(Trans trans_a, Trans trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
           const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
           std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (std::size_t p = 0; p < k; ++p)
        sum += op_element(trans_a, a, lda, i, p) * op_element(trans_b, b, ldb, p, j);
      const double prior = beta == 0.0f ? 0.0 : static_cast<double>(beta) * c[i * ldc + j];
      c[i * ldc + j] = static_cast<float>(alpha * sum + prior);
    }
  }
}

void axpy(std::size_t n, float alpha, const float* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void scale(std::size_t n, float alpha, float* x) {
  for (std::size_t i = 0; i < n; ++i) x[i] *= alpha;
}

void clamp(std::size_t n, float lo, float hi, float* x) {
  for (std::size_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], lo), hi);
}

double dot(std::size_t n, const float* x, const float* y) {
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * y[i];
  return sum;
}

double sum_squares(std::size_t n, const float* x) {
  return dot(n, x, x);
}

void column_sums(std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, float beta,
                 float* out) {
  for (std::size_t j = 0; j < cols; ++j) {
    double sum = beta == 0.0f ? 0.0 : static_cast<double>(beta) * out[j];
    for (std::size_t i = 0; i < rows; ++i) sum += x[i * ldx + j];
    out[j] = static_cast<float>(sum);
  }
}

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

void activation_forward(Activation activation, std::size_t n, const float* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) {
    const double v = x[i];
    double r = v;
    switch (activation) {
      case Activation::identity:
        break;
      case Activation::relu:
        r = v > 0.0 || std::isnan(v) ? v : 0.0;  // NaN stays NaN, as in torch.relu
        break;
      case Activation::sigmoid:
        r = sigmoid(v);
        break;
      case Activation::tanh:
        r = std::tanh(v);
        break;
    }
    y[i] = static_cast<float>(r);
  }
}

void activation_backward(Activation activation, std::size_t n, const float* y, const float* dy,
                         float* dx) {
  for (std::size_t i = 0; i < n; ++i) {
    const double v = y[i];
    double derivative = 1.0;
    switch (activation) {
      case Activation::identity:
        break;
      case Activation::relu:
        derivative = v > 0.0 ? 1.0 : 0.0;
        break;
      case Activation::sigmoid:
        derivative = v * (1.0 - v);
        break;
      case Activation::tanh:
        derivative = 1.0 - v * v;
        break;
    }
    // ReLU passes the gradient or 0 (torch's threshold_backward, the SIMD kernels' select):
    // a NaN or inf gradient where the output is 0 gives 0, not NaN.
    dx[i] = activation == Activation::relu && !(v > 0.0) ? 0.0f
                                                         : static_cast<float>(dy[i] * derivative);
  }
}

double softmax_cross_entropy(std::size_t rows, std::size_t cols, const float* logits,
                             std::size_t ld, const std::uint32_t* labels, float grad_scale,
                             float* grad, std::size_t ldg) {
  double total = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    const float* z = logits + i * ld;
    const double m = *std::max_element(z, z + cols);
    double sum = 0.0;
    for (std::size_t j = 0; j < cols; ++j) sum += std::exp(z[j] - m);
    // (m - z) first, as log_softmax's z - m: m + log(sum) rounded first loses the loss for
    // logits far from 0 (1e16 and 1e16 gave 0, not log 2).
    total += (m - z[labels[i]]) + std::log(sum);
    if (grad != nullptr) {
      for (std::size_t j = 0; j < cols; ++j) {
        const double p = std::exp(z[j] - m) / sum;
        grad[i * ldg + j] = static_cast<float>(grad_scale * (p - (j == labels[i] ? 1.0 : 0.0)));
      }
    }
  }
  return total;
}

double mse(std::size_t rows, std::size_t cols, const float* pred, std::size_t ldp,
           const float* target, std::size_t ldt, float grad_scale, float* grad, std::size_t ldg) {
  double total = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) {
      const double d = static_cast<double>(pred[i * ldp + j]) - target[i * ldt + j];
      total += d * d;
      if (grad != nullptr) grad[i * ldg + j] = static_cast<float>(2.0 * grad_scale * d);
    }
  }
  return total;
}

double bce_with_logits(std::size_t rows, std::size_t cols, const float* logits, std::size_t ld,
                       const float* target, std::size_t ldt, float grad_scale, float* grad,
                       std::size_t ldg) {
  double total = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) {
      const double x = logits[i * ld + j];
      const double t = target[i * ldt + j];
      total += std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x)));
      if (grad != nullptr) grad[i * ldg + j] = static_cast<float>(grad_scale * (sigmoid(x) - t));
    }
  }
  return total;
}

// Optimizer updates, element by element in double. The state is rounded to float as it is
// stored, and the update reads it back as stored, as torch.optim's float32 state is read: a
// second moment that overflows is infinite and the step 0, as in PyTorch, and a centered
// RMSprop's variance is that of its float32 averages.
double decayed(double g, double p, bool maximize, double weight_decay) {
  return (maximize ? -g : g) + weight_decay * p;
}

void sgd_step(std::size_t n, float* p, const float* g, float* buf, const SgdParams& s) {
  for (std::size_t i = 0; i < n; ++i) {
    double d = decayed(g[i], p[i], s.maximize, s.weight_decay);
    if (s.momentum != 0.0) {
      buf[i] = static_cast<float>(s.first_step ? d : s.momentum * buf[i] + (1.0 - s.dampening) * d);
      d = s.nesterov ? d + s.momentum * buf[i] : buf[i];
    }
    p[i] = static_cast<float>(p[i] - s.lr * d);
  }
}

void adagrad_step(std::size_t n, float* p, const float* g, float* sum, const AdagradParams& s) {
  for (std::size_t i = 0; i < n; ++i) {
    const double d = decayed(g[i], p[i], s.maximize, s.weight_decay);
    sum[i] = static_cast<float>(sum[i] + d * d);
    p[i] = static_cast<float>(p[i] - s.clr * d / (std::sqrt(double{sum[i]}) + s.eps));
  }
}

void rmsprop_step(std::size_t n, float* p, const float* g, float* square_avg, float* grad_avg,
                  float* buf, const RmspropParams& s) {
  for (std::size_t i = 0; i < n; ++i) {
    const double d = decayed(g[i], p[i], s.maximize, s.weight_decay);
    square_avg[i] = static_cast<float>(s.alpha * square_avg[i] + (1.0 - s.alpha) * d * d);
    const double sq = square_avg[i];
    double avg = 0.0;
    if (s.centered) {
      grad_avg[i] = static_cast<float>(s.alpha * grad_avg[i] + (1.0 - s.alpha) * d);
      const double ga = grad_avg[i];
      avg = std::sqrt(sq - ga * ga);
    } else {
      avg = std::sqrt(sq);
    }
    avg += s.eps;
    if (s.momentum > 0.0) {
      buf[i] = static_cast<float>(s.momentum * buf[i] + d / avg);
      p[i] = static_cast<float>(p[i] - s.lr * buf[i]);
    } else {
      p[i] = static_cast<float>(p[i] - s.lr * d / avg);
    }
  }
}

void adam_step(std::size_t n, float* p, const float* g, float* m, float* v, float* vmax,
               const AdamParams& s) {
  for (std::size_t i = 0; i < n; ++i) {
    double pv = p[i];
    double d = 0.0;
    if (s.decoupled) {
      d = s.maximize ? -g[i] : g[i];
      pv *= 1.0 - s.lr * s.weight_decay;
    } else {
      d = decayed(g[i], pv, s.maximize, s.weight_decay);
    }
    m[i] = static_cast<float>(s.beta1 * m[i] + (1.0 - s.beta1) * d);
    v[i] = static_cast<float>(s.beta2 * v[i] + (1.0 - s.beta2) * d * d);
    double second = v[i];
    if (s.amsgrad) {
      vmax[i] = std::max(vmax[i], v[i]);
      second = vmax[i];
    }
    p[i] = static_cast<float>(pv - s.step_size * m[i] /
                                       (std::sqrt(second) / s.bias_correction2_sqrt + s.eps));
  }
}

void nadam_step(std::size_t n, float* p, const float* g, float* m, float* v, const NadamParams& s) {
  for (std::size_t i = 0; i < n; ++i) {
    const double pv = static_cast<float>(p[i] * s.shrink);
    const double d = decayed(g[i], pv, s.maximize, s.weight_decay);
    m[i] = static_cast<float>(s.beta1 * m[i] + (1.0 - s.beta1) * d);
    v[i] = static_cast<float>(s.beta2 * v[i] + (1.0 - s.beta2) * d * d);
    const double denom = std::sqrt(v[i] / s.bias_correction2) + s.eps;
    p[i] = static_cast<float>(pv + s.grad_coef * d / denom + s.avg_coef * m[i] / denom);
  }
}

void radam_step(std::size_t n, float* p, const float* g, float* m, float* v, const RadamParams& s) {
  for (std::size_t i = 0; i < n; ++i) {
    const double pv = static_cast<float>(p[i] * s.shrink);
    const double d = decayed(g[i], pv, s.maximize, s.weight_decay);
    m[i] = static_cast<float>(s.beta1 * m[i] + (1.0 - s.beta1) * d);
    v[i] = static_cast<float>(s.beta2 * v[i] + (1.0 - s.beta2) * d * d);
    double update = m[i] / s.bias_correction1 * s.lr;
    if (s.rectified) update *= s.bias_correction2_sqrt / (std::sqrt(double{v[i]}) + s.eps) * s.rect;
    p[i] = static_cast<float>(pv - update);
  }
}

void adamax_step(std::size_t n, float* p, const float* g, float* m, float* u,
                 const AdamaxParams& s) {
  for (std::size_t i = 0; i < n; ++i) {
    const double d = decayed(g[i], p[i], s.maximize, s.weight_decay);
    m[i] = static_cast<float>(s.beta1 * m[i] + (1.0 - s.beta1) * d);
    u[i] = static_cast<float>(std::max(s.beta2 * u[i], std::abs(d) + s.eps));
    p[i] = static_cast<float>(p[i] - s.clr * m[i] / u[i]);
  }
}

void adadelta_step(std::size_t n, float* p, const float* g, float* square_avg, float* acc_delta,
                   const AdadeltaParams& s) {
  for (std::size_t i = 0; i < n; ++i) {
    const double d = decayed(g[i], p[i], s.maximize, s.weight_decay);
    square_avg[i] = static_cast<float>(s.rho * square_avg[i] + (1.0 - s.rho) * d * d);
    const double delta = std::sqrt(acc_delta[i] + s.eps) / std::sqrt(square_avg[i] + s.eps) * d;
    acc_delta[i] = static_cast<float>(s.rho * acc_delta[i] + (1.0 - s.rho) * delta * delta);
    p[i] = static_cast<float>(p[i] - s.lr * delta);
  }
}

// Twelve independent scalar multiply-add chains.
double fma_loop(std::size_t iterations) {
  float acc[12];
  for (std::size_t c = 0; c < 12; ++c) acc[c] = 0.01f * static_cast<float>(c);
  for (std::size_t i = 0; i < iterations; ++i)
    for (float& a : acc) a = a * 0.999f + 0.001f;
  float sum = 0.0f;
  for (float a : acc) sum += a;
  asm volatile("" : : "m"(sum) : "memory");  // the sums are used: the loop stays
  return 2.0 * 12.0 * static_cast<double>(iterations);
}

}  // namespace

const KernelTable& reference_table() {
  static const KernelTable table{
      .isa = Isa::scalar,
      .gemm_blocking =
          GemmBlocking{.mr = 1, .nr = 1, .mc = 1, .kc = 1, .nc = 1, .dot_rows = 1, .dot_cols = 1},
      .sgemm = &sgemm,
      .gemm_lanes = 1,
      .gemm_pack_a = nullptr,  // no tiles: gemm.cpp runs sgemm and the epilogue in passes
      .gemm_pack_b = nullptr,
      .gemm_tiles = nullptr,
      .gemm_dot = nullptr,
      .axpy = &axpy,
      .scale = &scale,
      .clamp = &clamp,
      .dot = &dot,
      .sum_squares = &sum_squares,
      .fma_loop = &fma_loop,
      .column_sums = &column_sums,
      .activation_forward = &activation_forward,
      .activation_backward = &activation_backward,
      .softmax_cross_entropy = &softmax_cross_entropy,
      .mse = &mse,
      .bce_with_logits = &bce_with_logits,
      .sgd_step = &sgd_step,
      .adagrad_step = &adagrad_step,
      .rmsprop_step = &rmsprop_step,
      .adam_step = &adam_step,
      .nadam_step = &nadam_step,
      .radam_step = &radam_step,
      .adamax_step = &adamax_step,
      .adadelta_step = &adadelta_step,
  };
  return table;
}

}  // namespace descent::kernels
