// Every ISA's kernels against the scalar reference twins, on random inputs with sizes 1..67,
// odd leading dimensions and unaligned starts.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "descent/kernels.hpp"
#include "descent/matrix.hpp"
#include "descent/parallel.hpp"
#include "descent/rng.hpp"
#include "kernels/gemm.hpp"
#include "kernels/kernel_table.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

using kernels::KernelTable;
using test::random_floats;

std::vector<Isa> simd_isas() {
  std::vector<Isa> isas;
  for (Isa isa : supported_isas())
    if (isa != Isa::scalar) isas.push_back(isa);
  return isas;
}

// Relative-plus-absolute closeness to a double-accumulated reference.
::testing::AssertionResult close(double got, double want, double scale, double rel = 2e-5) {
  const double tol = rel * scale + 1e-6;
  if (std::abs(got - want) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got " << got << ", want " << want << " (tol " << tol << ")";
}

class KernelTest : public ::testing::TestWithParam<Isa> {
 protected:
  const KernelTable& simd() const { return *kernels::table_for(GetParam()); }
  const KernelTable& ref() const { return kernels::reference_table(); }
};

TEST_P(KernelTest, TableIsThisIsasOwnInstantiation) {
  ASSERT_NE(kernels::table_for(GetParam()), nullptr);
  EXPECT_EQ(simd().isa, GetParam());
  EXPECT_NE(simd().sgemm, ref().sgemm);
  EXPECT_NE(simd().axpy, ref().axpy);
  EXPECT_NE(simd().softmax_cross_entropy, ref().softmax_cross_entropy);
  for (Isa other : simd_isas()) {
    if (other != GetParam()) {
      EXPECT_NE(simd().sgemm, kernels::table_for(other)->sgemm);
    }
  }
}

TEST_P(KernelTest, SetIsaRoutesThePublicEntryPointsToIt) {
  const Isa previous = active_isa();
  set_isa(GetParam());
  EXPECT_EQ(active_isa(), GetParam());
  EXPECT_EQ(&kernels::active(), kernels::table_for(GetParam()));
  EXPECT_EQ(kernels::active().sgemm, simd().sgemm);
  // The public call computes what the table's own function computes, bit for bit.
  const auto a = random_floats(5 * 7, 1), b = random_floats(7 * 6, 2);
  std::vector<float> c1(5 * 6), c2(5 * 6);
  sgemm(Trans::no, Trans::no, 5, 6, 7, 1.0f, a.data(), 7, b.data(), 6, 0.0f, c1.data(), 6);
  simd().sgemm(Trans::no, Trans::no, 5, 6, 7, 1.0f, a.data(), 7, b.data(), 6, 0.0f, c2.data(), 6);
  EXPECT_EQ(c1, c2);
  set_isa(previous);
}

TEST(PublicSgemm, BadArgumentsAreErrorsThatNameTheOperandAndLeaveCAlone) {
  const auto a = random_floats(5 * 5, 1), b = random_floats(5 * 5, 2);
  std::vector<float> c(5 * 5, 7.0f);
  auto call = [&](std::size_t m, std::size_t lda, std::size_t ldb, std::size_t ldc,
                  const float* pa) {
    return test::error_message([&] {
      sgemm(Trans::no, Trans::no, m, 5, 5, 1.0f, pa, lda, b.data(), ldb, 0.0f, c.data(), ldc);
    });
  };
  EXPECT_EQ(call(5, 4, 5, 5, a.data()), "sgemm: lda = 4 is smaller than the 5 columns of a");
  EXPECT_EQ(call(5, 5, 3, 5, a.data()), "sgemm: ldb = 3 is smaller than the 5 columns of b");
  EXPECT_EQ(call(5, 5, 5, 4, a.data()), "sgemm: ldc = 4 is smaller than the 5 columns of c");
  EXPECT_EQ(call(5, 5, 5, 5, nullptr), "sgemm: a is null");
  EXPECT_EQ(call(0, 5, 5, 0, a.data()), "sgemm: ldc = 0: a leading dimension is at least 1");
  // A shape whose last element lies past any address space: an error, not a wild read (m
  // rows of a, 5 floats apart, would need 5 * 2^62 floats).
  const std::string huge = call(std::size_t{1} << 62, 5, 5, 5, a.data());
  EXPECT_NE(huge.find("sgemm: a is 4611686018427387904 x 5 with lda = 5"), std::string::npos)
      << huge;
  EXPECT_EQ(call(5, std::size_t{1} << 62, 5, 5, a.data()).substr(0, 12), "sgemm: a is ");
  for (float v : c) EXPECT_EQ(v, 7.0f);
  // An empty operand may be null (k = 0: a is never read).
  EXPECT_EQ(test::error_message([&] {
              sgemm(Trans::no, Trans::no, 5, 5, 0, 1.0f, nullptr, 1, b.data(), 5, 0.0f, c.data(),
                    5);
            }),
            "no error");
  // An enum cast from a number that names no case: an error, not a silent no-op.
  EXPECT_EQ(test::error_message([&] {
              sgemm(static_cast<Trans>(7), Trans::no, 5, 5, 5, 1.0f, a.data(), 5, b.data(), 5, 0.0f,
                    c.data(), 5);
            }),
            "sgemm: trans_a = 7 is neither Trans::no nor Trans::yes");
}

TEST(PublicActivations, AnActivationThatNamesNoneIsAnError) {
  std::vector<float> x(8, 1.0f), y(8, 0.0f);
  EXPECT_EQ(test::error_message(
                [&] { activation_forward(static_cast<Activation>(9), 8, x.data(), y.data()); }),
            "activation_forward: activation 9 is not one descent has");
  EXPECT_EQ(test::error_message([&] {
              activation_backward(static_cast<Activation>(9), 8, x.data(), x.data(), y.data());
            }),
            "activation_backward: activation 9 is not one descent has");
  activation_forward(Activation::relu, 8, x.data(), y.data());
  EXPECT_EQ(y, x);
}

// The raw row-major kernels check their matrices as sgemm does: a row stride below the width,
// or a missing operand, is an Error naming it; a null gradient means none is wanted.
TEST(PublicLosses, BadStridesAndMissingOperandsAreErrorsThatNameThem) {
  std::vector<float> x(4 * 3, 0.5f), t(4 * 3, 0.0f), g(4 * 3, 0.0f), out(3, 0.0f);
  const std::vector<std::uint32_t> labels = {0, 1, 2, 0};
  EXPECT_EQ(test::error_message(
                [&] { softmax_cross_entropy(4, 3, x.data(), 2, labels.data(), 1.0f, nullptr, 3); }),
            "softmax_cross_entropy: ld = 2 is smaller than the 3 columns of logits");
  EXPECT_EQ(test::error_message(
                [&] { softmax_cross_entropy(4, 3, x.data(), 3, nullptr, 1.0f, nullptr, 3); }),
            "softmax_cross_entropy: labels is null");
  EXPECT_EQ(test::error_message([&] { mse(4, 3, x.data(), 3, t.data(), 3, 1.0f, g.data(), 1); }),
            "mse: ldg = 1 is smaller than the 3 columns of grad");
  EXPECT_EQ(test::error_message(
                [&] { bce_with_logits(4, 3, x.data(), 3, nullptr, 3, 1.0f, nullptr, 3); }),
            "bce_with_logits: target is null");
  EXPECT_EQ(test::error_message([&] { column_sums(4, 3, x.data(), 0, 0.0f, out.data()); }),
            "column_sums: ldx = 0 is smaller than the 3 columns of x");
  // Valid calls still run: one row may have any stride, and a null gradient is no gradient.
  EXPECT_GT(mse(1, 3, x.data(), 0, t.data(), 0, 1.0f, nullptr, 0), 0.0);
  EXPECT_GT(softmax_cross_entropy(4, 3, x.data(), 3, labels.data(), 1.0f, g.data(), 3), 0.0);
}

// The vector kernels refuse a missing vector of n > 0 floats (the kernel would read it), and
// a loss refuses a gradient that shares memory with what it reads.
TEST(PublicKernels, MissingVectorsAndOverlappingGradientsAreErrors) {
  std::vector<float> x(4, 1.0f), y(4, 0.0f);
  EXPECT_EQ(test::error_message([&] { axpy(4, 1.0f, nullptr, y.data()); }),
            "axpy: x is null (n = 4)");
  EXPECT_EQ(test::error_message([&] { axpy(4, 1.0f, x.data(), nullptr); }),
            "axpy: y is null (n = 4)");
  EXPECT_EQ(test::error_message([&] { scale(4, 2.0f, nullptr); }), "scale: x is null (n = 4)");
  EXPECT_EQ(test::error_message([&] { (void)dot(4, x.data(), nullptr); }),
            "dot: y is null (n = 4)");
  EXPECT_EQ(test::error_message([&] { (void)sum_squares(4, nullptr); }),
            "sum_squares: x is null (n = 4)");
  EXPECT_EQ(
      test::error_message([&] { activation_forward(Activation::relu, 4, nullptr, y.data()); }),
      "activation_forward: x is null (n = 4)");
  EXPECT_EQ(test::error_message(
                [&] { activation_backward(Activation::relu, 4, x.data(), x.data(), nullptr); }),
            "activation_backward: dx is null (n = 4)");
  // Nothing to read: no pointer needed.
  axpy(0, 1.0f, nullptr, nullptr);
  EXPECT_EQ(sum_squares(0, nullptr), 0.0);

  std::vector<float> logits = {1.0f, 2.0f, 3.0f, 4.0f};
  const std::vector<std::uint32_t> labels = {0, 1};
  EXPECT_EQ(test::error_message([&] {
              softmax_cross_entropy(2, 2, logits.data(), 2, labels.data(), 1.0f, logits.data(), 2);
            }),
            "softmax_cross_entropy: grad shares memory with logits");
  EXPECT_EQ(
      test::error_message([&] { mse(2, 2, logits.data(), 2, x.data(), 2, 1.0f, x.data() + 1, 2); }),
      "mse: grad shares memory with target");
  // Apart, the same call runs.
  std::vector<float> g(4, 0.0f);
  EXPECT_GT(softmax_cross_entropy(2, 2, logits.data(), 2, labels.data(), 1.0f, g.data(), 2), 0.0);
}

TEST_P(KernelTest, AxpyAndScaleMatchReference) {
  for (std::size_t n = 1; n <= 67; ++n) {
    for (std::size_t offset : {0, 1}) {
      const auto x = random_floats(n + offset, n);
      const auto y0 = random_floats(n + offset, n + 100);
      auto y_simd = y0, y_ref = y0;
      simd().axpy(n, -0.75f, x.data() + offset, y_simd.data() + offset);
      ref().axpy(n, -0.75f, x.data() + offset, y_ref.data() + offset);
      for (std::size_t i = 0; i < n + offset; ++i)
        ASSERT_TRUE(close(y_simd[i], y_ref[i], 2.0)) << "axpy n=" << n << " i=" << i;
      simd().scale(n, 1.5f, y_simd.data() + offset);
      ref().scale(n, 1.5f, y_ref.data() + offset);
      for (std::size_t i = 0; i < n + offset; ++i)
        ASSERT_TRUE(close(y_simd[i], y_ref[i], 4.0)) << "scale n=" << n << " i=" << i;
    }
  }
}

TEST_P(KernelTest, DotAndSumOfSquaresMatchReference) {
  for (std::size_t n : {1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 67, 1000, 1025, 5000}) {
    const auto x = random_floats(n + 1, n * 3), y = random_floats(n + 1, n * 3 + 1);
    double scale = 0.0;
    for (std::size_t i = 0; i < n; ++i) scale += std::abs(x[i + 1] * y[i + 1]);
    EXPECT_TRUE(close(simd().dot(n, x.data() + 1, y.data() + 1),
                      ref().dot(n, x.data() + 1, y.data() + 1), scale))
        << "n=" << n;
    const double sq = ref().sum_squares(n, x.data());
    EXPECT_TRUE(close(simd().sum_squares(n, x.data()), sq, sq)) << "n=" << n;
  }
  EXPECT_EQ(simd().dot(0, nullptr, nullptr), 0.0);
}

TEST_P(KernelTest, ColumnSumsMatchReference) {
  Rng rng(7);
  for (std::size_t cols = 1; cols <= 67; ++cols) {
    const std::size_t rows = 1 + rng.below(40);
    const std::size_t ld = cols + rng.below(4);
    const auto x = random_floats(rows * ld, cols);
    for (float beta : {0.0f, 1.0f, 0.5f}) {
      auto out_simd = random_floats(cols, cols + 7), out_ref = out_simd;
      if (beta == 0.0f) out_simd.assign(cols, std::numeric_limits<float>::quiet_NaN());
      simd().column_sums(rows, cols, x.data(), ld, beta, out_simd.data());
      ref().column_sums(rows, cols, x.data(), ld, beta, out_ref.data());
      for (std::size_t j = 0; j < cols; ++j)
        ASSERT_TRUE(close(out_simd[j], out_ref[j], static_cast<double>(rows)))
            << "rows=" << rows << " cols=" << cols << " beta=" << beta;
    }
  }
}

TEST_P(KernelTest, ActivationsMatchReference) {
  for (Activation act :
       {Activation::identity, Activation::relu, Activation::sigmoid, Activation::tanh}) {
    for (std::size_t n = 1; n <= 67; ++n) {
      const auto x = random_floats(n, n + 11, -6.0f, 6.0f);
      std::vector<float> y_simd(n), y_ref(n);
      simd().activation_forward(act, n, x.data(), y_simd.data());
      ref().activation_forward(act, n, x.data(), y_ref.data());
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_TRUE(close(y_simd[i], y_ref[i], std::abs(y_ref[i])))
            << to_string(act) << " forward n=" << n << " x=" << x[i];
      const auto dy = random_floats(n, n + 12);
      std::vector<float> dx_simd(n), dx_ref(n);
      simd().activation_backward(act, n, y_ref.data(), dy.data(), dx_simd.data());
      ref().activation_backward(act, n, y_ref.data(), dy.data(), dx_ref.data());
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_TRUE(close(dx_simd[i], dx_ref[i], std::abs(dx_ref[i]) + 1e-3))
            << to_string(act) << " backward n=" << n;
      // In place, as the layers call them.
      auto inplace = x;
      simd().activation_forward(act, n, inplace.data(), inplace.data());
      EXPECT_EQ(inplace, y_simd);
    }
  }
}

// ReLU keeps a NaN (as torch.relu does), in the element-wise pass and in the forward GEMM's
// fused store, on every ISA: a NaN weight must not hide behind finite outputs.
TEST_P(KernelTest, ReluKeepsNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const KernelTable* t : {&simd(), &ref()}) {
    SCOPED_TRACE(to_string(t->isa));
    for (std::size_t n : {1u, 5u, 16u, 37u}) {
      std::vector<float> x(n, -2.0f);
      x[0] = nan;
      if (n > 2) {
        x[1] = inf;
        x[2] = 3.0f;
      }
      std::vector<float> y(n);
      t->activation_forward(Activation::relu, n, x.data(), y.data());
      EXPECT_TRUE(std::isnan(y[0])) << "n=" << n;
      if (n > 2) {
        EXPECT_EQ(y[1], inf);
        EXPECT_EQ(y[2], 3.0f);
      }
      for (std::size_t i = 3; i < n; ++i) EXPECT_EQ(y[i], 0.0f) << i;
    }
    // Backward, ReLU passes the gradient or 0: a NaN or inf gradient where y is 0 gives 0.
    const float y[4] = {0.0f, 0.0f, 2.0f, 2.0f};
    const float dy[4] = {nan, inf, nan, 1.5f};
    float dx[4] = {};
    t->activation_backward(Activation::relu, 4, y, dy, dx);
    EXPECT_EQ(dx[0], 0.0f);
    EXPECT_EQ(dx[1], 0.0f);
    EXPECT_TRUE(std::isnan(dx[2]));
    EXPECT_EQ(dx[3], 1.5f);
    // A NaN in row 1 of X: that row of Y = relu(X W^T + b) is NaN, the others finite. Two
    // rows go through the dot-product tiles, thirteen through the packed ones.
    for (const std::size_t m : {std::size_t{2}, std::size_t{13}}) {
      const std::size_t k = 29, n = 70;
      auto x = random_floats(m * k, 21);
      x[1 * k + 4] = nan;
      const auto w = random_floats(n * k, 22), bias = random_floats(n, 23);
      std::vector<float> out(m * n);
      kernels::GemmEpilogue forward;
      forward.bias = bias.data();
      forward.activation = Activation::relu;
      kernels::gemm(*t, Trans::no, Trans::yes, m, n, k, 1.0f, x.data(), k, w.data(), k, 0.0f,
                    out.data(), n, forward, false);
      for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
          if (i == 1) {
            ASSERT_TRUE(std::isnan(out[i * n + j])) << j;
          } else {
            ASSERT_GE(out[i * n + j], 0.0f) << i << "," << j;
          }
        }
      }
    }
  }
}

