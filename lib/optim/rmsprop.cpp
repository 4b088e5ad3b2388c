#include "descent/optim/rmsprop.hpp"

#include <algorithm>

#include "kernels/kernel_table.hpp"
#include "optim/builtin.hpp"
#include "optim/common.hpp"

namespace descent {

Rmsprop::Rmsprop(const RmspropOptions& o)
    : Optimizer(optim::checked_lr("rmsprop", o.lr)), options_(o) {
  optim::require(o.lr > 0.0, "rmsprop", "lr", o.lr, "must be > 0");
  optim::require(o.alpha >= 0.0 && o.alpha <= 1.0, "rmsprop", "alpha", o.alpha,
                 "must be in [0, 1]");
  optim::require(o.eps >= 0.0, "rmsprop", "eps", o.eps, "must be >= 0");
  optim::require(o.weight_decay >= 0.0, "rmsprop", "weight_decay", o.weight_decay, "must be >= 0");
  optim::require(o.momentum >= 0.0, "rmsprop", "momentum", o.momentum, "must be >= 0");
}

void Rmsprop::prepare(std::size_t n) {
  optim::check_state_size(name(), steps(), square_avg_.size(), n);
  optim::ensure(square_avg_, n);
  if (options_.centered) optim::ensure(grad_avg_, n);
  if (options_.momentum > 0.0) optim::ensure(momentum_buffer_, n);
}

void Rmsprop::reset() {
  Optimizer::reset();
  for (auto* b : {&square_avg_, &grad_avg_, &momentum_buffer_})
    std::fill(b->data(), b->data() + b->size(), 0.0f);
}

void Rmsprop::step(std::span<float> params, std::span<const float> grads) {
  optim::check_sizes(name(), params, grads);
  prepare(params.size());
  const kernels::RmspropParams s{.lr = lr(),
                                 .alpha = options_.alpha,
                                 .eps = options_.eps,
                                 .weight_decay = options_.weight_decay,
                                 .momentum = options_.momentum,
                                 .centered = options_.centered,
                                 .maximize = options_.maximize};
  const auto& k = kernels::active();
  float* ga = grad_avg_.empty() ? nullptr : grad_avg_.data();
  float* buf = momentum_buffer_.empty() ? nullptr : momentum_buffer_.data();
  optim::for_each_piece(params.size(), [&](std::size_t first, std::size_t count) {
    k.rmsprop_step(count, params.data() + first, grads.data() + first, square_avg_.data() + first,
                   ga == nullptr ? nullptr : ga + first, buf == nullptr ? nullptr : buf + first, s);
  });
  count_step();
}

void Rmsprop::visit_state(StateVisitor& v) {
  v.buffer("square_avg", square_avg_);
  if (options_.centered) v.buffer("grad_avg", grad_avg_);
  if (options_.momentum > 0.0) v.buffer("momentum_buffer", momentum_buffer_);
}

std::unique_ptr<Optimizer> make_rmsprop(SpecReader& r) {
  RmspropOptions o;
  o.lr = r.number("lr", o.lr);
  o.alpha = r.number("alpha", o.alpha);
  o.eps = r.number("eps", o.eps);
  o.weight_decay = r.number("weight_decay", o.weight_decay);
  o.momentum = r.number("momentum", o.momentum);
  o.centered = r.boolean("centered", o.centered);
  o.maximize = r.boolean("maximize", o.maximize);
  return std::make_unique<Rmsprop>(o);
}

}  // namespace descent
