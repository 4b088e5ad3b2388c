#pragma once
// Internal: the built-in optimizers' factories, referenced directly by the registry so that
// a static link can never drop them.

#include <string>
#include <utility>
#include <vector>

#include "descent/optimizer.hpp"

namespace descent {

std::unique_ptr<Optimizer> make_sgd(SpecReader& options);
std::unique_ptr<Optimizer> make_momentum(SpecReader& options);
std::unique_ptr<Optimizer> make_nesterov(SpecReader& options);
std::unique_ptr<Optimizer> make_adagrad(SpecReader& options);
std::unique_ptr<Optimizer> make_rmsprop(SpecReader& options);
std::unique_ptr<Optimizer> make_adam(SpecReader& options);
std::unique_ptr<Optimizer> make_adamw(SpecReader& options);
std::unique_ptr<Optimizer> make_nadam(SpecReader& options);
std::unique_ptr<Optimizer> make_radam(SpecReader& options);
std::unique_ptr<Optimizer> make_adamax(SpecReader& options);
std::unique_ptr<Optimizer> make_adadelta(SpecReader& options);

inline std::vector<std::pair<std::string, OptimizerFactory>> builtin_optimizers() {
  return {{"sgd", &make_sgd},         {"momentum", &make_momentum}, {"nesterov", &make_nesterov},
          {"adagrad", &make_adagrad}, {"rmsprop", &make_rmsprop},   {"adam", &make_adam},
          {"adamw", &make_adamw},     {"nadam", &make_nadam},       {"radam", &make_radam},
          {"adamax", &make_adamax},   {"adadelta", &make_adadelta}};
}

}  // namespace descent