TEST_P(KernelTest, ElementResultDoesNotDependOnPositionInTheArray) {
  // Tails go through the same vector code as full batches, so an element computes the same
  // bits whether it sits in the body or the tail: shards of any size agree.
  const std::size_t n = 67;
  const auto x = random_floats(n, 99, -4.0f, 4.0f);
  for (Activation act : {Activation::sigmoid, Activation::tanh, Activation::relu}) {
    std::vector<float> whole(n);
    simd().activation_forward(act, n, x.data(), whole.data());
    for (std::size_t start = 1; start < n; start += 5) {
      std::vector<float> part(n - start);
      simd().activation_forward(act, n - start, x.data() + start, part.data());
      for (std::size_t i = 0; i < part.size(); ++i)
        ASSERT_EQ(part[i], whole[start + i]) << to_string(act) << " start=" << start;
    }
  }
}

TEST_P(KernelTest, SoftmaxCrossEntropyMatchesReference) {
  Rng rng(11);
  for (std::size_t cols = 1; cols <= 67; ++cols) {
    const std::size_t rows = 1 + rng.below(6);
    const std::size_t ld = cols + rng.below(3);
    const auto logits = random_floats(rows * ld, cols, -5.0f, 5.0f);
    std::vector<std::uint32_t> labels(rows);
    for (auto& l : labels) l = static_cast<std::uint32_t>(rng.below(cols));
    std::vector<float> g_simd(rows * ld, 7.0f), g_ref(rows * ld, 7.0f);
    const double l_simd = simd().softmax_cross_entropy(rows, cols, logits.data(), ld, labels.data(),
                                                       0.25f, g_simd.data(), ld);
    const double l_ref = ref().softmax_cross_entropy(rows, cols, logits.data(), ld, labels.data(),
                                                     0.25f, g_ref.data(), ld);
    ASSERT_TRUE(close(l_simd, l_ref, std::abs(l_ref) + 1.0)) << "cols=" << cols;
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j)
        ASSERT_TRUE(close(g_simd[i * ld + j], g_ref[i * ld + j], 0.25)) << "cols=" << cols;
    // Padding between rows is not touched.
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = cols; j < ld; ++j) ASSERT_EQ(g_simd[i * ld + j], 7.0f);
    // Loss only, no gradient.
    EXPECT_EQ(simd().softmax_cross_entropy(rows, cols, logits.data(), ld, labels.data(), 0.25f,
                                           nullptr, 0),
              l_simd);
  }
}

