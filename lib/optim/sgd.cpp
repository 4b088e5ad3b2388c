#include "descent/optim/sgd.hpp"

#include <fmt/format.h>

#include "descent/error.hpp"
#include "kernels/kernel_table.hpp"
#include "optim/builtin.hpp"

namespace descent {

Sgd::Sgd(const SgdOptions& options) : Optimizer(options.lr) {
  if (!(options.lr > 0.0f))
    throw Error(fmt::format("sgd: lr={} is invalid: must be > 0", options.lr));
}

void Sgd::step(std::span<float> params, std::span<const float> grads) {
  if (params.size() != grads.size()) {
    throw Error(fmt::format("sgd: {} parameters but {} gradients", params.size(), grads.size()));
  }
  kernels::active().axpy(params.size(), -lr(), grads.data(), params.data());
}

std::unique_ptr<Optimizer> make_sgd(SpecReader& options) {
  SgdOptions o;
  o.lr = static_cast<float>(options.number("lr", o.lr));
  if (!(o.lr > 0.0f)) options.invalid("lr", "must be > 0");
  return std::make_unique<Sgd>(o);
}

}  // namespace descent
