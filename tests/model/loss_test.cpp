#include <gtest/gtest.h>

#include <cmath>

#include "descent/error.hpp"
#include "descent/loss.hpp"
#include "descent/matrix.hpp"

namespace descent {
namespace {

TEST(Loss, CrossEntropyOfUniformLogitsIsLogOfClassCount) {
  Matrix logits(3, 4);  // all zero
  const std::uint32_t labels[] = {0, 2, 3};
  EXPECT_NEAR(loss_mean(Loss::cross_entropy, logits.view(), {labels, {}}), std::log(4.0), 1e-6);
}

TEST(Loss, CrossEntropyMatchesHandComputation) {
  Matrix logits(1, 3);
  logits(0, 0) = 1.0f;
  logits(0, 1) = 2.0f;
  logits(0, 2) = 3.0f;
  const std::uint32_t label[] = {0};
  const double expected = -1.0 + std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(loss_mean(Loss::cross_entropy, logits.view(), {label, {}}), expected, 1e-6);
}

// The kernels write a gradient row before reading the next input row: a gradient in the
// output's (or the targets') memory would give a wrong loss without a word, so it is refused.
TEST(Loss, AGradientSharingMemoryWithItsInputsIsRefused) {
  Matrix out(2, 2), target(2, 2), separate(2, 2);
  const std::uint32_t labels[] = {0, 1};
  MatrixView on_output = out.view();
  EXPECT_THROW(
      {
        try {
          loss_sum(Loss::cross_entropy, out.view(), {labels, {}}, 1.0f, &on_output);
        } catch (const Error& e) {
          EXPECT_STREQ(e.what(),
                       "cross_entropy: the gradient shares memory with the output; give it a "
                       "buffer of its own");
          throw;
        }
      },
      Error);
  MatrixView on_target = target.view();
  EXPECT_THROW(loss_sum(Loss::mse, out.view(), {{}, target.view()}, 1.0f, &on_target), Error);
  MatrixView apart = separate.view();
  EXPECT_NEAR(loss_sum(Loss::cross_entropy, out.view(), {labels, {}}, 1.0f, &apart),
              2.0 * std::log(2.0), 1e-6);
}

TEST(Loss, MseIsTheMeanOverRowsAndOutputs) {
  Matrix pred(2, 2), target(2, 2);
  pred(0, 0) = 1.0f;  // errors 1, 0, 0, 3 -> (1 + 9) / 4
  pred(1, 1) = 3.0f;
  EXPECT_DOUBLE_EQ(loss_mean(Loss::mse, pred.view(), {{}, target.view()}), 2.5);
}

TEST(Loss, BceWithLogitsMatchesTheFormulaAndStaysFinite) {
  Matrix x(1, 3), t(1, 3);
  x(0, 0) = 0.0f;
  x(0, 1) = 100.0f;
  x(0, 2) = -100.0f;
  t(0, 0) = 1.0f;
  t(0, 1) = 0.0f;
  t(0, 2) = 0.0f;
  // log 2, 100 (confidently wrong), ~0
  const double expected = (std::log(2.0) + 100.0 + std::log1p(std::exp(-100.0))) / 3.0;
  const double got = loss_mean(Loss::bce_with_logits, x.view(), {{}, t.view()});
  EXPECT_NEAR(got, expected, 1e-5);
}

TEST(Loss, ChecksTargets) {
  Matrix out(2, 3);
  const std::uint32_t bad[] = {0, 3};
  EXPECT_THROW(loss_mean(Loss::cross_entropy, out.view(), {bad, {}}), Error);
  const std::uint32_t short_labels[] = {0};
  EXPECT_THROW(loss_mean(Loss::cross_entropy, out.view(), {short_labels, {}}), Error);
  Matrix wrong(2, 2);
  EXPECT_THROW(loss_mean(Loss::mse, out.view(), {{}, wrong.view()}), Error);
  // loss_sum, the trainer's, checks them too, and the gradient's shape: a label past the
  // outputs or a gradient of fewer rows would be read or written past their ends.
  EXPECT_THROW(loss_sum(Loss::cross_entropy, out.view(), {bad, {}}, 1.0f, nullptr), Error);
  EXPECT_THROW(loss_sum(Loss::cross_entropy, out.view(), {short_labels, {}}, 1.0f, nullptr), Error);
  const std::uint32_t good[] = {0, 2};
  Matrix one_row(1, 3);
  MatrixView grad = one_row.view();
  EXPECT_THROW(loss_sum(Loss::cross_entropy, out.view(), {good, {}}, 1.0f, &grad), Error);
  Matrix fits(2, 3);
  MatrixView fitting = fits.view();
  EXPECT_NO_THROW(loss_sum(Loss::cross_entropy, out.view(), {good, {}}, 1.0f, &fitting));
  EXPECT_THROW(loss_sum(static_cast<Loss>(7), out.view(), {good, {}}, 1.0f, nullptr), Error);
  EXPECT_EQ(parse_loss("ce"), Loss::cross_entropy);
  EXPECT_EQ(parse_loss("bce"), Loss::bce_with_logits);
  EXPECT_THROW(parse_loss("hinge"), Error);
}

}  // namespace
}  // namespace descent
