#pragma once
// NAdam: torch.optim.NAdam (Adam with Nesterov momentum and momentum decay).
//
//   mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay));  P_t = prod mu_1..mu_t
//   m, v as Adam;  a = sqrt(v / (1 - beta2^t)) + eps
//   w = w - lr (1 - mu_t) / (1 - P_t) * d / a - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / a

#include "descent/optimizer.hpp"

namespace descent {

struct NadamOptions {
  double lr = 2e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum_decay = 4e-3;
  bool decoupled_weight_decay = false;  // w *= 1 - lr * weight_decay instead of L2
  bool maximize = false;
};

class Nadam final : public Optimizer {
 public:
  explicit Nadam(const NadamOptions& options = {});
  void step(std::span<float> params, std::span<const float> grads) override;
  std::string_view name() const override { return "nadam"; }
  void prepare(std::size_t parameter_count) override;
  void reset() override;
  const NadamOptions& options() const noexcept { return options_; }

 protected:
  void visit_state(StateVisitor& visitor) override;

 private:
  NadamOptions options_;
  double mu_product_ = 1.0;
  AlignedBuffer<float> exp_avg_;
  AlignedBuffer<float> exp_avg_sq_;
};

}  // namespace descent
