#pragma once
// The element-wise activations that sit between dense layers.

#include <string_view>

namespace descent {

enum class Activation { identity, relu, sigmoid, tanh };

// "identity", "relu", "sigmoid", "tanh"
std::string_view to_string(Activation activation) noexcept;
// Throws descent::Error naming the value and the accepted names.
Activation parse_activation(std::string_view name);

}  // namespace descent
