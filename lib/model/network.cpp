#include "descent/network.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/view_check.hpp"
#include "descent/error.hpp"
#include "descent/rng.hpp"
#include "kernels/gemm.hpp"
#include "kernels/kernel_table.hpp"

namespace descent {

std::string_view to_string(Init init) noexcept {
  switch (init) {
    case Init::automatic:
      return "auto";
    case Init::kaiming_normal:
      return "kaiming_normal";
    case Init::kaiming_uniform:
      return "kaiming_uniform";
    case Init::xavier_normal:
      return "xavier_normal";
    case Init::xavier_uniform:
      return "xavier_uniform";
    case Init::pytorch:
      return "pytorch";
  }
  return "unknown";
}

Init parse_init(std::string_view name) {
  for (Init init : {Init::automatic, Init::kaiming_normal, Init::kaiming_uniform,
                    Init::xavier_normal, Init::xavier_uniform, Init::pytorch}) {
    if (name == to_string(init)) return init;
  }
  throw Error(fmt::format(
      "unknown initialisation \"{}\": use auto, kaiming_normal, kaiming_uniform, xavier_normal, "
      "xavier_uniform or pytorch",
      name));
}

Network::Network(std::size_t inputs, std::vector<LayerSpec> layers) : inputs_(inputs) {
  if (inputs == 0) throw Error("a network needs at least one input");
  if (layers.empty()) throw Error("a network needs at least one layer");
  std::size_t offset = 0;
  std::size_t fan_in = inputs;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].units == 0) throw Error(fmt::format("layer {} has 0 units", l + 1));
    if (static_cast<unsigned>(layers[l].activation) > static_cast<unsigned>(Activation::tanh)) {
      throw Error(fmt::format("layer {}: activation {} is not one descent has", l + 1,
                              static_cast<int>(layers[l].activation)));
    }
    DenseLayer layer;
    layer.inputs = fan_in;
    layer.outputs = layers[l].units;
    layer.activation = layers[l].activation;
    layer.weight_offset = offset;
    // inputs * outputs + outputs, guarded against overflow and against absurd sizes.
    std::size_t weights = 0;
    if (__builtin_mul_overflow(layer.inputs, layer.outputs, &weights) ||
        __builtin_add_overflow(offset, weights, &offset) || offset > kMaxParameters ||
        __builtin_add_overflow(offset, layer.outputs, &offset) || offset > kMaxParameters) {
      throw Error(
          fmt::format("layer {} ({} -> {}) takes the network past {} parameters, the most "
                      "descent supports",
                      l + 1, layer.inputs, layer.outputs, kMaxParameters));
    }
    layer.bias_offset = offset - layer.outputs;
    layers_.push_back(layer);
    fan_in = layer.outputs;
  }
  parameters_.resize(offset);
  gradients_.resize(offset);
}

Network Network::mlp(std::size_t inputs, const std::vector<std::size_t>& hidden,
                     std::size_t outputs, Activation hidden_activation) {
  std::vector<LayerSpec> layers;
  for (std::size_t units : hidden) layers.push_back({units, hidden_activation});
  layers.push_back({outputs, Activation::identity});
  return Network(inputs, std::move(layers));
}

std::size_t Network::max_width() const noexcept {
  std::size_t width = inputs_;
  for (const auto& layer : layers_) width = std::max(width, layer.outputs);
  return width;
}

std::size_t Network::inference_rows() const noexcept {
  return std::clamp<std::size_t>((std::size_t{1} << 22) / max_width(), 1, 256);
}

void Network::set_parameters(std::span<const float> values) {
  if (values.size() != parameters_.size()) {
    throw Error(fmt::format("the network has {} parameters, got {} values", parameters_.size(),
                            values.size()));
  }
  std::copy(values.begin(), values.end(), parameters_.data());
}

void Network::set_standardization(Standardization standardization) {
  if (!standardization.empty() && standardization.features() != inputs_) {
    throw Error(fmt::format("standardisation for {} features given to a network with {} inputs",
                            standardization.features(), inputs_));
  }
  standardization.check();
  standardization_ = std::move(standardization);
}