TEST_P(KernelTest, SoftmaxCrossEntropyIsFiniteForHugeLogits) {
  const std::vector<float> logits = {3.0e4f, -3.0e4f, 1.0e4f, 8.0e37f, -8.0e37f, 0.0f};
  const std::uint32_t labels[2] = {1, 1};
  std::vector<float> grad(6);
  const double loss =
      simd().softmax_cross_entropy(2, 3, logits.data(), 3, labels, 1.0f, grad.data(), 3);
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, 6.0e4 + 16.0e37, 1e33);
  for (float g : grad) EXPECT_TRUE(std::isfinite(g));
  EXPECT_FLOAT_EQ(grad[0], 1.0f);   // softmax 1 at the max, label elsewhere
  EXPECT_FLOAT_EQ(grad[1], -1.0f);  // 0 - 1 at the label
  // Logits far from 0 but close together keep the loss's digits, as torch's log_softmax
  // does: two equal logits of 1e16 are log 2 (they gave 0, and 1e12 gave 0.693115).
  for (const float big : {1.0e12f, 1.0e16f, 1.0e30f}) {
    const float equal[2] = {big, big};
    const std::uint32_t first = 0;
    for (const KernelTable* t : {&simd(), &ref()}) {
      EXPECT_NEAR(t->softmax_cross_entropy(1, 2, equal, 2, &first, 1.0f, nullptr, 2), std::log(2.0),
                  1e-7)
          << big;
    }
  }
}

TEST_P(KernelTest, MseAndBceMatchReference) {
  Rng rng(13);
  for (std::size_t cols = 1; cols <= 67; ++cols) {
    const std::size_t rows = 1 + rng.below(5);
    const std::size_t ld = cols + rng.below(3);
    const auto pred = random_floats(rows * ld, cols + 1, -8.0f, 8.0f);
    const auto target = random_floats(rows * ld, cols + 2, 0.0f, 1.0f);
    std::vector<float> g_simd(rows * ld), g_ref(rows * ld);
    double l_simd =
        simd().mse(rows, cols, pred.data(), ld, target.data(), ld, 0.5f, g_simd.data(), ld);
    double l_ref =
        ref().mse(rows, cols, pred.data(), ld, target.data(), ld, 0.5f, g_ref.data(), ld);
    ASSERT_TRUE(close(l_simd, l_ref, l_ref)) << "mse cols=" << cols;
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j)
        ASSERT_TRUE(close(g_simd[i * ld + j], g_ref[i * ld + j], 10.0)) << "mse grad";
    EXPECT_EQ(simd().mse(rows, cols, pred.data(), ld, target.data(), ld, 0.5f, nullptr, 0), l_simd);

    l_simd = simd().bce_with_logits(rows, cols, pred.data(), ld, target.data(), ld, 0.5f,
                                    g_simd.data(), ld);
    l_ref = ref().bce_with_logits(rows, cols, pred.data(), ld, target.data(), ld, 0.5f,
                                  g_ref.data(), ld);
    ASSERT_TRUE(close(l_simd, l_ref, l_ref)) << "bce cols=" << cols;
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j)
        ASSERT_TRUE(close(g_simd[i * ld + j], g_ref[i * ld + j], 1.0)) << "bce grad";
  }
}

struct GemmCase {
  Trans ta, tb;
  std::size_t m, n, k, pad_a, pad_b, pad_c, offset;
  float alpha, beta;
};

