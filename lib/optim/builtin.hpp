#pragma once
// Internal: the built-in optimizers' factories, referenced directly by the registry.

#include <string>
#include <utility>
#include <vector>

#include "descent/optimizer.hpp"

namespace descent {

std::unique_ptr<Optimizer> make_sgd(SpecReader& options);

inline std::vector<std::pair<std::string, OptimizerFactory>> builtin_optimizers() {
  return {{"sgd", &make_sgd}};
}

}  // namespace descent
