#include "optim/common.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/network.hpp"

namespace descent::optim {

void require(bool ok, std::string_view optimizer, std::string_view key, double value,
             std::string_view why) {
  // Every hyperparameter is a finite number (the spec parser says so too; the option structs
  // reach here directly): an inf momentum or eps passes ">= 0" and then makes NaN.
  if (!ok || !std::isfinite(value)) {
    throw Error(fmt::format("optimizer \"{}\": {}={} is invalid: {}", optimizer, key, value,
                            std::isfinite(value) ? why : "it must be a finite number"));
  }
}

double checked_lr(std::string_view optimizer, double lr) {
  require(lr > 0.0, optimizer, "lr", lr, "must be > 0");
  // The updates are float arithmetic: a rate beyond float's range overflows every step, and
  // one that rounds to float zero changes nothing.
  require(lr <= std::numeric_limits<float>::max(), optimizer, "lr", lr,
          "too large for the 32-bit floats the parameters are (at most 3.4e38)");
  require(static_cast<float>(lr) > 0.0f, optimizer, "lr", lr,
          "so small that it is 0 as a 32-bit float (the update would change nothing)");
  return lr;
}

void require_adam_like(std::string_view optimizer, double lr, double beta1, double beta2,
                       double eps, double weight_decay) {
  require(lr > 0.0, optimizer, "lr", lr, "must be > 0");
  require(beta1 >= 0.0 && beta1 < 1.0, optimizer, "beta1", beta1, "must be in [0, 1)");
  require(beta2 >= 0.0 && beta2 < 1.0, optimizer, "beta2", beta2, "must be in [0, 1)");
  require(eps >= 0.0, optimizer, "eps", eps, "must be >= 0");
  require(weight_decay >= 0.0, optimizer, "weight_decay", weight_decay, "must be >= 0");
}

void check_sizes(std::string_view optimizer, std::span<const float> params,
                 std::span<const float> grads) {
  if (params.size() != grads.size()) {
    throw Error(
        fmt::format("{}: {} parameters but {} gradients", optimizer, params.size(), grads.size()));
  }
}

void check_state_size(std::string_view optimizer, std::uint64_t steps, std::size_t state_size,
                      std::size_t n) {
  if (n > kMaxParameters) {
    throw Error(fmt::format("optimizer \"{}\": {} parameters: no network has more than {}",
                            optimizer, n, kMaxParameters));
  }
  if (steps > 0 && state_size != 0 && state_size != n) {
    throw Error(fmt::format(
        "optimizer \"{}\": its state is for {} parameters (after {} steps) but the model has {}: "
        "call reset() before using it on another model",
        optimizer, state_size, steps, n));
  }
}

void ensure(AlignedBuffer<float>& buffer, std::size_t n, float fill) {
  if (buffer.size() == n) return;
  buffer.resize(n);
  if (fill != 0.0f) std::fill(buffer.data(), buffer.data() + n, fill);
}

}  // namespace descent::optim