void check_gemm(const KernelTable& simd, const GemmCase& g) {
  const std::size_t a_rows = g.ta == Trans::no ? g.m : g.k, a_cols = g.ta == Trans::no ? g.k : g.m;
  const std::size_t b_rows = g.tb == Trans::no ? g.k : g.n, b_cols = g.tb == Trans::no ? g.n : g.k;
  const std::size_t lda = a_cols + g.pad_a, ldb = b_cols + g.pad_b, ldc = g.n + g.pad_c;
  const auto a = random_floats(a_rows * lda + g.offset, g.m * 131 + g.k);
  const auto b = random_floats(b_rows * ldb + g.offset, g.n * 137 + g.k);
  auto c_simd = random_floats(g.m * ldc + g.offset, g.m + g.n);
  if (g.beta == 0.0f) c_simd.assign(c_simd.size(), std::numeric_limits<float>::quiet_NaN());
  auto c_ref = c_simd;
  const float* pa = a.data() + g.offset;
  const float* pb = b.data() + g.offset;
  simd.sgemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, pa, lda, pb, ldb, g.beta, c_simd.data() + g.offset,
             ldc);
  kernels::reference_table().sgemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, pa, lda, pb, ldb, g.beta,
                                   c_ref.data() + g.offset, ldc);
  for (std::size_t i = 0; i < g.m; ++i) {
    for (std::size_t j = 0; j < ldc; ++j) {
      const std::size_t at = g.offset + i * ldc + j;
      if (j >= g.n) {  // padding columns of C are left alone
        ASSERT_TRUE(std::isnan(c_simd[at]) ? std::isnan(c_ref[at]) : c_simd[at] == c_ref[at]);
        continue;
      }
      ASSERT_FALSE(std::isnan(c_simd[at])) << "NaN at " << i << "," << j;
      const double scale = std::abs(g.alpha) * static_cast<double>(g.k) + std::abs(g.beta) + 1.0;
      ASSERT_TRUE(close(c_simd[at], c_ref[at], scale))
          << "m=" << g.m << " n=" << g.n << " k=" << g.k << " ta=" << (g.ta == Trans::yes)
          << " tb=" << (g.tb == Trans::yes) << " alpha=" << g.alpha << " beta=" << g.beta << " at "
          << i << "," << j;
    }
  }
}

TEST_P(KernelTest, SgemmMatchesReferenceOnSmallOddShapes) {
  Rng rng(17);
  for (int trial = 0; trial < 120; ++trial) {
    GemmCase g;
    g.ta = rng.below(2) ? Trans::yes : Trans::no;
    g.tb = rng.below(2) ? Trans::yes : Trans::no;
    g.m = 1 + rng.below(67);
    g.n = 1 + rng.below(67);
    g.k = 1 + rng.below(67);
    g.pad_a = rng.below(4);
    g.pad_b = rng.below(4);
    g.pad_c = rng.below(4);
    g.offset = rng.below(2);
    const float alphas[] = {1.0f, -0.5f, 2.0f};
    const float betas[] = {0.0f, 1.0f, 0.3f};
    g.alpha = alphas[rng.below(3)];
    g.beta = betas[rng.below(3)];
    check_gemm(simd(), g);
  }
}

TEST_P(KernelTest, SgemmCoversEveryTransposeAndTileRemainder) {
  const auto& blocking = simd().gemm_blocking;
  for (Trans ta : {Trans::no, Trans::yes}) {
    for (Trans tb : {Trans::no, Trans::yes}) {
      // Every remainder of m against MR and of n against NR, once.
      for (std::size_t rm = 0; rm < blocking.mr; ++rm)
        check_gemm(simd(),
                   {ta, tb, blocking.mr + rm, 2 * blocking.nr + 1, 9, 1, 0, 2, 1, 1.0f, 0.0f});
      for (std::size_t rn = 0; rn < blocking.nr; ++rn)
        check_gemm(simd(), {ta, tb, blocking.mr + 1, blocking.nr + rn, 5, 0, 3, 1, 0, 1.0f, 1.0f});
    }
  }
}

TEST_P(KernelTest, SgemmCrossesEveryCacheBlock) {
  const auto& blocking = simd().gemm_blocking;
  for (Trans ta : {Trans::no, Trans::yes}) {
    for (Trans tb : {Trans::no, Trans::yes}) {
      // m over MC, k over KC (partial last block), n over NC.
      check_gemm(simd(), {ta, tb, blocking.mc + 7, 19, blocking.kc + 13, 1, 2, 3, 1, 0.5f, 0.3f});
      check_gemm(simd(), {ta, tb, 3, blocking.nc + 5, 4, 0, 1, 0, 0, 1.0f, 0.0f});
    }
  }
}

TEST_P(KernelTest, SgemmReadsBInPlaceOrPacksItForTheSameBits) {
  // An untransposed B of whole vectors is read where it lies by products of at most
  // direct_b_rows rows and packed for taller ones: against the reference on either side, and
  // the rows the two products share come out bit for bit the same (packing only copies).
  const KernelTable& t = simd();
  // (An ISA that reads such a B in place at any height: two tall products, both in place.)
  const std::size_t limit = std::min<std::size_t>(t.gemm_blocking.direct_b_rows, 200);
  const std::size_t n = t.gemm_blocking.nr + t.gemm_lanes, k = 37;
  for (std::size_t m : {limit, limit + 1, limit + t.gemm_blocking.mr + 1})
    check_gemm(t, {Trans::no, Trans::no, m, n, k, 0, 0, 0, 0, 1.0f, 0.0f});
  const auto a = random_floats((limit + 1) * k, 11);
  const auto b = random_floats(k * n, 12);
  std::vector<float> in_place(limit * n), packed((limit + 1) * n);
  t.sgemm(Trans::no, Trans::no, limit, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, in_place.data(),
          n);
  t.sgemm(Trans::no, Trans::no, limit + 1, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f,
          packed.data(), n);
  EXPECT_EQ(0, std::memcmp(in_place.data(), packed.data(), in_place.size() * sizeof(float)));
}

TEST_P(KernelTest, SgemmEvensOutAFewLeftoverRowsForTheSameBits) {
  // A block of m = j MR + left rows, left < MR / 2: with A read in place, the last full tile
  // and the leftover rows are computed as two tiles of about equal height; with A packed
  // (rows a page or more apart), as a full tile and an edge tile. Against the reference, and
  // the two ways bit for bit the same.
  const KernelTable& t = simd();
  const std::size_t mr = t.gemm_blocking.mr;
  const std::size_t n = t.gemm_blocking.nr + t.gemm_lanes + 3, k = 70, far = 1100;
  for (std::size_t left = 1; 2 * left < mr; ++left) {
    const std::size_t m = 2 * mr + left;
    SCOPED_TRACE(testing::Message() << "m " << m);
    for (Trans ta : {Trans::no, Trans::yes})
      check_gemm(t, {ta, Trans::no, m, n, k, 0, 0, 0, 0, 1.0f, 0.0f});
    const auto a = random_floats(m * k, 21);
    const auto b = random_floats(k * n, 22);
    std::vector<float> a_far(m * far, 0.0f);
    for (std::size_t i = 0; i < m; ++i) std::memcpy(&a_far[i * far], &a[i * k], k * sizeof(float));
    std::vector<float> in_place(m * n), packed(m * n);
    t.sgemm(Trans::no, Trans::no, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, in_place.data(),
            n);
    t.sgemm(Trans::no, Trans::no, m, n, k, 1.0f, a_far.data(), far, b.data(), n, 0.0f,
            packed.data(), n);
    EXPECT_EQ(0, std::memcmp(in_place.data(), packed.data(), in_place.size() * sizeof(float)));
  }
}

