#include "descent/activation.hpp"

#include <fmt/format.h>

#include "descent/error.hpp"

namespace descent {

std::string_view to_string(Activation activation) noexcept {
  switch (activation) {
    case Activation::identity:
      return "identity";
    case Activation::relu:
      return "relu";
    case Activation::sigmoid:
      return "sigmoid";
    case Activation::tanh:
      return "tanh";
  }
  return "unknown";
}

Activation parse_activation(std::string_view name) {
  for (Activation a :
       {Activation::identity, Activation::relu, Activation::sigmoid, Activation::tanh}) {
    if (name == to_string(a)) return a;
  }
  throw Error(fmt::format("unknown activation \"{}\": use relu, tanh, sigmoid or identity", name));
}

}  // namespace descent
