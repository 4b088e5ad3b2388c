#pragma once
// RAdam: torch.optim.RAdam (Adam with the variance of the adaptive rate rectified).
//
//   rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
//   rho_t > 5: w = w - lr m / (1 - beta1^t) * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r_t
//   else:      w = w - lr m / (1 - beta1^t)

#include "descent/optimizer.hpp"

namespace descent {

struct RadamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // w *= 1 - lr * weight_decay instead of L2
  bool maximize = false;
};

class Radam final : public Optimizer {
 public:
  explicit Radam(const RadamOptions& options = {});
  void step(std::span<float> params, std::span<const float> grads) override;
  std::string_view name() const override { return "radam"; }
  void prepare(std::size_t parameter_count) override;
  void reset() override;
  const RadamOptions& options() const noexcept { return options_; }

 protected:
  void visit_state(StateVisitor& visitor) override;

 private:
  RadamOptions options_;
  AlignedBuffer<float> exp_avg_;
  AlignedBuffer<float> exp_avg_sq_;
};

}  // namespace descent