TEST_P(KernelTest, SgemmShortKTilesCoverEveryRemainderForTheSameBits) {
  // A K of at most short_k_depth with A and B read in place and C's width a multiple of
  // short_k_nr takes the ISA's short-K tiles (where it has them): against the reference for
  // every remainder of m against their rows and MR, both layouts of A, beta 0 (NaN in C), 1
  // and another; alpha != 1 packs A and takes the MR x NR tiles. And the same bits as the
  // MR x NR tiles give: columns [0, n) of a product 16 columns wider, which they compute.
  const KernelTable& t = simd();
  const kernels::GemmBlocking& g = t.gemm_blocking;
  const std::size_t nr = g.short_k_nr > 0 ? g.short_k_nr : g.nr;
  const std::size_t depth = g.short_k_depth > 0 ? g.short_k_depth : 16;
  for (std::size_t k : {std::size_t{1}, std::size_t{10}, depth - 1, depth, depth + 1}) {
    for (std::size_t n : {nr, 3 * nr}) {
      for (std::size_t m = 1; m <= g.mr + 2 * std::max<std::size_t>(g.short_k_mr, 1) + 1; ++m) {
        for (const Trans ta : {Trans::no, Trans::yes}) {
          SCOPED_TRACE(testing::Message()
                       << "m=" << m << " n=" << n << " k=" << k << " ta=" << (ta == Trans::yes));
          const float betas[] = {0.0f, 1.0f, 0.3f};
          check_gemm(t, {ta, Trans::no, m, n, k, 0, 0, 0, 0, 1.0f, betas[m % 3]});
          check_gemm(t, {ta, Trans::no, m, n, k, 1, 16, 3, 0, m % 4 == 0 ? -0.5f : 1.0f, 0.0f});
          const std::size_t wide = n + 16;
          const std::size_t lda = ta == Trans::no ? k : m;
          const auto a = random_floats(m * k, 31);
          const auto b = random_floats(k * wide, 32);
          std::vector<float> narrow(m * n), whole(m * wide);
          t.sgemm(ta, Trans::no, m, n, k, 1.0f, a.data(), lda, b.data(), wide, 0.0f, narrow.data(),
                  n);
          t.sgemm(ta, Trans::no, m, wide, k, 1.0f, a.data(), lda, b.data(), wide, 0.0f,
                  whole.data(), wide);
          for (std::size_t i = 0; i < m; ++i)
            ASSERT_EQ(0, std::memcmp(&narrow[i * n], &whole[i * wide], n * sizeof(float)))
                << "row " << i;
        }
      }
    }
  }
}

TEST_P(KernelTest, SgemmCoversEveryRemainderOfKAgainstKc) {
  const auto& blocking = simd().gemm_blocking;
  // Every remainder of k against KC, on a tile and a bit; a sample for the other transposes.
  for (std::size_t r = 0; r < blocking.kc; ++r) {
    check_gemm(simd(), {Trans::no, Trans::no, blocking.mr + 1, blocking.nr + 1, blocking.kc + r, 0,
                        0, 0, 0, 1.0f, r % 2 == 0 ? 0.0f : 1.0f});
  }
  for (Trans ta : {Trans::no, Trans::yes}) {
    for (Trans tb : {Trans::no, Trans::yes}) {
      for (std::size_t r : {std::size_t{1}, blocking.kc / 2 + 1, blocking.kc - 1}) {
        check_gemm(simd(), {ta, tb, blocking.mr + 2, blocking.nr - 1, 2 * blocking.kc + r, 1, 1, 1,
                            0, -0.5f, 0.0f});
      }
    }
  }
}

TEST_P(KernelTest, SgemmNarrowOutputsTakeTheTransposedPath) {
  // n <= NR / 2 with m > n: the driver computes C^T. Every n there, remainders of m, every
  // transpose case, alpha and beta.
  const auto& blocking = simd().gemm_blocking;
  for (Trans ta : {Trans::no, Trans::yes}) {
    for (Trans tb : {Trans::no, Trans::yes}) {
      for (std::size_t n = 1; n <= blocking.nr / 2; ++n) {
        for (std::size_t m : {n + 1, blocking.nr + 3, 3 * blocking.nr + blocking.nr / 2}) {
          check_gemm(simd(), {ta, tb, m, n, 17, 1, 2, 1, 1, 1.0f, 0.0f});
          check_gemm(simd(), {ta, tb, m, n, blocking.kc + 3, 0, 0, 2, 0, 0.5f, 0.7f});
        }
      }
    }
  }
}

// A C = A B^T of one or two rows (a forward pass of one sample) reads B where it lies, by the
// dot-product tiles: against the reference on remainders of n and k, alpha and beta; bit for
// bit the rows a taller narrow product (which copies B first) computes; and the same bits
// with its columns split across 1, 2 and 3 threads, with the bias and ReLU fused.
TEST_P(KernelTest, SgemmOfOneOrTwoRowsReadsBWhereItLies) {
  const KernelTable& t = simd();
  const std::size_t rows = t.gemm_blocking.dot_rows;
  for (std::size_t m = 1; m <= rows; ++m) {
    for (std::size_t n : {1, 9, 10, 11, 16, 33, 257}) {
      for (std::size_t k : {1, 15, 16, 17, 100, 785}) {
        check_gemm(t, {Trans::no, Trans::yes, m, n, k, 1, 3, 2, 1, 1.0f, 0.0f});
        check_gemm(t, {Trans::no, Trans::yes, m, n, k, 0, 0, 0, 0, -0.5f, 0.3f});
      }
    }
  }
  // Below gemm_lanes columns a product of rows + 1 rows also runs as dot products, B copied.
  const std::size_t n = t.gemm_lanes - 1, k = 37;
  const auto a = random_floats((rows + 1) * k, 21), b = random_floats(n * k, 22);
  std::vector<float> tall((rows + 1) * n), few(rows * n);
  t.sgemm(Trans::no, Trans::yes, rows + 1, n, k, 0.7f, a.data(), k, b.data(), k, 0.0f, tall.data(),
          n);
  t.sgemm(Trans::no, Trans::yes, rows, n, k, 0.7f, a.data(), k, b.data(), k, 0.0f, few.data(), n);
  EXPECT_EQ(0, std::memcmp(few.data(), tall.data(), few.size() * sizeof(float)));

  const std::size_t wide = 1000, deep = 784;  // enough work to split
  const auto x = random_floats(deep, 23), w = random_floats(wide * deep, 24);
  const auto bias = random_floats(wide, 25);
  kernels::GemmEpilogue e;
  e.bias = bias.data();
  e.activation = Activation::relu;
  std::vector<float> serial(wide);
  kernels::gemm(t, Trans::no, Trans::yes, 1, wide, deep, 1.0f, x.data(), deep, w.data(), deep, 0.0f,
                serial.data(), wide, e, false);
  for (std::size_t threads : {1, 2, 3}) {
    set_threads(threads);
    std::vector<float> c(wide, std::numeric_limits<float>::quiet_NaN());
    kernels::gemm(t, Trans::no, Trans::yes, 1, wide, deep, 1.0f, x.data(), deep, w.data(), deep,
                  0.0f, c.data(), wide, e, true);
    EXPECT_EQ(0, std::memcmp(c.data(), serial.data(), c.size() * sizeof(float)))
        << threads << " threads";
  }
  set_threads(0);
  for (std::size_t j = 0; j < wide; ++j) {
    double sum = bias[j];
    for (std::size_t q = 0; q < deep; ++q) sum += static_cast<double>(x[q]) * w[j * deep + q];
    ASSERT_TRUE(close(serial[j], static_cast<float>(std::max(sum, 0.0)), deep)) << "column " << j;
  }
}

