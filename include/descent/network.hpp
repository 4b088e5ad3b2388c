#pragma once
// descent::Network: a stack of dense layers with an activation after each.
//
// All parameters live in one flat 64-byte-aligned buffer and all gradients in another,
// layer by layer: weight [out, in] row-major, then bias [out] -- PyTorch's nn.Linear layout,
// so weights move between the two without reshuffling.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "descent/activation.hpp"
#include "descent/matrix.hpp"
#include "descent/standardization.hpp"

namespace descent {

struct LayerSpec {
  std::size_t units = 0;
  Activation activation = Activation::relu;  // applied to this layer's output
};

struct DenseLayer {
  std::size_t inputs = 0;
  std::size_t outputs = 0;
  Activation activation = Activation::identity;
  std::size_t weight_offset = 0;  // into parameters(): [outputs, inputs] row-major
  std::size_t bias_offset = 0;    // into parameters(): [outputs]
};

enum class Init {
  automatic,        // He (kaiming_normal) before relu, Xavier (xavier_uniform) otherwise
  kaiming_normal,   // N(0, 2 / fan_in); biases 0
  kaiming_uniform,  // U(-sqrt(6 / fan_in), +); biases 0
  xavier_normal,    // N(0, gain^2 * 2 / (fan_in + fan_out)); biases 0
  xavier_uniform,   // U(-gain * sqrt(6 / (fan_in + fan_out)), +); biases 0
  pytorch,          // nn.Linear's default: weights and biases U(-1/sqrt(fan_in), +)
};

std::string_view to_string(Init init) noexcept;
Init parse_init(std::string_view name);

class Workspace;

// The largest parameter count a Network accepts (2^31: 8 GiB of parameters, as much again of
// gradients).
inline constexpr std::size_t kMaxParameters = std::size_t{1} << 31;

class Network {
 public:
  // `layers` from the first hidden layer to the output layer. Throws descent::Error on a zero
  // size, an empty stack or more than kMaxParameters parameters. Parameters start at zero:
  // call initialize().
  Network(std::size_t inputs, std::vector<LayerSpec> layers);

  // inputs -> hidden... (hidden_activation) -> outputs (identity: logits or raw values).
  static Network mlp(std::size_t inputs, const std::vector<std::size_t>& hidden,
                     std::size_t outputs, Activation hidden_activation = Activation::relu);

  std::size_t inputs() const noexcept { return inputs_; }
  std::size_t outputs() const noexcept { return layers_.back().outputs; }
  std::span<const DenseLayer> layers() const noexcept { return layers_; }
  std::size_t parameter_count() const noexcept { return parameters_.size(); }
  // The widest layer, inputs included.
  std::size_t max_width() const noexcept;
  // Rows per forward pass where predict() and the trainer's evaluation cut their data: 256, or
  // fewer for a layer wider than 16384, so that a workspace row buffer stays within 16 MiB.
  std::size_t inference_rows() const noexcept;

  std::span<float> parameters() noexcept { return parameters_.span(); }
  std::span<const float> parameters() const noexcept { return parameters_.span(); }
  std::span<float> gradients() noexcept { return gradients_.span(); }
  std::span<const float> gradients() const noexcept { return gradients_.span(); }
  // Copies `values` (parameter_count() floats, nn.Linear layout) into the parameters.
  void set_parameters(std::span<const float> values);

  // Seeded: the same seed and shape give the same parameters everywhere.
  void initialize(Init init, std::uint64_t seed);

  // The input standardisation saved with the model; predict() applies it.
  const Standardization& standardization() const noexcept { return standardization_; }
  void set_standardization(Standardization standardization);

  // Forward pass on inputs that are already standardised: x [rows, inputs], rows up to
  // ws.max_rows(). Returns the output [rows, outputs], which lives in ws.
  ConstMatrixView forward(ConstMatrixView x, Workspace& ws) const;
  // Backward pass after forward(x, ws) and after the loss wrote dL/d(output) into
  // ws.output_gradient(rows). Overwrites grads (parameter_count() floats) with dL/dθ, or with
  // accumulate = true adds dL/dθ to them (a batch done in several passes).
  void backward(ConstMatrixView x, Workspace& ws, std::span<float> grads,
                bool accumulate = false) const;

  // Outputs for raw inputs x [rows, inputs]: standardises a copy, then runs forward.
  Matrix predict(ConstMatrixView x) const;

 private:
  // Throws descent::Error unless x is a view of rows x inputs() floats (data, stride >= cols).
  void check_input(ConstMatrixView x) const;
  // check_input, and x.rows within a workspace made for this network's layer sizes.
  void check_batch(ConstMatrixView x, const Workspace& ws) const;
  std::size_t inputs_;
  std::vector<DenseLayer> layers_;
  AlignedBuffer<float> parameters_;
  AlignedBuffer<float> gradients_;
  Standardization standardization_;
};

// The first parameter that is NaN or infinite, as "parameter 5 (layer 2) is nan"; empty when
// every parameter is finite.
std::string describe_non_finite_parameter(const Network& network);

// Activations and deltas for batches of up to max_rows rows, allocated once and reused.

class Workspace {
 public:
  Workspace(const Network& network, std::size_t max_rows);
  std::size_t max_rows() const noexcept { return max_rows_; }
  // Where the loss writes dL/d(output) for a batch of `rows` rows: [rows, outputs]. Throws
  // descent::Error for more rows than max_rows().
  MatrixView output_gradient(std::size_t rows);
  // Whether forward and backward may split their matrix products across descent's threads;
  // off when the caller already runs several workspaces in parallel. Either way the results
  // are the same bits.
  void set_parallel(bool parallel) noexcept { parallel_ = parallel; }

 private:
  friend class Network;
  friend class Trainer;
  // Whether this workspace was made for `network`'s layer sizes (forward and backward check
  // it: another network's would be read out of bounds).
  bool fits(const Network& network) const noexcept;
  std::size_t max_rows_;
  std::size_t outputs_;
  bool parallel_ = false;
  std::vector<Matrix> activations_;  // one per layer: [max_rows, layer outputs]
  AlignedBuffer<float> delta_[2];    // [max_rows * max_width] each
  // Set by a Trainer for the length of one step: per layer, its weights packed for the forward
  // product (or null: packed by the product itself).
  const float* const* packed_weights_ = nullptr;
};

}  // namespace descent
