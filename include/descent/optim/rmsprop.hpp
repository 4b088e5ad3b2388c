#pragma once
// RMSprop: torch.optim.RMSprop.
//
//   d = g + weight_decay * w;  v = alpha * v + (1 - alpha) * d^2
//   centered: m = alpha * m + (1 - alpha) * d;  a = sqrt(v - m^2) + eps, else a = sqrt(v) + eps
//   momentum > 0: b = momentum * b + d / a;  w = w - lr * b,  else w = w - lr * d / a

#include "descent/optimizer.hpp"

namespace descent {

struct RmspropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
  bool maximize = false;
};

class Rmsprop final : public Optimizer {
 public:
  explicit Rmsprop(const RmspropOptions& options = {});
  void step(std::span<float> params, std::span<const float> grads) override;
  std::string_view name() const override { return "rmsprop"; }
  void prepare(std::size_t parameter_count) override;
  void reset() override;
  const RmspropOptions& options() const noexcept { return options_; }

 protected:
  void visit_state(StateVisitor& visitor) override;

 private:
  RmspropOptions options_;
  AlignedBuffer<float> square_avg_;
  AlignedBuffer<float> grad_avg_;
  AlignedBuffer<float> momentum_buffer_;
};

}  // namespace descent