// The fused epilogues against the same ISA's product followed by its separate passes: bias
// and activation on the way out (forward), the activation derivative (backward). They share
// their vector code, so they must agree bit for bit.
TEST_P(KernelTest, FusedEpiloguesEqualSeparatePassesBitwise) {
  const KernelTable& t = simd();
  for (Activation act :
       {Activation::identity, Activation::relu, Activation::sigmoid, Activation::tanh}) {
    // Normal tiles, edge tiles, the narrow (transposed) path, and a K of several K blocks in
    // either direction (the epilogue then adds the last block to C before it applies).
    // {29, 10, 128}: the backward product has K = 10 and a width of 128, for the short-K
    // tiles.
    const std::size_t shapes[][3] = {{37, 45, 29},   {8, 3, 70},    {1, 1, 1},    {130, 7, 300},
                                     {50, 70, 1100}, {26, 600, 40}, {29, 10, 128}};
    for (const auto& shape : shapes) {
      const std::size_t m = shape[0], n = shape[1], k = shape[2];
      SCOPED_TRACE(testing::Message() << to_string(act) << " m=" << m << " n=" << n << " k=" << k);
      const auto x = random_floats(m * k, 5), w = random_floats(n * k, 6);
      const auto bias = random_floats(n, 7);
      // Forward: Y = f(X W^T + b).
      std::vector<float> fused(m * n, std::numeric_limits<float>::quiet_NaN());
      kernels::GemmEpilogue forward;
      forward.bias = bias.data();
      forward.activation = act;
      kernels::gemm(t, Trans::no, Trans::yes, m, n, k, 1.0f, x.data(), k, w.data(), k, 0.0f,
                    fused.data(), n, forward, false);
      std::vector<float> separate(m * n, std::numeric_limits<float>::quiet_NaN());
      kernels::gemm(t, Trans::no, Trans::yes, m, n, k, 1.0f, x.data(), k, w.data(), k, 0.0f,
                    separate.data(), n, {}, false);
      for (std::size_t i = 0; i < m; ++i) {
        float* row = separate.data() + i * n;
        for (std::size_t j = 0; j < n; ++j) row[j] = bias[j] + row[j];
        t.activation_forward(act, n, row, row);
      }
      ASSERT_EQ(0, std::memcmp(fused.data(), separate.data(), fused.size() * sizeof(float)));
      // Backward: dX = (dY W) * f'(y), y the layer's output.
      const auto dy = random_floats(m * n, 8);
      std::vector<float> y(m * k);
      t.activation_forward(act, m * k, random_floats(m * k, 9).data(), y.data());
      std::vector<float> dx_fused(m * k, std::numeric_limits<float>::quiet_NaN());
      kernels::GemmEpilogue backward;
      backward.derivative = y.data();
      backward.ld_derivative = k;
      backward.derivative_activation = act;
      kernels::gemm(t, Trans::no, Trans::no, m, k, n, 1.0f, dy.data(), n, w.data(), k, 0.0f,
                    dx_fused.data(), k, backward, false);
      std::vector<float> dx_separate(m * k);
      kernels::gemm(t, Trans::no, Trans::no, m, k, n, 1.0f, dy.data(), n, w.data(), k, 0.0f,
                    dx_separate.data(), k, {}, false);
      t.activation_backward(act, m * k, y.data(), dx_separate.data(), dx_separate.data());
      ASSERT_EQ(0,
                std::memcmp(dx_fused.data(), dx_separate.data(), dx_fused.size() * sizeof(float)));
    }
  }
}

// A product large enough to be split across threads gives the same bits on any thread count
// as the serial call: M and N are split, never K.
TEST_P(KernelTest, ParallelGemmIsBitIdenticalOnAnyThreadCount) {
  const KernelTable& t = simd();
  struct Shape {
    Trans ta, tb;
    std::size_t m, n, k;
    float alpha = 0.7f;
  };
  const Shape shapes[] = {{Trans::no, Trans::no, 301, 277, 300},
                          {Trans::no, Trans::yes, 512, 256, 784},
                          {Trans::yes, Trans::no, 256, 784, 128},
                          {Trans::no, Trans::yes, 2000, 10, 256},
                          {Trans::yes, Trans::yes, 97, 1100, 40},
                          // Short K: split by rows alone, or, with too few rows, not split.
                          {Trans::no, Trans::no, 1000, 300, 10},
                          {Trans::yes, Trans::no, 256, 784, 32},
                          {Trans::no, Trans::yes, 20, 3000, 24},
                          // AVX-512's short-K tiles (width a multiple of 64, A in place),
                          // split by rows: the input gradient of a 10-class layer.
                          {Trans::no, Trans::no, 512, 256, 10},
                          {Trans::yes, Trans::no, 300, 128, 32},
                          // Fewer panels than threads: rows cut finer. One panel of C as it
                          // is, and (alpha 1) a forward product of few rows computed as C^T.
                          {Trans::no, Trans::no, 600, 32, 100},
                          {Trans::no, Trans::yes, 32, 256, 784, 1.0f}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(testing::Message() << "m=" << s.m << " n=" << s.n << " k=" << s.k);
    const std::size_t lda = s.ta == Trans::no ? s.k : s.m, ldb = s.tb == Trans::no ? s.n : s.k;
    const auto a = random_floats(s.m * s.k, 11), b = random_floats(s.k * s.n, 12);
    const auto bias = random_floats(s.n, 13);
    kernels::GemmEpilogue e;
    e.bias = bias.data();
    e.activation = Activation::relu;
    std::vector<float> serial(s.m * s.n);
    kernels::gemm(t, s.ta, s.tb, s.m, s.n, s.k, s.alpha, a.data(), lda, b.data(), ldb, 0.0f,
                  serial.data(), s.n, e, false);
    for (std::size_t threads : {1, 2, 3, 4, 8}) {
      set_threads(threads);
      std::vector<float> c(s.m * s.n, std::numeric_limits<float>::quiet_NaN());
      kernels::gemm(t, s.ta, s.tb, s.m, s.n, s.k, s.alpha, a.data(), lda, b.data(), ldb, 0.0f,
                    c.data(), s.n, e, true);
      EXPECT_EQ(0, std::memcmp(c.data(), serial.data(), c.size() * sizeof(float)))
          << threads << " threads";
    }
    set_threads(0);
  }
}

struct GemmShape {
  std::size_t m, n, k;
};

// body(ta, tb, shape) for every transpose case and shape, each traced by name.
template <class Body>
void for_each_gemm_case(std::span<const GemmShape> shapes, const Body& body) {
  for (Trans ta : {Trans::no, Trans::yes}) {
    for (Trans tb : {Trans::no, Trans::yes}) {
      for (const GemmShape& s : shapes) {
        SCOPED_TRACE(testing::Message()
                     << "ta=" << (ta == Trans::yes) << " tb=" << (tb == Trans::yes) << " m=" << s.m
                     << " n=" << s.n << " k=" << s.k);
        body(ta, tb, s);
      }
    }
  }
}

