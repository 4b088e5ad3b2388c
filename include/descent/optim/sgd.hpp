#pragma once
// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay:
// torch.optim.SGD. The momentum buffer starts as the first gradient, as in PyTorch.
//
//   d = g + weight_decay * w
//   b = momentum * b + (1 - dampening) * d        (b = d on the first step)
//   d = nesterov ? d + momentum * b : b
//   w = w - lr * d

#include <string_view>

#include "descent/optimizer.hpp"

namespace descent {

struct SgdOptions {
  double lr = 1e-3;  // torch.optim.SGD's default since PyTorch 2.0
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool maximize = false;
};

class Sgd final : public Optimizer {
 public:
  // Throws descent::Error for an invalid option (lr <= 0, nesterov without momentum, ...).
  // `spelled`: the name its errors give it (a spec's "momentum" or "nesterov" alias).
  explicit Sgd(const SgdOptions& options = {}, std::string_view spelled = "sgd");
  void step(std::span<float> params, std::span<const float> grads) override;
  std::string_view name() const override { return "sgd"; }
  void prepare(std::size_t parameter_count) override;
  const SgdOptions& options() const noexcept { return options_; }

 protected:
  void visit_state(StateVisitor& visitor) override;

 private:
  SgdOptions options_;
  AlignedBuffer<float> momentum_buffer_;
};

}  // namespace descent
