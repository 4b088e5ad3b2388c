#include "descent/loss.hpp"

#include <fmt/format.h>

#include "core/view_check.hpp"
#include "descent/error.hpp"
#include "kernels/kernel_table.hpp"

namespace descent {

std::string_view to_string(Loss loss) noexcept {
  switch (loss) {
    case Loss::mse:
      return "mse";
    case Loss::cross_entropy:
      return "cross_entropy";
    case Loss::bce_with_logits:
      return "bce_with_logits";
  }
  return "unknown";
}

Loss parse_loss(std::string_view name) {
  if (name == "mse") return Loss::mse;
  if (name == "cross_entropy" || name == "cross-entropy" || name == "ce")
    return Loss::cross_entropy;
  if (name == "bce_with_logits" || name == "bce") return Loss::bce_with_logits;
  throw Error(fmt::format("unknown loss \"{}\": use mse, cross_entropy or bce_with_logits", name));
}

std::size_t loss_divisor(Loss loss, std::size_t rows, std::size_t outputs) noexcept {
  return loss == Loss::cross_entropy ? rows : rows * outputs;
}

namespace {

void check_label(const Targets& targets, std::size_t row, std::size_t outputs) {
  if (targets.labels[row] >= outputs) {
    throw Error(fmt::format("cross_entropy: label {} in row {} is not below the {} outputs",
                            targets.labels[row], row, outputs));
  }
}

// Everything but the labels' values.
void check_target_shapes(Loss loss, ConstMatrixView output, const Targets& targets) {
  if (loss == Loss::cross_entropy) {
    if (targets.labels.size() != output.rows) {
      throw Error(fmt::format("cross_entropy: {} labels for {} rows of output",
                              targets.labels.size(), output.rows));
    }
    if (output.cols < 2) throw Error("cross_entropy needs at least 2 outputs (one per class)");
    return;
  }
  const ConstMatrixView v = targets.values;
  if (v.rows != output.rows || v.cols != output.cols) {
    throw Error(fmt::format("{}: targets are {}x{} but the output is {}x{}", to_string(loss),
                            v.rows, v.cols, output.rows, output.cols));
  }
  detail::check_matrix_view(v, to_string(loss), "target");
}

}  // namespace

void check_targets(Loss loss, ConstMatrixView output, const Targets& targets) {
  if (loss != Loss::cross_entropy && loss != Loss::mse && loss != Loss::bce_with_logits)
    throw Error(fmt::format("unknown loss {}", static_cast<int>(loss)));
  check_target_shapes(loss, output, targets);
  if (loss == Loss::cross_entropy)
    for (std::size_t i = 0; i < output.rows; ++i) check_label(targets, i, output.cols);
}

void check_targets(Loss loss, ConstMatrixView output, const Targets& targets,
                   std::span<const std::size_t> rows) {
  check_target_shapes(loss, output, targets);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] >= output.rows) {
      throw Error(
          fmt::format("selected row {} (entry {} of the selection) is past the data's {} "
                      "rows",
                      rows[i], i, output.rows));
    }
    if (loss == Loss::cross_entropy) check_label(targets, rows[i], output.cols);
  }
}

double loss_sum(Loss loss, ConstMatrixView output, const Targets& targets, float grad_scale,
                const MatrixView* grad) {
  // Checks in time linear in the rows (the labels), small beside the loss's exponentials, and
  // no message formatted unless it is thrown (a training step allocates nothing).
  check_targets(loss, output, targets);
  detail::check_matrix_view(output, to_string(loss), "output");
  if (grad != nullptr) {
    if (grad->rows != output.rows || grad->cols != output.cols) {
      throw Error(fmt::format("{}: the gradient is {}x{} but the output is {}x{}", to_string(loss),
                              grad->rows, grad->cols, output.rows, output.cols));
    }
    detail::check_matrix_view(*grad, to_string(loss), "gradient");
    // The kernels read an input row after writing the gradient's: shared memory would give a
    // wrong loss without a word.
    const bool on_output =
        detail::spans_overlap(grad->data, grad->rows, grad->cols, grad->stride, output.data,
                              output.rows, output.cols, output.stride, sizeof(float));
    const bool on_target =
        loss != Loss::cross_entropy &&
        detail::spans_overlap(grad->data, grad->rows, grad->cols, grad->stride, targets.values.data,
                              targets.values.rows, targets.values.cols, targets.values.stride,
                              sizeof(float));
    if (on_output || on_target) {
      throw Error(
          fmt::format("{}: the gradient shares memory with the {}; give it a buffer of "
                      "its own",
                      to_string(loss), on_output ? "output" : "targets"));
    }
  }
  const auto& k = kernels::active();
  float* g = grad == nullptr ? nullptr : grad->data;
  const std::size_t ldg = grad == nullptr ? 0 : grad->stride;
  switch (loss) {
    case Loss::cross_entropy:
      return k.softmax_cross_entropy(output.rows, output.cols, output.data, output.stride,
                                     targets.labels.data(), grad_scale, g, ldg);
    case Loss::mse:
      return k.mse(output.rows, output.cols, output.data, output.stride, targets.values.data,
                   targets.values.stride, grad_scale, g, ldg);
    case Loss::bce_with_logits:
      return k.bce_with_logits(output.rows, output.cols, output.data, output.stride,
                               targets.values.data, targets.values.stride, grad_scale, g, ldg);
  }
  return 0.0;
}

double loss_mean(Loss loss, ConstMatrixView output, const Targets& targets) {
  check_targets(loss, output, targets);
  if (output.rows == 0) return 0.0;
  return loss_sum(loss, output, targets, 0.0f, nullptr) /
         static_cast<double>(loss_divisor(loss, output.rows, output.cols));
}

}  // namespace descent
