#pragma once
// Adadelta: torch.optim.Adadelta.
//
//   v = rho * v + (1 - rho) * d^2;  delta = sqrt(u + eps) / sqrt(v + eps) * d
//   u = rho * u + (1 - rho) * delta^2;  w = w - lr * delta

#include "descent/optimizer.hpp"

namespace descent {

struct AdadeltaOptions {
  double lr = 1.0;
  double rho = 0.9;
  double eps = 1e-6;
  double weight_decay = 0.0;
  bool maximize = false;
};

class Adadelta final : public Optimizer {
 public:
  explicit Adadelta(const AdadeltaOptions& options = {});
  void step(std::span<float> params, std::span<const float> grads) override;
  std::string_view name() const override { return "adadelta"; }
  void prepare(std::size_t parameter_count) override;
  void reset() override;
  const AdadeltaOptions& options() const noexcept { return options_; }

 protected:
  void visit_state(StateVisitor& visitor) override;

 private:
  AdadeltaOptions options_;
  AlignedBuffer<float> square_avg_;
  AlignedBuffer<float> acc_delta_;
};

}  // namespace descent
