#include "descent/optim/adamax.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/kernel_table.hpp"
#include "optim/builtin.hpp"
#include "optim/common.hpp"

namespace descent {

Adamax::Adamax(const AdamaxOptions& o) : Optimizer(optim::checked_lr("adamax", o.lr)), options_(o) {
  optim::require_adam_like("adamax", o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
}

void Adamax::prepare(std::size_t n) {
  optim::check_state_size(name(), steps(), exp_avg_.size(), n);
  optim::ensure(exp_avg_, n);
  optim::ensure(exp_inf_, n);
}

void Adamax::reset() {
  Optimizer::reset();
  for (auto* b : {&exp_avg_, &exp_inf_}) std::fill(b->data(), b->data() + b->size(), 0.0f);
}

void Adamax::step(std::span<float> params, std::span<const float> grads) {
  optim::check_sizes(name(), params, grads);
  prepare(params.size());
  const double t = static_cast<double>(steps() + 1);
  const kernels::AdamaxParams s{.beta1 = options_.beta1,
                                .beta2 = options_.beta2,
                                .eps = options_.eps,
                                .weight_decay = options_.weight_decay,
                                .clr = lr() / (1.0 - std::pow(options_.beta1, t)),
                                .maximize = options_.maximize};
  const auto& k = kernels::active();
  optim::for_each_piece(params.size(), [&](std::size_t first, std::size_t count) {
    k.adamax_step(count, params.data() + first, grads.data() + first, exp_avg_.data() + first,
                  exp_inf_.data() + first, s);
  });
  count_step();
}

void Adamax::visit_state(StateVisitor& v) {
  v.buffer("exp_avg", exp_avg_);
  v.buffer("exp_inf", exp_inf_);
}

std::unique_ptr<Optimizer> make_adamax(SpecReader& r) {
  AdamaxOptions o;
  o.lr = r.number("lr", o.lr);
  o.beta1 = r.number("beta1", o.beta1);
  o.beta2 = r.number("beta2", o.beta2);
  o.eps = r.number("eps", o.eps);
  o.weight_decay = r.number("weight_decay", o.weight_decay);
  o.maximize = r.boolean("maximize", o.maximize);
  return std::make_unique<Adamax>(o);
}

}  // namespace descent
