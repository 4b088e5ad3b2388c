#pragma once
// Judging a trained model on data it was not trained on: the loss, and accuracy with a
// confusion matrix for classification, or MSE, MAE and R^2 for regression.

#include <cstddef>
#include <vector>

#include "descent/data.hpp"
#include "descent/loss.hpp"
#include "descent/network.hpp"

namespace descent {

inline constexpr std::size_t kMaxConfusionClasses = 1000;

struct ModelEvaluation {
  Loss loss = Loss::mse;
  std::size_t rows = 0;
  double mean_loss = 0.0;  // as the loss reduces
  // Classification (cross_entropy, bce_with_logits): NaN / empty otherwise.
  double accuracy = 0.0;
  // [true class][predicted class]; left empty for more than kMaxConfusionClasses classes
  // (65536 classes would make 4 billion counts).
  std::vector<std::vector<std::size_t>> confusion;
  // Regression (mse): NaN otherwise.
  double mse = 0.0;
  double mae = 0.0;
  double r2 = 0.0;  // 1 - residual sum of squares / total sum of squares
};

// Evaluates `network` (which applies its own standardisation to data's raw features) with
// `loss`. Throws descent::Error when the data does not fit the model: another feature count,
// class labels the model has no output for, targets of the wrong kind, or a feature or target
// that is NaN or infinite.
ModelEvaluation evaluate_model(const Network& network, Loss loss, const Dataset& data);

}  // namespace descent
