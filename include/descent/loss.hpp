#pragma once
// Losses, reduced by the mean as PyTorch does: nn.MSELoss and nn.BCEWithLogitsLoss over
// rows x outputs, nn.CrossEntropyLoss over rows.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "descent/matrix.hpp"

namespace descent {

enum class Loss {
  mse,              // mean squared error; targets are values [rows, outputs]
  cross_entropy,    // softmax cross-entropy on logits; targets are class labels
  bce_with_logits,  // binary cross-entropy on logits; targets are 0/1 values [rows, outputs]
};

std::string_view to_string(Loss loss) noexcept;
// "mse", "cross_entropy" (or "cross-entropy", "ce"), "bce_with_logits" (or "bce");
// throws descent::Error otherwise.
Loss parse_loss(std::string_view name);

// The targets of a batch: labels for cross_entropy, values for mse and bce_with_logits.
struct Targets {
  std::span<const std::uint32_t> labels;
  ConstMatrixView values;
};

// What the mean divides by: rows for cross_entropy, rows * outputs otherwise.
std::size_t loss_divisor(Loss loss, std::size_t rows, std::size_t outputs) noexcept;

// Throws descent::Error unless `targets` fit `output` ([rows, outputs]) for this loss
// (labels below outputs, value shapes equal).
void check_targets(Loss loss, ConstMatrixView output, const Targets& targets);
// The same for a batch of the given rows of `output` and `targets` (each below output.rows):
// the shapes in full, the labels of those rows only, so that a step over a few rows of a
// large data set does not read every label.
void check_targets(Loss loss, ConstMatrixView output, const Targets& targets,
                   std::span<const std::size_t> rows);

// The loss summed over the batch (not yet divided by loss_divisor), in double. When grad is
// not null it receives grad_scale * d(sum)/d(output). Throws descent::Error as check_targets
// does, and for a grad of another shape than output's.
double loss_sum(Loss loss, ConstMatrixView output, const Targets& targets, float grad_scale,
                const MatrixView* grad);

// The mean loss of a batch, as PyTorch reports it; checks the targets.
double loss_mean(Loss loss, ConstMatrixView output, const Targets& targets);

}  // namespace descent