// op(B) packed ahead (gemm_pack_b, as the trainer packs a step's weights once for all its
// shards) gives the same bits as the product packing it itself: every transpose case, blocks
// crossing kc and nc with their remainders, beta 0 over NaN and beta != 0, serial and split.
// With alpha = 1, a forward product of few rows (32 x 256 x 784) that computes C^T when it
// packs B itself, and C from the packed B, must agree too.
TEST_P(KernelTest, PrepackedBGivesTheSameBits) {
  const KernelTable& t = simd();
  const kernels::GemmBlocking& g = t.gemm_blocking;
  const GemmShape shapes[] = {{37, 45, 29},
                              {g.mr + 1, g.nr + 3, g.kc + 13},
                              {g.mc + 7, 2 * g.nr - 1, 2 * g.kc + 5},
                              {7, g.nc + 5, 20},
                              {512, 256, 784},
                              {32, 256, 784},
                              {1, 256, 784}};
  for_each_gemm_case(shapes, [&](Trans ta, Trans tb, const GemmShape& s) {
    const std::size_t lda = ta == Trans::no ? s.k : s.m;
    // ldb past the in-place limit too, so that an untransposed B is packed as well.
    const std::size_t ldb = (tb == Trans::no ? s.n : s.k) + 1100;
    const auto a = random_floats((ta == Trans::no ? s.m : s.k) * lda, 21);
    const auto b = random_floats((tb == Trans::no ? s.k : s.n) * ldb, 22);
    const std::size_t size = kernels::gemm_packed_b_size(t, tb, s.k, s.n, ldb);
    ASSERT_GT(size, 0u);
    AlignedBuffer<float> packed(size);
    std::fill(packed.data(), packed.data() + size, std::numeric_limits<float>::quiet_NaN());
    kernels::gemm_pack_b(t, tb, s.k, s.n, b.data(), ldb, packed.data(), true);
    const auto c0 = random_floats(s.m * s.n, 23);
    for (float alpha : {0.7f, 1.0f}) {
      for (float beta : {0.0f, 0.3f}) {
        std::vector<float> own(s.m * s.n, std::numeric_limits<float>::quiet_NaN());
        if (beta != 0.0f) own = c0;
        std::vector<float> ahead = own;
        kernels::gemm(t, ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta,
                      own.data(), s.n, {}, false);
        for (std::size_t threads : {1, 3}) {
          set_threads(threads);
          std::vector<float> c = ahead;
          kernels::gemm(t, ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta,
                        c.data(), s.n, {}, true, packed.data());
          EXPECT_EQ(0, std::memcmp(c.data(), own.data(), c.size() * sizeof(float)))
              << "alpha " << alpha << ", beta " << beta << ", " << threads << " threads";
        }
        set_threads(0);
      }
    }
  });
  // Where the product reads B in place, or its layout would depend on m, there is nothing
  // to pack ahead.
  EXPECT_EQ(0u, kernels::gemm_packed_b_size(t, Trans::no, 30, 64, 64));
  EXPECT_EQ(0u, kernels::gemm_packed_b_size(t, Trans::yes, 30, 3, 30));
  EXPECT_EQ(0u, kernels::gemm_packed_b_size(t, Trans::yes, 0, 64, 30));
}

TEST_P(KernelTest, AddingIntoCIsOneRoundingWhereGemmSaysSo) {
  // The trainer accumulates a pair of shards' gradients in the product's store (beta = 1)
  // where gemm_adds_sum_once says that equals the product alone added to C afterwards, as
  // the reduction's axpy adds it. Every transpose case, edge tiles, K up to one K block.
  const KernelTable& t = simd();
  const kernels::GemmBlocking& g = t.gemm_blocking;
  const GemmShape shapes[] = {{256, 784, 64},
                              {10, 256, 128},
                              {g.mr + 1, 2 * g.nr + 3, g.kc},
                              {37, 5, 29},
                              {3, 45, g.kc - 1}};
  for_each_gemm_case(shapes, [&](Trans ta, Trans tb, const GemmShape& s) {
    ASSERT_TRUE(kernels::gemm_adds_sum_once(t, s.k));
    const std::size_t lda = ta == Trans::no ? s.k : s.m;
    const std::size_t ldb = tb == Trans::no ? s.n : s.k;
    const auto a = random_floats((ta == Trans::no ? s.m : s.k) * lda, 31);
    const auto b = random_floats((tb == Trans::no ? s.k : s.n) * ldb, 32);
    const auto c0 = random_floats(s.m * s.n, 33);
    std::vector<float> alone(s.m * s.n, std::numeric_limits<float>::quiet_NaN());
    kernels::gemm(t, ta, tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, alone.data(),
                  s.n, {}, false);
    std::vector<float> summed = c0;
    t.axpy(summed.size(), 1.0f, alone.data(), summed.data());
    for (std::size_t threads : {1, 3}) {
      set_threads(threads);
      std::vector<float> into = c0;
      kernels::gemm(t, ta, tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 1.0f, into.data(),
                    s.n, {}, true);
      EXPECT_EQ(0, std::memcmp(into.data(), summed.data(), into.size() * sizeof(float)))
          << threads << " threads";
    }
    set_threads(0);
  });
  // The bias gradient's column sums, added into the same way.
  for (std::size_t cols : {std::size_t{10}, std::size_t{256}, std::size_t{37}}) {
    const auto x = random_floats(129 * cols, 34);
    const auto c0 = random_floats(cols, 35);
    std::vector<float> alone(cols, std::numeric_limits<float>::quiet_NaN());
    t.column_sums(129, cols, x.data(), cols, 0.0f, alone.data());
    std::vector<float> summed = c0, into = c0;
    t.axpy(cols, 1.0f, alone.data(), summed.data());
    t.column_sums(129, cols, x.data(), cols, 1.0f, into.data());
    EXPECT_EQ(0, std::memcmp(into.data(), summed.data(), cols * sizeof(float))) << cols;
  }
  // Past one K block the store adds each block's sum in turn: not the same.
  EXPECT_FALSE(kernels::gemm_adds_sum_once(t, g.kc + 1));
  EXPECT_FALSE(kernels::gemm_adds_sum_once(kernels::reference_table(), 1));
}

TEST_P(KernelTest, SgemmDegenerateShapes) {
  std::vector<float> c(12, std::numeric_limits<float>::quiet_NaN());
  // k = 0 with beta = 0: C is overwritten with zeros.
  simd().sgemm(Trans::no, Trans::no, 3, 4, 0, 1.0f, nullptr, 1, nullptr, 4, 0.0f, c.data(), 4);
  for (float v : c) EXPECT_EQ(v, 0.0f);
  // k = 0 with beta = 2: C is scaled.
  c.assign(12, 1.5f);
  simd().sgemm(Trans::no, Trans::no, 3, 4, 0, 1.0f, nullptr, 1, nullptr, 4, 2.0f, c.data(), 4);
  for (float v : c) EXPECT_EQ(v, 3.0f);
  // m = 0 or n = 0: nothing happens.
  simd().sgemm(Trans::no, Trans::no, 0, 4, 3, 1.0f, nullptr, 3, nullptr, 4, 0.0f, nullptr, 4);
}

// One optimizer kernel call on buffers p, g and up to three state buffers.
using OptimizerCall = std::function<void(const KernelTable&, std::size_t n, float* p,
                                         const float* g, float* s0, float* s1, float* s2)>;

