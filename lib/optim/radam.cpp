#include "descent/optim/radam.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/kernel_table.hpp"
#include "optim/builtin.hpp"
#include "optim/common.hpp"

namespace descent {

Radam::Radam(const RadamOptions& o) : Optimizer(optim::checked_lr("radam", o.lr)), options_(o) {
  optim::require_adam_like("radam", o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
}

void Radam::prepare(std::size_t n) {
  optim::check_state_size(name(), steps(), exp_avg_.size(), n);
  optim::ensure(exp_avg_, n);
  optim::ensure(exp_avg_sq_, n);
}

void Radam::reset() {
  Optimizer::reset();
  for (auto* b : {&exp_avg_, &exp_avg_sq_}) std::fill(b->data(), b->data() + b->size(), 0.0f);
}

void Radam::step(std::span<float> params, std::span<const float> grads) {
  optim::check_sizes(name(), params, grads);
  prepare(params.size());
  const RadamOptions& o = options_;
  const double t = static_cast<double>(steps() + 1);
  const double bias_correction2 = 1.0 - std::pow(o.beta2, t);
  const double rho_inf = 2.0 / (1.0 - o.beta2) - 1.0;
  const double rho_t = rho_inf - 2.0 * t * std::pow(o.beta2, t) / bias_correction2;
  const bool rectified = rho_t > 5.0;
  const bool decoupled = o.decoupled_weight_decay && o.weight_decay != 0.0;
  const kernels::RadamParams s{
      .lr = lr(),
      .beta1 = o.beta1,
      .beta2 = o.beta2,
      .eps = o.eps,
      .weight_decay = decoupled ? 0.0 : o.weight_decay,
      .shrink = decoupled ? 1.0 - lr() * o.weight_decay : 1.0,
      .bias_correction1 = 1.0 - std::pow(o.beta1, t),
      .bias_correction2_sqrt = std::sqrt(bias_correction2),
      .rect = rectified ? std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                    ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                        : 1.0,
      .rectified = rectified,
      .maximize = o.maximize,
  };
  const auto& k = kernels::active();
  optim::for_each_piece(params.size(), [&](std::size_t first, std::size_t count) {
    k.radam_step(count, params.data() + first, grads.data() + first, exp_avg_.data() + first,
                 exp_avg_sq_.data() + first, s);
  });
  count_step();
}

void Radam::visit_state(StateVisitor& v) {
  v.buffer("exp_avg", exp_avg_);
  v.buffer("exp_avg_sq", exp_avg_sq_);
}

std::unique_ptr<Optimizer> make_radam(SpecReader& r) {
  RadamOptions o;
  o.lr = r.number("lr", o.lr);
  o.beta1 = r.number("beta1", o.beta1);
  o.beta2 = r.number("beta2", o.beta2);
  o.eps = r.number("eps", o.eps);
  o.weight_decay = r.number("weight_decay", o.weight_decay);
  o.decoupled_weight_decay = r.boolean("decoupled_weight_decay", o.decoupled_weight_decay);
  o.maximize = r.boolean("maximize", o.maximize);
  return std::make_unique<Radam>(o);
}

}  // namespace descent
