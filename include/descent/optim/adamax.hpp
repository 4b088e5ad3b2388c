#pragma once
// Adamax: torch.optim.Adamax (Adam with the infinity norm).
//
//   m = beta1 * m + (1 - beta1) * d;  u = max(beta2 * u, |d| + eps)
//   w = w - lr / (1 - beta1^t) * m / u

#include "descent/optimizer.hpp"

namespace descent {

struct AdamaxOptions {
  double lr = 2e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool maximize = false;
};

class Adamax final : public Optimizer {
 public:
  explicit Adamax(const AdamaxOptions& options = {});
  void step(std::span<float> params, std::span<const float> grads) override;
  std::string_view name() const override { return "adamax"; }
  void prepare(std::size_t parameter_count) override;
  void reset() override;
  const AdamaxOptions& options() const noexcept { return options_; }

 protected:
  void visit_state(StateVisitor& visitor) override;

 private:
  AdamaxOptions options_;
  AlignedBuffer<float> exp_avg_;
  AlignedBuffer<float> exp_inf_;
};

}  // namespace descent