std::vector<std::pair<std::string, OptimizerCall>> optimizer_calls() {
  using namespace kernels;
  std::vector<std::pair<std::string, OptimizerCall>> calls;
  for (bool first : {false, true}) {
    for (bool nesterov : {false, true}) {
      calls.emplace_back("sgd", [=](const KernelTable& k, std::size_t n, float* p, const float* g,
                                    float* s0, float*, float*) {
        k.sgd_step(n, p, g, s0,
                   {.lr = 0.1,
                    .momentum = 0.9,
                    .dampening = nesterov ? 0.0 : 0.2,
                    .weight_decay = 0.01,
                    .nesterov = nesterov,
                    .maximize = !first,
                    .first_step = first});
      });
    }
  }
  // Every optimizer with maximize off and on.
  for (bool maximize : {false, true}) {
    calls.emplace_back("adagrad", [=](const KernelTable& k, std::size_t n, float* p, const float* g,
                                      float* s0, float*, float*) {
      k.adagrad_step(n, p, g, s0,
                     {.clr = 0.05, .weight_decay = 0.01, .eps = 1e-10, .maximize = maximize});
    });
  }
  for (bool centered : {false, true}) {
    for (bool maximize : {false, true}) {
      calls.emplace_back("rmsprop", [=](const KernelTable& k, std::size_t n, float* p,
                                        const float* g, float* s0, float* s1, float* s2) {
        k.rmsprop_step(n, p, g, s0, centered ? s1 : nullptr, s2,
                       {.lr = 0.01,
                        .alpha = 0.99,
                        .eps = 1e-8,
                        .weight_decay = 0.02,
                        .momentum = 0.5,
                        .centered = centered,
                        .maximize = maximize});
      });
    }
  }
  for (bool amsgrad : {false, true}) {
    for (bool decoupled : {false, true}) {
      calls.emplace_back("adam", [=](const KernelTable& k, std::size_t n, float* p, const float* g,
                                     float* s0, float* s1, float* s2) {
        k.adam_step(n, p, g, s0, s1, amsgrad ? s2 : nullptr,
                    {.lr = 0.01,
                     .beta1 = 0.9,
                     .beta2 = 0.999,
                     .eps = 1e-8,
                     .weight_decay = 0.05,
                     .step_size = 0.02,
                     .bias_correction2_sqrt = 0.3,
                     .amsgrad = amsgrad,
                     .maximize = amsgrad != decoupled,
                     .decoupled = decoupled});
      });
    }
  }
  calls.emplace_back("nadam", [](const KernelTable& k, std::size_t n, float* p, const float* g,
                                 float* s0, float* s1, float*) {
    k.nadam_step(n, p, g, s0, s1,
                 {.beta1 = 0.9,
                  .beta2 = 0.999,
                  .eps = 1e-8,
                  .weight_decay = 0.01,
                  .shrink = 0.999,
                  .bias_correction2 = 0.05,
                  .grad_coef = -0.01,
                  .avg_coef = -0.02,
                  .maximize = true});
  });
  calls.emplace_back("nadam", [](const KernelTable& k, std::size_t n, float* p, const float* g,
                                 float* s0, float* s1, float*) {
    k.nadam_step(n, p, g, s0, s1,
                 {.beta1 = 0.9,
                  .beta2 = 0.99,
                  .eps = 1e-6,
                  .weight_decay = 0.02,
                  .shrink = 0.98,
                  .bias_correction2 = 0.1,
                  .grad_coef = -0.02,
                  .avg_coef = -0.01,
                  .maximize = false});
  });
  for (bool rectified : {false, true}) {
    for (bool maximize : {false, true}) {
      calls.emplace_back("radam", [=](const KernelTable& k, std::size_t n, float* p, const float* g,
                                      float* s0, float* s1, float*) {
        k.radam_step(n, p, g, s0, s1,
                     {.lr = 0.01,
                      .beta1 = 0.9,
                      .beta2 = 0.999,
                      .eps = 1e-8,
                      .weight_decay = 0.01,
                      .shrink = 1.0,
                      .bias_correction1 = 0.3,
                      .bias_correction2_sqrt = 0.2,
                      .rect = 0.7,
                      .rectified = rectified,
                      .maximize = maximize});
      });
    }
  }
  for (bool maximize : {false, true}) {
    calls.emplace_back("adamax", [=](const KernelTable& k, std::size_t n, float* p, const float* g,
                                     float* s0, float* s1, float*) {
      k.adamax_step(n, p, g, s0, s1,
                    {.beta1 = 0.9,
                     .beta2 = 0.999,
                     .eps = 1e-8,
                     .weight_decay = 0.01,
                     .clr = 0.02,
                     .maximize = maximize});
    });
    calls.emplace_back("adadelta", [=](const KernelTable& k, std::size_t n, float* p,
                                       const float* g, float* s0, float* s1, float*) {
      k.adadelta_step(
          n, p, g, s0, s1,
          {.lr = 1.0, .rho = 0.9, .eps = 1e-6, .weight_decay = 0.01, .maximize = maximize});
    });
  }
  return calls;
}

TEST_P(KernelTest, OptimizerUpdatesMatchReference) {
  for (const auto& [name, call] : optimizer_calls()) {
    for (std::size_t n = 1; n <= 67; ++n) {
      const std::size_t offset = n % 2;  // unaligned starts too
      const auto g = random_floats(n + offset, n * 7 + 1);
      std::vector<std::vector<float>> simd_bufs, ref_bufs;
      // p in [-1, 1]; the states as a run leaves them: second moments positive, and a
      // centred RMSprop's mean gradient (second buffer) small against its mean square.
      const float lows[4] = {-1.0f, 0.5f, 0.0f, 0.5f}, highs[4] = {1.0f, 1.0f, 0.3f, 1.0f};
      for (std::size_t b = 0; b < 4; ++b)
        simd_bufs.push_back(random_floats(n + offset, n * 7 + 2 + b, lows[b], highs[b]));
      ref_bufs = simd_bufs;
      auto at = [&](std::vector<float>& v) { return v.data() + offset; };
      call(simd(), n, at(simd_bufs[0]), g.data() + offset, at(simd_bufs[1]), at(simd_bufs[2]),
           at(simd_bufs[3]));
      call(ref(), n, at(ref_bufs[0]), g.data() + offset, at(ref_bufs[1]), at(ref_bufs[2]),
           at(ref_bufs[3]));
      for (std::size_t b = 0; b < 4; ++b) {
        for (std::size_t i = 0; i < n + offset; ++i) {
          ASSERT_TRUE(close(simd_bufs[b][i], ref_bufs[b][i], std::abs(ref_bufs[b][i]) + 1.0))
              << name << " n=" << n << " buffer " << b << " element " << i;
        }
      }
    }
  }
}

// A gradient past 1.8e19 is finite but its square is not: the second moments take
// ((1 - beta) d) d, as torch's addcmul does, so the update stays finite and moves the
// parameters as the reference's (in double) does, instead of dividing by an infinite moment
// (no step) or multiplying it by 0 (NaN). Adagrad is left out: its running sum is d^2 itself,
// infinite in torch too.
TEST_P(KernelTest, OptimizerUpdatesStayFiniteForHugeFiniteGradients) {
  for (const auto& [name, call] : optimizer_calls()) {
    if (name == "adagrad") continue;
    const std::size_t n = 37;
    std::vector<float> g(n);
    for (std::size_t i = 0; i < n; ++i) g[i] = i % 3 == 2 ? 0.5f : (i % 2 == 0 ? 3e19f : -2e19f);
    // The first step: the states are zero.
    std::vector<std::vector<float>> simd_bufs(4, std::vector<float>(n, 0.0f));
    simd_bufs[0] = random_floats(n, 90, -1.0f, 1.0f);
    const std::vector<float> before = simd_bufs[0];
    std::vector<std::vector<float>> ref_bufs = simd_bufs;
    call(simd(), n, simd_bufs[0].data(), g.data(), simd_bufs[1].data(), simd_bufs[2].data(),
         simd_bufs[3].data());
    call(ref(), n, ref_bufs[0].data(), g.data(), ref_bufs[1].data(), ref_bufs[2].data(),
         ref_bufs[3].data());
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(simd_bufs[0][i])) << name << " element " << i;
      // The step itself, to 1e-4 of its size (not of the parameter's).
      const double step = double{simd_bufs[0][i]} - before[i];
      const double want = double{ref_bufs[0][i]} - before[i];
      ASSERT_TRUE(close(step, want, std::abs(want), 1e-4)) << name << " element " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, KernelTest, ::testing::ValuesIn(simd_isas()),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

}  // namespace
}  // namespace descent
