#include "descent/optim/nadam.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/kernel_table.hpp"
#include "optim/builtin.hpp"
#include "optim/common.hpp"

namespace descent {
namespace {

// a * b as a float32 tensor times a Python float computes it: both as floats, the product
// rounded to float.
double float_product(double a, double b) {
  return static_cast<float>(static_cast<float>(a) * static_cast<float>(b));
}

}  // namespace

Nadam::Nadam(const NadamOptions& o) : Optimizer(optim::checked_lr("nadam", o.lr)), options_(o) {
  optim::require_adam_like("nadam", o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
  optim::require(o.momentum_decay >= 0.0, "nadam", "momentum_decay", o.momentum_decay,
                 "must be >= 0");
}

void Nadam::prepare(std::size_t n) {
  optim::check_state_size(name(), steps(), exp_avg_.size(), n);
  optim::ensure(exp_avg_, n);
  optim::ensure(exp_avg_sq_, n);
}

void Nadam::reset() {
  Optimizer::reset();
  mu_product_ = 1.0;
  for (auto* b : {&exp_avg_, &exp_avg_sq_}) std::fill(b->data(), b->data() + b->size(), 0.0f);
}

void Nadam::step(std::span<float> params, std::span<const float> grads) {
  optim::check_sizes(name(), params, grads);
  prepare(params.size());
  const NadamOptions& o = options_;
  const double t = static_cast<double>(steps() + 1);
  const double mu = o.beta1 * (1.0 - 0.5 * std::pow(0.96, t * o.momentum_decay));
  const double mu_next = o.beta1 * (1.0 - 0.5 * std::pow(0.96, (t + 1.0) * o.momentum_decay));
  // torch keeps the product as a float32 tensor (mu_product *= mu): each product is rounded
  // to float (with beta1 near 1 and a large momentum_decay, 1 - mu_product shows it). The
  // next step's product is a Python float, mu_product.item() * mu_next, in double.
  mu_product_ = float_product(mu_product_, mu);
  const double mu_product_next = mu_product_ * mu_next;
  const bool decoupled = o.decoupled_weight_decay && o.weight_decay != 0.0;
  const kernels::NadamParams s{
      .beta1 = o.beta1,
      .beta2 = o.beta2,
      .eps = o.eps,
      .weight_decay = decoupled ? 0.0 : o.weight_decay,
      .shrink = decoupled ? 1.0 - lr() * o.weight_decay : 1.0,
      .bias_correction2 = 1.0 - std::pow(o.beta2, t),
      .grad_coef = -lr() * (1.0 - mu) / (1.0 - mu_product_),
      .avg_coef = -lr() * mu_next / (1.0 - mu_product_next),
      .maximize = o.maximize,
  };
  const auto& k = kernels::active();
  optim::for_each_piece(params.size(), [&](std::size_t first, std::size_t count) {
    k.nadam_step(count, params.data() + first, grads.data() + first, exp_avg_.data() + first,
                 exp_avg_sq_.data() + first, s);
  });
  count_step();
}

void Nadam::visit_state(StateVisitor& v) {
  v.bounded("mu_product", mu_product_, 0.0, 1.0);
  v.buffer("exp_avg", exp_avg_);
  v.buffer("exp_avg_sq", exp_avg_sq_);
}

std::unique_ptr<Optimizer> make_nadam(SpecReader& r) {
  NadamOptions o;
  o.lr = r.number("lr", o.lr);
  o.beta1 = r.number("beta1", o.beta1);
  o.beta2 = r.number("beta2", o.beta2);
  o.eps = r.number("eps", o.eps);
  o.weight_decay = r.number("weight_decay", o.weight_decay);
  o.momentum_decay = r.number("momentum_decay", o.momentum_decay);
  o.decoupled_weight_decay = r.boolean("decoupled_weight_decay", o.decoupled_weight_decay);
  o.maximize = r.boolean("maximize", o.maximize);
  return std::make_unique<Nadam>(o);
}

}  // namespace descent