void Network::initialize(Init init, std::uint64_t seed) {
  if (static_cast<int>(init) < static_cast<int>(Init::automatic) ||
      static_cast<int>(init) > static_cast<int>(Init::pytorch))
    throw Error(
        fmt::format("initialisation scheme {} is not one descent has", static_cast<int>(init)));
  Rng rng(seed);
  float* p = parameters_.data();
  for (const DenseLayer& layer : layers_) {
    const double fan_in = static_cast<double>(layer.inputs);
    const double fan_out = static_cast<double>(layer.outputs);
    Init scheme = init;
    if (scheme == Init::automatic) {
      scheme = layer.activation == Activation::relu ? Init::kaiming_normal : Init::xavier_uniform;
    }
    // torch.nn.init.calculate_gain
    const double gain = layer.activation == Activation::tanh   ? 5.0 / 3.0
                        : layer.activation == Activation::relu ? std::sqrt(2.0)
                                                               : 1.0;
    float* w = p + layer.weight_offset;
    float* b = p + layer.bias_offset;
    const std::size_t count = layer.inputs * layer.outputs;
    auto fill_uniform = [&](float* dst, std::size_t n, double bound) {
      for (std::size_t i = 0; i < n; ++i)
        dst[i] = rng.uniform(static_cast<float>(-bound), static_cast<float>(bound));
    };
    auto fill_normal = [&](float* dst, std::size_t n, double stddev) {
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(stddev * rng.normal());
    };
    switch (scheme) {
      case Init::kaiming_normal:
        fill_normal(w, count, std::sqrt(2.0 / fan_in));
        break;
      case Init::kaiming_uniform:
        fill_uniform(w, count, std::sqrt(6.0 / fan_in));
        break;
      case Init::xavier_normal:
        fill_normal(w, count, gain * std::sqrt(2.0 / (fan_in + fan_out)));
        break;
      case Init::xavier_uniform:
        fill_uniform(w, count, gain * std::sqrt(6.0 / (fan_in + fan_out)));
        break;
      case Init::pytorch:
        fill_uniform(w, count, 1.0 / std::sqrt(fan_in));
        fill_uniform(b, layer.outputs, 1.0 / std::sqrt(fan_in));
        continue;
      case Init::automatic:
        break;
    }
    std::fill(b, b + layer.outputs, 0.0f);
  }
}

void Network::check_batch(ConstMatrixView x, const Workspace& ws) const {
  check_input(x);
  if (x.rows > ws.max_rows_ || !ws.fits(*this)) {
    throw Error(fmt::format("a batch of {} rows does not fit the workspace ({} rows{})", x.rows,
                            ws.max_rows_,
                            ws.fits(*this) ? "" : ", made for a network of other layer sizes"));
  }
}

void Network::check_input(ConstMatrixView x) const {
  if (x.cols != inputs_) {
    throw Error(
        fmt::format("the network takes {} inputs, the data has {} columns", inputs_, x.cols));
  }
  detail::check_matrix_view(x, "input");
}

ConstMatrixView Network::forward(ConstMatrixView x, Workspace& ws) const {
  check_batch(x, ws);
  const auto& k = kernels::active();
  const float* params = parameters_.data();
  ConstMatrixView input = x;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const DenseLayer& layer = layers_[l];
    float* y = ws.activations_[l].data();
    // y = f(x W^T + bias), the bias and f fused into the product's last store.
    kernels::GemmEpilogue epilogue;
    epilogue.bias = params + layer.bias_offset;
    epilogue.activation = layer.activation;
    kernels::gemm(k, Trans::no, Trans::yes, x.rows, layer.outputs, layer.inputs, 1.0f, input.data,
                  input.stride, params + layer.weight_offset, layer.inputs, 0.0f, y, layer.outputs,
                  epilogue, ws.parallel_,
                  ws.packed_weights_ != nullptr ? ws.packed_weights_[l] : nullptr);
    input = ConstMatrixView{y, x.rows, layer.outputs, layer.outputs};
  }
  return input;
}

