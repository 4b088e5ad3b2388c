#include "descent/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "descent/error.hpp"

namespace descent {

ModelEvaluation evaluate_model(const Network& network, Loss loss, const Dataset& data) {
  if (data.feature_count() != network.inputs()) {
    throw Error(fmt::format("\"{}\" has {} features; the model takes {}", data.name,
                            data.feature_count(), network.inputs()));
  }
  if (data.rows() == 0) throw Error(fmt::format("\"{}\" has no rows", data.name));
  data.check_parts();
  data.check_finite();
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  ModelEvaluation e;
  e.loss = loss;
  e.rows = data.rows();
  e.accuracy = e.mse = e.mae = e.r2 = kNaN;
  const Matrix out = network.predict(data.features.view());
  const std::size_t outputs = network.outputs();

  if (loss == Loss::mse) {
    if (data.task != Task::regression || data.values.cols() != outputs) {
      throw Error(fmt::format(
          "the model predicts {} value(s) per row; \"{}\" needs a numeric "
          "target column (it has {})",
          outputs, data.name, data.task == Task::regression ? "another shape" : "class labels"));
    }
    double squares = 0.0, absolute = 0.0, total = 0.0;
    for (std::size_t j = 0; j < outputs; ++j) {
      double mean = 0.0;
      for (std::size_t i = 0; i < data.rows(); ++i) mean += data.values(i, j);
      mean /= static_cast<double>(data.rows());
      for (std::size_t i = 0; i < data.rows(); ++i) {
        const double t = data.values(i, j), d = out(i, j) - t;
        squares += d * d;
        absolute += std::abs(d);
        total += (t - mean) * (t - mean);
      }
    }
    const double n = static_cast<double>(data.rows() * outputs);
    e.mean_loss = e.mse = squares / n;
    e.mae = absolute / n;
    e.r2 = total > 0.0 ? 1.0 - squares / total : kNaN;
    return e;
  }

  if (data.task != Task::classification) {
    throw Error(fmt::format("the model classifies; \"{}\" has a numeric target, not class labels",
                            data.name));
  }
  const std::size_t classes = loss == Loss::bce_with_logits ? 2 : outputs;
  if (loss == Loss::bce_with_logits && outputs != 1)
    throw Error("a bce_with_logits model for evaluation must have one output");
  for (std::size_t i = 0; i < data.rows(); ++i) {
    if (data.labels[i] >= classes) {
      throw Error(
          fmt::format("\"{}\": row {} has class {}, but the model knows classes 0..{} "
                      "(rows count from 0)",
                      data.name, i, data.labels[i], classes - 1));
    }
  }
  const bool confusion = classes <= kMaxConfusionClasses;
  if (confusion) e.confusion.assign(classes, std::vector<std::size_t>(classes, 0));
  std::size_t correct = 0;
  if (loss == Loss::cross_entropy) {
    e.mean_loss = loss_mean(loss, out.view(), Targets{data.labels, {}});
    for (std::size_t i = 0; i < data.rows(); ++i) {
      const float* row = out.row(i);
      const auto predicted = static_cast<std::size_t>(std::max_element(row, row + outputs) - row);
      if (confusion) ++e.confusion[data.labels[i]][predicted];
      correct += predicted == data.labels[i] ? 1 : 0;
    }
  } else {
    Matrix t(data.rows(), 1);
    for (std::size_t i = 0; i < data.rows(); ++i) t(i, 0) = static_cast<float>(data.labels[i]);
    e.mean_loss = loss_mean(loss, out.view(), Targets{{}, t.view()});
    for (std::size_t i = 0; i < data.rows(); ++i) {
      const std::size_t predicted = out(i, 0) > 0.0f ? 1 : 0;
      if (confusion) ++e.confusion[data.labels[i]][predicted];
      correct += predicted == data.labels[i] ? 1 : 0;
    }
  }
  e.accuracy = static_cast<double>(correct) / static_cast<double>(data.rows());
  return e;
}

}  // namespace descent
