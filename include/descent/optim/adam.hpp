#pragma once
// Adam and AdamW: torch.optim.Adam (L2 weight decay added to the gradient) and
// torch.optim.AdamW (decoupled weight decay, w = w * (1 - lr * weight_decay)).
//
//   m = beta1 * m + (1 - beta1) * d;  v = beta2 * v + (1 - beta2) * d^2
//   amsgrad: v_max = max(v_max, v) replaces v below
//   w = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

#include "descent/optimizer.hpp"

namespace descent {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // Adam: L2, added to the gradient
  bool amsgrad = false;
  bool maximize = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // AdamW: decoupled, w *= 1 - lr * weight_decay
  bool amsgrad = false;
  bool maximize = false;
};

class Adam : public Optimizer {
 public:
  explicit Adam(const AdamOptions& options = {});
  void step(std::span<float> params, std::span<const float> grads) override;
  std::string_view name() const override { return decoupled_ ? "adamw" : "adam"; }
  void prepare(std::size_t parameter_count) override;
  void reset() override;
  const AdamOptions& options() const noexcept { return options_; }

 protected:
  Adam(const AdamOptions& options, bool decoupled);
  void visit_state(StateVisitor& visitor) override;

 private:
  AdamOptions options_;
  bool decoupled_;
  AlignedBuffer<float> exp_avg_;
  AlignedBuffer<float> exp_avg_sq_;
  AlignedBuffer<float> max_exp_avg_sq_;
};

class AdamW final : public Adam {
 public:
  explicit AdamW(const AdamWOptions& options = {});
};

}  // namespace descent