void Network::backward(ConstMatrixView x, Workspace& ws, std::span<float> grads,
                       bool accumulate) const {
  if (grads.size() != parameters_.size()) {
    throw Error(fmt::format("gradient buffer has {} floats, the network {} parameters",
                            grads.size(), parameters_.size()));
  }
  check_batch(x, ws);
  const auto& k = kernels::active();
  const float* params = parameters_.data();
  const std::size_t rows = x.rows;
  const float beta = accumulate ? 1.0f : 0.0f;
  float* delta = ws.delta_[0].data();  // dL/d(output of layer l), [rows, outputs]
  float* next = ws.delta_[1].data();
  // The output layer's own activation; the hidden ones are fused into the dX products below.
  const DenseLayer& top = layers_.back();
  k.activation_backward(top.activation, rows * top.outputs, ws.activations_.back().data(), delta,
                        delta);
  for (std::size_t l = layers_.size(); l-- > 0;) {
    const DenseLayer& layer = layers_[l];
    // delta is dZ = dL/d(pre-activation) of layer l.
    const float* input = l == 0 ? x.data : ws.activations_[l - 1].data();
    const std::size_t input_stride = l == 0 ? x.stride : layer.inputs;
    // dW = dZ^T X   [out, in];   db = column sums of dZ   [out]
    kernels::gemm(k, Trans::yes, Trans::no, layer.outputs, layer.inputs, rows, 1.0f, delta,
                  layer.outputs, input, input_stride, beta, grads.data() + layer.weight_offset,
                  layer.inputs, {}, ws.parallel_);
    k.column_sums(rows, layer.outputs, delta, layer.outputs, beta,
                  grads.data() + layer.bias_offset);
    if (l > 0) {
      // dZ of layer l-1 = (dZ W) * f'(its output), the derivative fused into the store.
      const DenseLayer& below = layers_[l - 1];
      kernels::GemmEpilogue epilogue;
      epilogue.derivative = ws.activations_[l - 1].data();
      epilogue.ld_derivative = below.outputs;
      epilogue.derivative_activation = below.activation;
      kernels::gemm(k, Trans::no, Trans::no, rows, layer.inputs, layer.outputs, 1.0f, delta,
                    layer.outputs, params + layer.weight_offset, layer.inputs, 0.0f, next,
                    layer.inputs, epilogue, ws.parallel_);
      std::swap(delta, next);
    }
  }
}

Matrix Network::predict(ConstMatrixView x) const {
  check_input(x);
  Matrix result(x.rows, outputs());
  const std::size_t chunk = inference_rows();
  Workspace ws(*this, std::min<std::size_t>(chunk, std::max<std::size_t>(x.rows, 1)));
  ws.set_parallel(true);
  Matrix scaled(std::min(chunk, x.rows), inputs_);
  for (std::size_t first = 0; first < x.rows; first += chunk) {
    const std::size_t rows = std::min(chunk, x.rows - first);
    MatrixView in = scaled.view().rows_range(0, rows);
    for (std::size_t i = 0; i < rows; ++i)
      std::memcpy(in.row(i), x.row(first + i), inputs_ * sizeof(float));
    standardization_.apply(in);
    ConstMatrixView out = forward(in, ws);
    for (std::size_t i = 0; i < rows; ++i)
      std::memcpy(result.row(first + i), out.row(i), outputs() * sizeof(float));
  }
  return result;
}

std::string describe_non_finite_parameter(const Network& network) {
  const auto params = network.parameters();
  const auto bad =
      std::find_if(params.begin(), params.end(), [](float v) { return !std::isfinite(v); });
  if (bad == params.end()) return {};
  const auto index = static_cast<std::size_t>(bad - params.begin());
  const auto layers = network.layers();
  std::size_t layer = 0;
  while (layer + 1 < layers.size() && layers[layer + 1].weight_offset <= index) ++layer;
  return fmt::format("parameter {} (layer {}) is {}", index, layer + 1, number_text(*bad));
}

Workspace::Workspace(const Network& network, std::size_t max_rows)
    : max_rows_(max_rows), outputs_(network.outputs()) {
  for (const DenseLayer& layer : network.layers())
    activations_.emplace_back(max_rows, layer.outputs);
  std::size_t delta_size = 0;
  if (__builtin_mul_overflow(max_rows, network.max_width(), &delta_size)) throw std::bad_alloc();
  delta_[0].resize(delta_size);
  delta_[1].resize(delta_size);
}

MatrixView Workspace::output_gradient(std::size_t rows) {
  if (rows > max_rows_) {
    throw Error(fmt::format("output_gradient({}): the workspace holds {} rows", rows, max_rows_));
  }
  return MatrixView{delta_[0].data(), rows, outputs_, outputs_};
}

bool Workspace::fits(const Network& network) const noexcept {
  const auto layers = network.layers();
  if (activations_.size() != layers.size() || outputs_ != network.outputs()) return false;
  for (std::size_t l = 0; l < layers.size(); ++l)
    if (activations_[l].cols() != layers[l].outputs) return false;
  return delta_[0].size() / std::max<std::size_t>(max_rows_, 1) >= network.max_width() ||
         max_rows_ == 0;
}

}  // namespace descent
