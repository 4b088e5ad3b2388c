#pragma once
// AdaGrad: torch.optim.Adagrad.
//
//   clr = lr / (1 + (t - 1) * lr_decay);  d = g + weight_decay * w
//   s = s + d^2;  w = w - clr * d / (sqrt(s) + eps)

#include "descent/optimizer.hpp"

namespace descent {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
  bool maximize = false;
};

class Adagrad final : public Optimizer {
 public:
  explicit Adagrad(const AdagradOptions& options = {});
  void step(std::span<float> params, std::span<const float> grads) override;
  std::string_view name() const override { return "adagrad"; }
  void prepare(std::size_t parameter_count) override;
  void reset() override;
  const AdagradOptions& options() const noexcept { return options_; }

 protected:
  void visit_state(StateVisitor& visitor) override;

 private:
  AdagradOptions options_;
  AlignedBuffer<float> sum_;
};

}  // namespace descent
