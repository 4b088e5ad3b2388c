#include "descent/optim/adadelta.hpp"

#include <algorithm>

#include "kernels/kernel_table.hpp"
#include "optim/builtin.hpp"
#include "optim/common.hpp"

namespace descent {

Adadelta::Adadelta(const AdadeltaOptions& o)
    : Optimizer(optim::checked_lr("adadelta", o.lr)), options_(o) {
  optim::require(o.lr > 0.0, "adadelta", "lr", o.lr, "must be > 0");
  optim::require(o.rho >= 0.0 && o.rho <= 1.0, "adadelta", "rho", o.rho, "must be in [0, 1]");
  optim::require(o.eps >= 0.0, "adadelta", "eps", o.eps, "must be >= 0");
  optim::require(o.weight_decay >= 0.0, "adadelta", "weight_decay", o.weight_decay, "must be >= 0");
}

void Adadelta::prepare(std::size_t n) {
  optim::check_state_size(name(), steps(), square_avg_.size(), n);
  optim::ensure(square_avg_, n);
  optim::ensure(acc_delta_, n);
}

void Adadelta::reset() {
  Optimizer::reset();
  for (auto* b : {&square_avg_, &acc_delta_}) std::fill(b->data(), b->data() + b->size(), 0.0f);
}

void Adadelta::step(std::span<float> params, std::span<const float> grads) {
  optim::check_sizes(name(), params, grads);
  prepare(params.size());
  const kernels::AdadeltaParams s{.lr = lr(),
                                  .rho = options_.rho,
                                  .eps = options_.eps,
                                  .weight_decay = options_.weight_decay,
                                  .maximize = options_.maximize};
  const auto& k = kernels::active();
  optim::for_each_piece(params.size(), [&](std::size_t first, std::size_t count) {
    k.adadelta_step(count, params.data() + first, grads.data() + first, square_avg_.data() + first,
                    acc_delta_.data() + first, s);
  });
  count_step();
}

void Adadelta::visit_state(StateVisitor& v) {
  v.buffer("square_avg", square_avg_);
  v.buffer("acc_delta", acc_delta_);
}

std::unique_ptr<Optimizer> make_adadelta(SpecReader& r) {
  AdadeltaOptions o;
  o.lr = r.number("lr", o.lr);
  o.rho = r.number("rho", o.rho);
  o.eps = r.number("eps", o.eps);
  o.weight_decay = r.number("weight_decay", o.weight_decay);
  o.maximize = r.boolean("maximize", o.maximize);
  return std::make_unique<Adadelta>(o);
}

}  // namespace descent
