#pragma once
// Plain stochastic gradient descent: w <- w - lr * g  (torch.optim.SGD without momentum).

#include "descent/optimizer.hpp"

namespace descent {

struct SgdOptions {
  float lr = 1e-3f;  // torch.optim.SGD's default since PyTorch 2.0
};

class Sgd final : public Optimizer {
 public:
  explicit Sgd(const SgdOptions& options = {});
  void step(std::span<float> params, std::span<const float> grads) override;
  std::string_view name() const override { return "sgd"; }
};

}  // namespace descent
